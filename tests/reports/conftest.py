"""A seeded data set for the statistics, in two past months (rows inserted directly, for volume:
the statistics read only non-personal columns, so applicants are erased placeholders).

Month ``P`` (three months ago) and ``Q`` (two months ago) are closed whatever day the suite
runs; the current month is left to tests that go through the real services.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from flask import Flask

from idsys.applications.models import Applicant, Application
from idsys.audit.services import SYSTEM
from idsys.cards.models import BatchItem, Card, PrintBatch
from idsys.db import db
from idsys.policy import Policy, local_date
from idsys.reports.services import add_months, month_start
from idsys.verification import services as partners
from idsys.verification.models import PartnerKind, PartnerUsage, Scope

_serial = itertools.count(1)


def this_month(policy: Policy) -> date:
    return month_start(local_date(policy, datetime.now(UTC)))


def noon(policy: Policy, month: date, day: int = 15) -> datetime:
    return datetime.combine(month.replace(day=day), time(12), tzinfo=policy.tzinfo).astimezone(UTC)


@dataclass(frozen=True)
class Seed:
    P: date
    Q: date


def _applicant() -> Applicant:
    return Applicant(id=uuid.uuid4(), erased_at=datetime.now(UTC))


def _application(
    policy: Policy, applicant: Applicant, month: date, site: str, **fields: Any
) -> Application:
    n = next(_serial)
    return Application(
        reference=f"T{n:09d}",
        intake_token=uuid.uuid4().hex,
        applicant_id=applicant.id,
        kind="new",
        status=fields.pop("status", "submitted"),
        policy_id=policy.id,
        has_caretaker=False,
        created_by=0,
        site=site,
        submitted_at=noon(policy, month, 10),
        **fields,
    )


def _approved(
    policy: Policy, month: date, site: str, band: str, gender: str, language: str
) -> tuple[Applicant, Application]:
    applicant = _applicant()
    return applicant, _application(
        policy,
        applicant,
        month,
        site,
        status="issued",
        decided_at=noon(policy, month, 12),
        decision_codes="rules_satisfied",
        age_band=band,
        gender_designation=gender,
        preferred_language=language,
    )


def seed(app: Flask) -> Seed:
    """The data set whose figures the tests check (see the expectations in test_dashboard)."""
    with app.app_context():
        policy: Policy = app.extensions["idsys.policy"]
        p = add_months(this_month(policy), -3)
        q = add_months(this_month(policy), -2)
        session = db.session
        north: list[tuple[Applicant, Application]] = []
        # P, north: 20 approved, 3 rejected, 2 still waiting; 25 submitted.
        bands = ["25-34"] * 12 + ["35-44"] * 5 + ["65+"] * 3
        genders = ["F"] * 11 + ["M"] * 6 + ["X"] * 2 + ["none"]
        languages = ["es"] * 14 + ["en"] * 3 + ["wo"] * 2 + ["de"]
        for band, gender, language in zip(bands, genders, languages, strict=True):
            north.append(_approved(policy, p, "north", band, gender, language))
        main = [_approved(policy, p, "main", "18-24", g, "es") for g in ["F"] * 5 + ["M"] * 6]
        rows: list[Any] = [x for pair in north + main for x in pair]
        for codes in (
            "residency_insufficient",
            "residency_insufficient",
            "documents_doubtful,identity_insufficient",
        ):
            applicant = _applicant()
            rows += [
                applicant,
                _application(
                    policy,
                    applicant,
                    p,
                    "north",
                    status="rejected",
                    decided_at=noon(policy, p, 12),
                    decision_codes=codes,
                    age_band="25-34",
                    gender_designation="F",
                    preferred_language="es",
                ),
            ]
        applicant = _applicant()
        rows += [
            applicant,
            _application(
                policy,
                applicant,
                p,
                "main",
                status="rejected",
                decided_at=noon(policy, p, 12),
                decision_codes="other",
            ),
        ]
        for site, count in (("north", 2), ("east", 3)):
            for _ in range(count):
                applicant = _applicant()
                rows += [applicant, _application(policy, applicant, p, site)]
        # Q, north: 15 approved.
        for n in range(15):
            rows += list(_approved(policy, q, "north", "25-34", "F" if n < 8 else "M", "es"))
        session.add_all(rows)
        session.flush()

        # Cards released in P: 12 north and 11 main new cards, 4 north renewals and 2 main
        # replacements (made from an earlier card: no application of their own), one reprint.
        batch = PrintBatch(status="printed", released_by=0, released_at=noon(policy, p, 20))
        session.add(batch)
        session.flush()
        cards: list[tuple[Card, str]] = []
        issued = noon(policy, p, 20)
        made = [(a, x, "new") for a, x in north[:12]] + [(a, x, "new") for a, x in main]
        made += [(north[0][0], None, "renewal")] * 4 + [(main[0][0], None, "replacement")] * 2
        for applicant, application, kind in made:
            card = Card(
                number=f"{next(_serial):012d}",
                applicant_id=applicant.id,
                application_id=application.id if application is not None else None,
                status="active",
                issued_at=issued,
                issued_on=issued.date(),
            )
            session.add(card)
            session.flush()
            session.add(BatchItem(batch_id=batch.id, card_id=card.id, position=card.id, kind=kind))
            cards.append((card, kind))
        session.add(
            BatchItem(batch_id=batch.id, card_id=cards[0][0].id, position=0, kind="reprint")
        )
        # Revoked in P: 3 lost (north), 1 stolen (main), 12 superseded (6 north, 6 main).
        revoked_at = noon(policy, p, 25)
        north_cards = [c for c, _k in cards[:12]]
        main_cards = [c for c, _k in cards[12:23]]
        for card, reason in [
            *[(c, "lost") for c in north_cards[:3]],
            (main_cards[0], "stolen"),
            *[(c, "superseded") for c in north_cards[3:9]],
            *[(c, "superseded") for c in main_cards[1:7]],
        ]:
            card.status, card.revocation_reason, card.revoked_at = "revoked", reason, revoked_at
        # Partner verifications in P: libraries 40 + 15, a bank 7, other 12, no clinic.
        made_partners = {}
        for name, kind in (
            ("Library A", PartnerKind.LIBRARY),
            ("Library B", PartnerKind.LIBRARY),
            ("Bank", PartnerKind.BANK),
            ("Shelter", PartnerKind.OTHER),
        ):
            partner, _key = partners.create_partner(
                session,
                app.extensions["idsys.keyring"],
                SYSTEM,
                name=f"{name} {next(_serial)}",
                kind=kind,
                contact="",
                scope=Scope.STATUS,
                daily_quota=1000,
            )
            made_partners[name] = partner.id
        for name, day, count in (
            ("Library A", 3, 40),
            ("Library B", 10, 15),
            ("Bank", 11, 7),
            ("Shelter", 28, 12),
        ):
            session.add(
                PartnerUsage(partner_id=made_partners[name], day=p.replace(day=day), count=count)
            )
        session.commit()
        return Seed(p, q)


@pytest.fixture
def seeded(app: Flask) -> Seed:
    return seed(app)
