"""The public status page: reference number plus date of birth, nothing else about anyone.

Every kind of miss (unknown reference, wrong date of birth, erased applicant, an application
still being taken) gets the same answer after the same work; a mistyped check character is
named; look-ups are rate limited per client and per reference, and audited.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from idsys.applications import services as applications
from idsys.applications.reference import ALPHABET, display, new_reference
from idsys.audit.models import AuditEvent
from idsys.audit.services import SYSTEM, verify_chain
from idsys.db import db
from idsys.residents import services
from tests.conftest import mexico_city_documents
from tests.residents.conftest import BIRTHDAY, look_up, without_tokens

MISS = "We could not find an application with these details"


@pytest.fixture
def submitted(make_application: Any) -> str:
    reference: str = make_application(documents=mexico_city_documents(), submit=True)
    return reference


def _set_status(app: Flask, reference: str, status: str) -> int:
    with app.app_context():
        application = applications.get_application(db.session, reference)
        application.status = status
        db.session.commit()
        return application.id


def _mistype(reference: str) -> str:
    """The same reference with its last (check) character changed."""
    wrong = next(c for c in ALPHABET if c != reference[-1])
    return reference[:-1] + wrong


def test_right_reference_and_birthday_show_the_status_and_nothing_else(
    client: FlaskClient, submitted: str
) -> None:
    response = look_up(client, display(submitted))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "We received your application" in page
    assert "Received on" in page
    assert "You do not need to do anything now" in page
    for personal in ("Nguyễn", "Minh", "Khai", "Lerma", "minh@example.org", "1988"):
        assert personal not in page.replace(BIRTHDAY, "")  # only the typed date is echoed


def test_reference_may_be_typed_in_any_case_without_dashes(
    client: FlaskClient, submitted: str
) -> None:
    response = look_up(client, submitted.lower())
    assert "We received your application" in response.get_data(as_text=True)


def test_a_flagged_application_is_shown_as_received(
    app: Flask, client: FlaskClient, submitted: str
) -> None:
    """Residents learn that it is being checked, not that it was flagged."""
    _set_status(app, submitted, "needs_review")
    page = look_up(client, submitted).get_data(as_text=True)
    assert "We received your application" in page
    assert "review" not in page.lower()


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ("approved", "Your card is being made"),
        ("printed", "Come to pick it up in person"),
        ("issued", "You have received your card"),
        ("rejected", "Your application was not approved"),
        ("withdrawn", "This application was withdrawn"),
    ],
)
def test_each_stage_says_what_happens_next(
    app: Flask, client: FlaskClient, submitted: str, status: str, text: str
) -> None:
    _set_status(app, submitted, status)
    page = look_up(client, submitted).get_data(as_text=True)
    assert text in page
    pickup = "At the service office where you applied."  # the Mexico City policy's [pickup]
    assert (pickup in page) == (status in {"approved", "printed"})


def test_every_kind_of_miss_gets_the_same_answer(
    app: Flask, client: FlaskClient, make_application: Any, submitted: str
) -> None:
    draft = make_application()  # still at the counter: not submitted
    erased = make_application(documents=mexico_city_documents(), submit=True)
    with app.app_context():
        applicant_id = applications.get_application(db.session, erased).applicant_id
        assert applicant_id is not None
        applications.erase_applicant(
            db.session, app.extensions["idsys.keyring"], SYSTEM, applicant_id
        )
        db.session.commit()
    unknown = new_reference()
    answers = {
        "wrong birthday": look_up(client, submitted, "1988-03-01"),
        "unknown reference": look_up(client, unknown),
        "draft": look_up(client, draft),
        "erased": look_up(client, erased),
    }
    pages = {kind: r.get_data(as_text=True) for kind, r in answers.items()}
    assert {r.status_code for r in answers.values()} == {200}
    assert all(MISS in page for page in pages.values())
    # Byte for byte the same page once the echoed input and tokens are blanked.
    assert len({without_tokens(page) for page in pages.values()}) == 1


def test_a_miss_does_the_same_database_work_as_a_hit(
    app: Flask, make_application: Any, submitted: str
) -> None:
    """Same statements in the same order for a hit and every kind of miss: a miss is not
    quicker for skipping a query (the decryption is matched by a throwaway record)."""
    draft = make_application()
    with app.app_context():
        keys, rules = app.extensions["idsys.keyring"], app.extensions["idsys.policy"]
        engine = app.extensions["idsys.db"].engine
        statements: list[str] = []

        def remember(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            # PostgreSQL tests run in savepoints whose names count up.
            statements.append(re.sub(r"sa_savepoint_\d+", "sa_savepoint", statement))

        event.listen(engine, "before_cursor_execute", remember)
        try:
            runs = {}
            for kind, reference, birthday in (
                ("hit", submitted, date(1988, 2, 29)),
                ("wrong birthday", submitted, date(1990, 1, 1)),
                ("unknown", new_reference(), date(1988, 2, 29)),
                ("draft", draft, date(1988, 2, 29)),
            ):
                statements.clear()
                answer = services.look_up_status(db.session, keys, rules, reference, birthday)
                db.session.flush()
                runs[kind] = (answer is not None, list(statements))
                db.session.commit()
        finally:
            event.remove(engine, "before_cursor_execute", remember)
    assert runs["hit"][0] is True
    assert [found for found, _ in runs.values()] == [True, False, False, False]
    shapes = {tuple(sql) for _, sql in runs.values()}
    assert len(shapes) == 1, runs
    assert any("FROM applications" in sql for sql in next(iter(shapes)))


def test_a_mistyped_check_character_is_named(
    app: Flask, client: FlaskClient, submitted: str
) -> None:
    response = look_up(client, display(_mistype(submitted)))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This number has a typing mistake: check each character." in page
    assert MISS not in page
    with app.app_context():  # no look-up happened, so nothing to audit
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert "residents.status_lookup" not in actions


def test_a_malformed_reference_says_what_a_reference_looks_like(client: FlaskClient) -> None:
    response = look_up(client, "ABC-12")
    assert response.status_code == 400
    assert "The number has 10 letters and digits" in response.get_data(as_text=True)


def test_a_missing_birthday_is_asked_for(client: FlaskClient, submitted: str) -> None:
    response = look_up(client, submitted, "")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter your date of birth." in page
    assert 'aria-invalid="true"' in page and 'id="date_of_birth-error"' in page


def test_look_ups_are_audited_without_the_birthday_or_the_reference(
    app: Flask, client: FlaskClient, submitted: str
) -> None:
    unknown = new_reference()
    look_up(client, submitted, "1970-01-01")
    look_up(client, unknown)
    look_up(client, submitted)
    with app.app_context():
        application_id = applications.get_application(db.session, submitted).id
        rows = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "residents.status_lookup")
            .order_by(AuditEvent.seq)
        ).all()
        got = [(r.outcome, r.target_type, r.target_id, r.detail, r.actor_role) for r in rows]
        assert got == [
            ("failure", "application", str(application_id), "date_of_birth_mismatch", "public"),
            ("failure", None, None, "unknown_reference", "public"),
            ("success", "application", str(application_id), "submitted", "public"),
        ]
        for row in rows:
            fields = (row.action, row.target_type, row.target_id, row.detail, row.actor_role)
            text = " ".join(str(v) for v in fields)
            for secret in ("1970", "1988", submitted, unknown, display(submitted)):
                assert secret not in text
        assert verify_chain(db.session, app.extensions["idsys.keyring"]).ok


def test_rate_limited_per_client(app_factory: Any, make_application: Any) -> None:
    app = app_factory(RESIDENT_STATUS_LIMIT_PER_CLIENT="3 per minute")
    client = app.test_client()
    for _ in range(3):
        assert look_up(client, new_reference()).status_code == 200
    refused = look_up(client, new_reference())
    assert refused.status_code == 429
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60  # when to try again
    # Another address is not affected.
    assert look_up(client, new_reference(), REMOTE_ADDR="192.0.2.9").status_code == 200


def test_rate_limited_per_reference_across_clients(app_factory: Any, make_application: Any) -> None:
    """Guessing one person's birthday from many addresses still meets one limit; the failures
    count, not the successful look-ups."""
    app = app_factory(RESIDENT_STATUS_LIMIT_PER_REFERENCE="2 per hour")
    client = app.test_client()
    reference = make_application(documents=mexico_city_documents(), submit=True)
    for _ in range(3):  # the owner checks as often as they like
        assert "We received" in look_up(client, reference).get_data(as_text=True)
    assert look_up(client, reference, "1970-01-01", REMOTE_ADDR="192.0.2.1").status_code == 200
    assert look_up(client, reference, "1970-01-02", REMOTE_ADDR="192.0.2.2").status_code == 200
    assert look_up(client, reference, "1970-01-03", REMOTE_ADDR="192.0.2.3").status_code == 429
    # The limit is the reference's: another reference from the same address still answers.
    assert look_up(client, new_reference(), REMOTE_ADDR="192.0.2.3").status_code == 200
