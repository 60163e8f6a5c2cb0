"""The audit trail is append-only and any alteration or deletion is reported."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from idsys.audit.services import SYSTEM, Actor, Outcome, record, verify_chain
from idsys.auth.models import Role
from idsys.crypto import KeyRing
from idsys.db import db
from tests.conftest import csrf_token


def _seed(session: Session, keys: KeyRing, n: int = 5) -> None:
    for i in range(n):
        record(
            session,
            keys,
            Actor(7, "clerk"),
            "test.event",
            target_type="staff",
            target_id=i,
            outcome=Outcome.SUCCESS,
        )
    session.commit()


def _drop_guards(session: Session) -> None:
    """What an attacker with database rights would do first: remove the append-only triggers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("DROP TRIGGER audit_events_no_change ON audit_events"))
    else:
        session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(text("DROP TRIGGER audit_events_no_delete"))


def _cli(app: Flask) -> Any:
    return app.test_cli_runner().invoke(args=["idsys", "audit-verify"])


def test_intact_chain_verifies(app: Flask, session: Session, keys: KeyRing) -> None:
    _seed(session, keys)
    report = verify_chain(session, keys)
    assert report.ok
    assert report.rows_checked == 5
    result = _cli(app)
    assert result.exit_code == 0
    assert "5 events verified" in result.output


def test_empty_chain_verifies(session: Session, keys: KeyRing) -> None:
    assert verify_chain(session, keys).ok


def test_database_refuses_update_and_delete(session: Session, keys: KeyRing) -> None:
    _seed(session, keys, 2)
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(text("UPDATE audit_events SET outcome = 'failure' WHERE seq = 1"))
    session.rollback()
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(text("DELETE FROM audit_events WHERE seq = 1"))
    session.rollback()


def test_tampered_row_is_detected(app: Flask, session: Session, keys: KeyRing) -> None:
    _seed(session, keys)
    _drop_guards(session)
    session.execute(text("UPDATE audit_events SET outcome = 'failure' WHERE seq = 3"))
    session.commit()
    report = verify_chain(session, keys)
    assert not report.ok
    assert report.first_bad_seq == 3
    assert report.problem == "row 3 does not match its hash (altered)"
    result = _cli(app)
    assert result.exit_code == 1
    assert "AUDIT TRAIL BROKEN: row 3 does not match its hash (altered)" in result.output


def test_rehashed_row_without_the_key_is_detected(session: Session, keys: KeyRing) -> None:
    """Recomputing a plain hash is not enough: the chain is keyed."""
    _seed(session, keys)
    _drop_guards(session)
    session.execute(text("UPDATE audit_events SET row_hash = :h WHERE seq = 2"), {"h": "ab" * 32})
    session.commit()
    report = verify_chain(session, keys)
    assert not report.ok
    assert report.first_bad_seq == 2


def test_deleted_row_is_detected(app: Flask, session: Session, keys: KeyRing) -> None:
    _seed(session, keys)
    _drop_guards(session)
    session.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    session.commit()
    report = verify_chain(session, keys)
    assert not report.ok
    assert report.problem == "row 2 missing before row 3 (deleted)"
    assert "row 2 missing" in _cli(app).output


def test_deleted_rows_renumbered_are_detected(session: Session, keys: KeyRing) -> None:
    _seed(session, keys)
    _drop_guards(session)
    session.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    session.execute(text("UPDATE audit_events SET seq = seq - 1 WHERE seq > 3"))
    session.commit()
    report = verify_chain(session, keys)
    assert not report.ok
    assert report.first_bad_seq == 3


def test_deleted_newest_rows_are_detected(session: Session, keys: KeyRing) -> None:
    _seed(session, keys)
    _drop_guards(session)
    session.execute(text("DELETE FROM audit_events WHERE seq >= 4"))
    session.commit()
    report = verify_chain(session, keys)
    assert not report.ok
    assert (
        report.problem == "the chain ends at row 3 but its head records row 5 (newest rows deleted)"
    )


def test_forged_head_is_detected(session: Session, keys: KeyRing) -> None:
    _seed(session, keys)
    _drop_guards(session)
    session.execute(text("DELETE FROM audit_events WHERE seq >= 4"))
    prev = session.execute(text("SELECT row_hash FROM audit_events WHERE seq = 3")).scalar_one()
    session.execute(text("UPDATE audit_head SET last_seq = 3, last_hash = :h"), {"h": prev})
    session.commit()
    report = verify_chain(session, keys)
    assert not report.ok
    assert report.problem == "the chain head record was altered"


def test_rows_carry_ids_not_personal_data(app: Flask, client: Any, signed_in: Any) -> None:
    admin = signed_in(Role.ADMIN)
    token = csrf_token(client, "/admin/staff/new")
    client.post(
        "/admin/staff/new",
        data={
            "csrf_token": token,
            "username": "jdoe",
            "display_name": "Jane Quetzal Doe",
            "role": "clerk",
        },
    )
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM audit_events")).all()
    dump = repr(rows)
    assert "Quetzal" not in dump
    assert "jdoe" not in dump
    assert str(admin.id) in dump


def test_admin_page_verifies_the_chain(client: Any, signed_in: Any) -> None:
    signed_in(Role.ADMIN)
    token = csrf_token(client, "/admin/audit/")
    page = client.post("/admin/audit/verify", data={"csrf_token": token})
    assert "Intact:" in page.get_data(as_text=True)


def test_admin_page_names_actors_without_a_staff_id(
    app: Flask, client: Any, signed_in: Any
) -> None:
    """Partner API calls and command-line actions are told apart from scheduled jobs."""
    with app.app_context():
        keys = app.extensions["idsys.keyring"]
        for actor, action in (
            (Actor(None, "partner"), "verification.check"),
            (Actor(None, "cli"), "partner.key_revoke"),
            (SYSTEM, "job.purge"),
        ):
            record(db.session, keys, actor, action)
        db.session.commit()
    signed_in(Role.ADMIN)
    page = client.get("/admin/audit/").get_data(as_text=True)
    for role, action in (("partner", "verification.check"), ("cli", "partner.key_revoke")):
        assert re.search(rf"<td>{role}</td>\s*<td>[^<]*{re.escape(action)}", page), role
    assert re.search(r"<td>system</td>\s*<td>[^<]*job\.purge", page)


def test_system_actor_and_failure_outcome(session: Session, keys: KeyRing) -> None:
    event = record(session, keys, SYSTEM, "job.purge", outcome=Outcome.FAILURE, detail="disk")
    session.commit()
    assert (event.actor_id, event.outcome, event.seq) == (None, "failure", 1)
    assert verify_chain(session, keys).ok


def test_events_rolled_back_with_their_action_leave_no_gap(session: Session, keys: KeyRing) -> None:
    record(session, keys, SYSTEM, "kept.one")
    session.commit()
    record(session, keys, SYSTEM, "abandoned")
    session.rollback()
    record(session, keys, SYSTEM, "kept.two")
    session.commit()
    assert verify_chain(session, keys).ok
    assert db.session.execute(text("SELECT max(seq) FROM audit_events")).scalar_one() == 2


def test_deferred_events_are_sealed_in_order(app: Flask, session: Session, keys: KeyRing) -> None:
    from sqlalchemy import select

    from idsys.audit.models import AuditEvent, AuditIntake
    from idsys.audit.services import deferred_values, insert_deferred, pending_intake, seal_all

    record(session, keys, SYSTEM, "before")
    for i in range(5):
        event = deferred_values(
            keys,
            Actor(None, "partner"),
            "verification.check",
            target_type="card",
            target_id=i,
            detail="partner=1;valid",
        )
        insert_deferred(session, event)
    session.commit()
    assert pending_intake(session, keys) == (5, None)
    assert verify_chain(session, keys).ok  # the chain itself is whole; five wait outside it
    result = app.test_cli_runner().invoke(args=["idsys", "audit-verify"])
    assert result.exit_code == 0 and "5 recent events wait to be sealed" in result.output
    assert seal_all(session, keys) == 5
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [e.target_id for e in events] == [None, "0", "1", "2", "3", "4"]
    assert session.scalars(select(AuditIntake)).all() == []
    assert verify_chain(session, keys).ok


def test_altered_intake_row_is_detected_and_sealed_as_evidence(
    app: Flask, session: Session, keys: KeyRing
) -> None:
    from sqlalchemy import select

    from idsys.audit.models import AuditEvent
    from idsys.audit.services import deferred_values, insert_deferred, pending_intake, seal_all

    event = deferred_values(
        keys,
        Actor(None, "partner"),
        "verification.check",
        target_type="card",
        target_id=7,
        detail="partner=1;valid",
    )
    insert_deferred(session, event)
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("DROP TRIGGER audit_intake_no_update ON audit_intake"))
    else:
        session.execute(text("DROP TRIGGER audit_intake_no_update"))
    session.execute(text("UPDATE audit_intake SET detail = 'partner=1;revoked'"))
    session.commit()
    count, altered = pending_intake(session, keys)
    assert count == 1 and altered is not None
    result = app.test_cli_runner().invoke(args=["idsys", "audit-verify"])
    assert result.exit_code == 1 and "was altered" in result.output
    seal_all(session, keys)
    event = session.scalars(select(AuditEvent)).one()
    assert (event.action, event.outcome) == ("audit.intake_altered", "failure")
    assert verify_chain(session, keys).ok


def test_intake_refuses_updates(session: Session, keys: KeyRing) -> None:
    from idsys.audit.services import deferred_values, insert_deferred

    insert_deferred(session, deferred_values(keys, SYSTEM, "x"))
    session.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(text("UPDATE audit_intake SET detail = 'y'"))
    session.rollback()
