"""Verification on PostgreSQL through the app's own engine, as in production.

The other tests run each PostgreSQL test inside one transaction they roll back, where the
statements cannot run directly, each committing on its own (`idsys.db.statements`); here the app
has a scratch database of its own, so the direct reads, the one-statement count-and-audit and
the pool's reset are the real ones.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select, update

from idsys.applications import services as applications
from idsys.audit.models import AuditIntake
from idsys.audit.services import SYSTEM
from idsys.cards import services as cards
from idsys.crypto import KeyRing
from idsys.db import db
from idsys.verification import services
from idsys.verification.models import PartnerUsage
from tests.conftest import (
    TODAY,
    register_partner,
    sample_profile,
)


def _card_and_partner(app: Flask, keys: KeyRing, quota: int) -> tuple[str, str]:
    """An active card's QR text and a partner's API key."""
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        applicant = applications.create_applicant(
            db.session, keys, SYSTEM, sample_profile(), today=TODAY
        )
        card = cards.new_card(db.session, keys, rules, applicant, None, TODAY)
        card.status = "active"
        db.session.commit()
        key = register_partner(keys, quota=quota)
        return cards.qr_text(keys, card, applicant, rules, "https://id.example.org"), key


def _intake(app: Flask) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditIntake.detail, func.count()).group_by(AuditIntake.detail)
        ).all()
        return {str(detail): int(count) for detail, count in rows}


def _post(app: Flask, key: str, body: dict[str, Any]) -> Any:
    return app.test_client().post(
        "/api/v1/verifications", json=body, headers={"Authorization": f"Bearer {key}"}
    )


def _partner_id(app: Flask, key: str) -> int:
    with app.app_context():
        return services.authenticate(db.session, key).id


def test_quota_counts_and_audits_each_check_exactly_once(own_app: Flask, keys: KeyRing) -> None:
    qr, key = _card_and_partner(own_app, keys, quota=3)
    # The first check of the day creates the counter row; the next two take the one-statement
    # path; the fourth finds the quota used up and is refused, counted nowhere.
    codes = [_post(own_app, key, {"qr": qr}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    with own_app.app_context():
        assert db.session.scalars(select(PartnerUsage.count)).all() == [3]
    partner_id = _partner_id(own_app, key)
    assert _intake(own_app) == {
        f"partner={partner_id};valid": 3,
        "daily_quota_exceeded": 1,
    }


def test_results_that_name_no_card_are_counted_and_audited_too(
    own_app: Flask, keys: KeyRing
) -> None:
    _, key = _card_and_partner(own_app, keys, quota=10)
    assert _post(own_app, key, {"qr": "NOT-A-CARD"}).json["result"] == "invalid"
    assert _post(own_app, key, {"qr": "NOT-A-CARD"}).json["result"] == "invalid"
    with own_app.app_context():
        assert db.session.scalars(select(PartnerUsage.count)).all() == [2]
        targets = db.session.scalars(select(AuditIntake.target_id)).all()
    assert targets == [None, None]


def test_connections_go_back_to_the_pool_transactional(own_app: Flask, keys: KeyRing) -> None:
    """The direct way's autocommit connection is kept apart from the pool: what the pool hands
    out stays transactional, and a later transaction that fails still rolls back whole."""
    qr, key = _card_and_partner(own_app, keys, quota=10)
    assert _post(own_app, key, {"qr": qr}).status_code == 200
    with own_app.app_context():
        pooled = [db.engine.connect() for _ in range(db.engine.pool.checkedin())]  # type: ignore[attr-defined]
        assert pooled
        assert all(c.connection.dbapi_connection.autocommit is False for c in pooled)  # type: ignore[union-attr]
        for connection in pooled:
            connection.close()
        db.session.execute(update(PartnerUsage).values(count=99))
        db.session.rollback()
        assert db.session.scalars(select(PartnerUsage.count)).all() == [1]
