"""The statistics service against a seeded data set: exact counts, stored months, suppression,
and the coarse copies that the real services write (site at the start, gender designation and
language at the decision, cleared by erasure)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import func, select, update

from idsys.applications import services as applications
from idsys.applications.models import Application, ApplicationKind
from idsys.auth.models import Role
from idsys.auth.services import Actor
from idsys.cards import services as cards
from idsys.cards.labels import card_labels
from idsys.cards.models import RevocationReason
from idsys.db import db
from idsys.policy import Policy, local_date
from idsys.reports import services
from idsys.reports.models import ReportCount, ReportPeriod
from idsys.reports.services import Dashboard, Figure, Period, add_months
from tests.conftest import TODAY, mexico_city_documents
from tests.reports.conftest import Seed, this_month
from tests.reports.test_suppression import derivable


def rows(figure: Figure) -> dict[str, dict[str, int | str]]:
    """{row code: {column code: shown value}}, totals under "total"."""
    table = figure.table
    row_codes = [*figure.row_codes, *(["total"] if table.has_col_totals else [])]
    col_codes = [*figure.col_codes, *(["total"] if table.has_row_totals else [])]
    found: dict[str, dict[str, int | str]] = {}
    for i, row in enumerate(row_codes):
        for j, col in enumerate(col_codes):
            if (i, j) in table.values:
                shown = table.value((i, j))
                found.setdefault(row, {})[col] = (
                    shown if shown is not None else table.marker((i, j)) or ""
                )
    return found


def board(app: Flask, period: Period, threshold: int, now: datetime | None = None) -> Dashboard:
    with app.app_context():
        policy: Policy = app.extensions["idsys.policy"]
        result = services.dashboard(
            db.session,
            replace(policy, small_cell_threshold=threshold),
            period,
            now=now or datetime.now(UTC),
        )
        db.session.commit()
        return result


def test_counts_match_the_seeded_data(app: Flask, seeded: Seed) -> None:
    p, q = seeded.P.strftime("%Y-%m"), seeded.Q.strftime("%Y-%m")
    exact = board(app, Period(seeded.P, seeded.Q), threshold=0)
    assert rows(exact.figure("by_month")) == {
        p: {"submitted": 40, "approved": 31, "rejected": 4},
        q: {"submitted": 15, "approved": 15, "rejected": 0},
        "total": {"submitted": 55, "approved": 46, "rejected": 4},
    }
    assert rows(exact.figure("by_site")) == {
        "east": {"submitted": 3, "approved": 0, "rejected": 0, "card": 0, "revoked": 0},
        "main": {"submitted": 12, "approved": 11, "rejected": 1, "card": 13, "revoked": 7},
        "north": {"submitted": 40, "approved": 35, "rejected": 3, "card": 16, "revoked": 9},
        "total": {"submitted": 55, "approved": 46, "rejected": 4, "card": 29, "revoked": 16},
    }
    assert rows(exact.figure("cards_by_month"))[p] == {
        "new": 23,
        "renewal": 4,  # the reprint is the same card again: not counted
        "replacement": 2,
        "total": 29,
    }
    assert rows(exact.figure("revocations_by_month"))["total"] == {
        "lost": 3,
        "stolen": 1,
        "damaged": 0,
        "fraud": 0,
        "superseded": 12,
        "total": 16,
    }
    reasons = {k: v["rejected"] for k, v in rows(exact.figure("rejection_reasons")).items()}
    assert reasons == {
        "identity_insufficient": 1,  # the first of its two reasons in the catalogue's order
        "residency_insufficient": 2,
        "documents_doubtful": 0,
        "duplicate_enrolment": 0,
        "under_minimum_age": 0,
        "other": 1,
        "total": 4,
    }
    bands = {k: v["approved"] for k, v in rows(exact.figure("age_bands")).items()}
    assert bands == {
        "0-13": 0,
        "14-17": 0,
        "18-24": 11,
        "25-34": 27,
        "35-44": 5,
        "45-54": 0,
        "55-64": 0,
        "65+": 3,
        "not_recorded": 0,
        "total": 46,
    }
    genders = {k: v["approved"] for k, v in rows(exact.figure("gender")).items()}
    assert genders == {"F": 24, "M": 19, "X": 2, "none": 1, "not_recorded": 0, "total": 46}
    languages = {
        k: v["approved"] for k, v in rows(exact.figure("language")).items() if v["approved"]
    }
    assert languages == {"es": 40, "en": 3, "wo": 2, "other": 1, "total": 46}
    assert rows(exact.figure("verifications_by_month"))[p] == {
        "library": 55,
        "bank": 7,
        "clinic": 0,
        "other": 12,
        "total": 74,
    }


def test_small_counts_are_suppressed_with_their_complements(app: Flask, seeded: Seed) -> None:
    shown = board(app, Period(seeded.P, seeded.Q), threshold=10)
    by_site = rows(shown.figure("by_site"))
    # 3 applications at "east" would follow from 55 - 12 - 40: the 12 is withheld as well.
    assert by_site["east"]["submitted"] == "<10"
    assert by_site["main"]["submitted"] == "x"
    assert by_site["north"]["submitted"] == 40
    assert by_site["total"]["submitted"] == 55
    assert [by_site[s]["revoked"] for s in ("east", "main", "north", "total")] == [
        "<10",
        "<10",
        "<10",
        16,
    ]
    assert by_site["total"]["rejected"] == "<10"  # 4 rejections in all: small too
    for figure in shown.figures:
        assert derivable(figure.table) == [], figure.key
    # A figure shared by several tables (all approvals) is the same wherever it appears.
    totals = {
        f.key: rows(f)["total"]
        for f in shown.figures
        if f.key in {"by_month", "by_site", "age_bands", "gender", "language"}
    }
    assert {t["approved"] for t in totals.values()} == {46}


def test_closed_months_are_stored_and_read_back(app: Flask, seeded: Seed) -> None:
    period = Period(seeded.P, this_month(app.extensions["idsys.policy"]))
    first = board(app, period, threshold=0)
    with app.app_context():
        stored = set(db.session.execute(select(ReportPeriod.start, ReportPeriod.span)))
        assert (seeded.P, "month") in stored and (seeded.Q, "month") in stored
        assert (period.last, "month") not in stored  # the month under way is not stored whole
        # Prove the second run reads the stored counts: change the base data under them.
        db.session.execute(
            update(Application).where(Application.site == "east").values(site="elsewhere")
        )
        db.session.commit()
    again = board(app, period, threshold=0)
    assert [f.table.values for f in again.figures] == [f.table.values for f in first.figures]
    with app.app_context():  # a recount (after a correction in the database) sees the change
        policy = app.extensions["idsys.policy"]
        services.recount(db.session, policy, datetime.now(UTC))
        db.session.commit()
    recounted = rows(board(app, period, threshold=0).figure("by_site"))
    assert "east" not in recounted and recounted["elsewhere"]["submitted"] == 3


def test_a_new_time_zone_recounts_stored_months(app: Flask, seeded: Seed) -> None:
    period = Period(seeded.P, seeded.Q)
    board(app, period, threshold=0)
    with app.app_context():
        policy: Policy = app.extensions["idsys.policy"]
        elsewhere = replace(policy, timezone="Asia/Tokyo")
        services.load_counts(db.session, elsewhere, period.months(), datetime.now(UTC))
        zones = set(db.session.scalars(select(ReportPeriod.timezone)))
        assert zones == {"Asia/Tokyo"}
        assert db.session.scalar(select(func.count()).select_from(ReportCount))


def test_days_of_the_month_under_way_are_stored_then_give_way_to_the_month(
    app: Flask, seeded: Seed
) -> None:
    """Seen from the 20th of month Q: its first 18 days are closed and stored, the 19th and
    20th counted live. Seen from today, Q is over: made from its stored days and the days
    after them, stored whole, its days forgotten."""
    with app.app_context():
        policy: Policy = app.extensions["idsys.policy"]
        then = datetime.combine(
            seeded.Q.replace(day=20), datetime.min.time().replace(hour=12), tzinfo=policy.tzinfo
        )
        early = services.load_counts(db.session, policy, [seeded.Q], then)
        db.session.commit()
        stored = set(db.session.execute(select(ReportPeriod.start, ReportPeriod.span)))
        days = sorted(start.day for start, span in stored if span == "day")
        assert days == list(range(1, 19))
        # The stored days are read back, not counted again: change the data under them.
        db.session.execute(
            update(Application).where(Application.site == "north").values(site="elsewhere")
        )
        again = services.load_counts(db.session, policy, [seeded.Q], then)
        assert again == early
        late = services.load_counts(db.session, policy, [seeded.Q], datetime.now(UTC))
        db.session.commit()
        assert late == early  # from the stored days, not the (changed) rows under them

        stored = set(db.session.execute(select(ReportPeriod.start, ReportPeriod.span)))
        assert stored == {(seeded.Q, "month")}


def test_a_month_is_stored_only_once_it_is_over(app: Flask, seeded: Seed) -> None:
    with app.app_context():
        policy: Policy = app.extensions["idsys.policy"]
        start_of_next = datetime.combine(
            add_months(seeded.Q, 1), datetime.min.time(), tzinfo=policy.tzinfo
        ).astimezone(UTC)
        month = services.Span.MONTH
        assert not services.is_closed(policy, seeded.Q, month, start_of_next)
        assert services.is_closed(policy, seeded.Q, month, start_of_next + services.GRACE)


def test_the_current_month_through_the_real_services(
    app: Flask, keys: Any, make_user: Any, make_card: Any, make_application: Any
) -> None:
    """An approval, a rejection, a card, a loss with its replacement: counted live, with the
    site of the clerk who took each application and the coarse copies made at the decision."""
    card_id, _batch = make_card(printed=True)
    rejected_ref = make_application(documents=mexico_city_documents(), submit=True)
    with app.app_context():
        policy: Policy = app.extensions["idsys.policy"]
        supervisor = Actor(make_user(Role.SUPERVISOR).id, "supervisor")
        application = applications.get_application(db.session, rejected_ref)
        applications.decide_application(
            db.session,
            keys,
            supervisor,
            application,
            policy,
            TODAY,
            approve=False,
            codes=["duplicate_enrolment"],
        )
        card = cards.get_card(db.session, card_id)
        cards.replace(db.session, keys, supervisor, policy, card, RevocationReason.LOST, TODAY)
        cards.release_batch(
            db.session,
            keys,
            supervisor,
            policy,
            today=TODAY,
            issuer="https://id.example.org",
            labels=card_labels(policy),
        )
        db.session.commit()
        approved = db.session.scalars(
            select(Application).where(Application.status == "printed")
        ).one()
        # The profile's gender F and first language Vietnamese, copied at the decision.
        assert (approved.gender_designation, approved.preferred_language) == ("F", "vi")
        assert approved.age_band == "35-44" and approved.site == "main"
        month = this_month(policy)
    exact = board(app, Period(month, month), threshold=0)
    m = month.strftime("%Y-%m")
    assert rows(exact.figure("by_month"))[m] == {"submitted": 2, "approved": 1, "rejected": 1}
    assert rows(exact.figure("cards_by_month"))[m] == {
        "new": 1,
        "renewal": 0,
        "replacement": 1,  # counted at the site where the person's application was taken
        "total": 2,
    }
    assert rows(exact.figure("by_site"))["main"]["card"] == 2
    assert rows(exact.figure("revocations_by_month"))[m]["lost"] == 1
    assert rows(exact.figure("rejection_reasons"))["duplicate_enrolment"]["rejected"] == 1
    assert rows(exact.figure("language"))["vi"]["approved"] == 1
    with app.app_context():  # today is counted live, never stored
        today = local_date(policy, datetime.now(UTC))
        stored = set(db.session.execute(select(ReportPeriod.start, ReportPeriod.span)))
        assert (today, "day") not in stored and (month, "month") not in stored


def test_the_site_comes_from_the_clerk_who_starts_the_application(
    app: Flask, keys: Any, make_user: Any
) -> None:
    clerk = make_user(Role.CLERK)
    with app.app_context():
        db.session.execute(
            update(type(clerk)).where(type(clerk).id == clerk.id).values(site="north-library")
        )
        application = applications.start_application(
            db.session,
            keys,
            Actor(clerk.id, "clerk"),
            kind=ApplicationKind.NEW,
            intake_token=uuid.uuid4().hex,
            policy_id=app.extensions["idsys.policy"].id,
        )
        assert application.site == "north-library"
        db.session.rollback()


def test_erasure_clears_the_coarse_copies(
    app: Flask, keys: Any, make_user: Any, make_card: Any
) -> None:
    make_card()
    with app.app_context():
        application = db.session.scalars(select(Application)).one()
        assert application.gender_designation == "F"
        applications.erase_applicant(
            db.session, keys, Actor(make_user(Role.ADMIN).id, "admin"), application.applicant_id
        )
        db.session.commit()
        db.session.refresh(application)
        assert (
            application.age_band,
            application.gender_designation,
            application.preferred_language,
        ) == (None, None, None)
        assert application.site == "main"  # where it was taken is about the office, not them


def test_the_dashboard_works_on_an_empty_programme(app: Flask) -> None:
    with app.app_context():
        month = this_month(app.extensions["idsys.policy"])
    empty = board(app, Period(add_months(month, -11), month), threshold=10)
    assert rows(empty.figure("by_month"))["total"] == {
        "submitted": "<10",
        "approved": "<10",
        "rejected": "<10",
    }


def test_the_recount_command(app: Flask, seeded: Seed) -> None:
    result = app.test_cli_runner().invoke(args=["idsys", "reports-recount"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Counted ")
    with app.app_context():
        months = db.session.scalars(select(ReportPeriod.start).where(ReportPeriod.span == "month"))
        assert seeded.P in set(months)
