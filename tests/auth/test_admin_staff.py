"""Admin pages and CLI for staff accounts."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idsys.audit.models import AuditEvent
from idsys.auth.models import Role, StaffUser
from idsys.db import db
from tests.conftest import csrf_token, login

OTP_RE = re.compile(r"<code>([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})</code>")


def _user(app: Flask, username: str) -> StaffUser:
    with app.app_context():
        user = db.session.scalars(select(StaffUser).where(StaffUser.username == username)).one()
        db.session.expunge(user)
        return user


def test_admin_creates_an_account_and_its_password_works(
    app: Flask, client: FlaskClient, signed_in: Any
) -> None:
    signed_in(Role.ADMIN)
    token = csrf_token(client, "/admin/staff/new")
    page = client.post(
        "/admin/staff/new",
        data={
            "csrf_token": token,
            "username": "Maria.Lopez",
            "display_name": "María López",
            "role": "clerk",
        },
    )
    assert page.status_code == 200
    match = OTP_RE.search(page.get_data(as_text=True))
    assert match, "the one-time password is shown once"
    created = _user(app, "maria.lopez")
    assert created.role == "clerk"
    assert created.must_change_password
    other = app.test_client()
    assert login(other, created, password=match.group(1)).status_code == 302
    listing = client.get("/admin/staff/").get_data(as_text=True)
    assert "maria.lopez" in listing


def test_duplicate_and_invalid_usernames_get_field_errors(
    client: FlaskClient, signed_in: Any, make_user: Any
) -> None:
    signed_in(Role.ADMIN)
    make_user(Role.CLERK, "taken")
    token = csrf_token(client, "/admin/staff/new")
    page = client.post(
        "/admin/staff/new",
        data={"csrf_token": token, "username": "taken", "display_name": "X", "role": "clerk"},
    )
    assert "already in use" in page.get_data(as_text=True)
    page = client.post(
        "/admin/staff/new",
        data={"csrf_token": token, "username": "<script>", "display_name": "X", "role": "clerk"},
    )
    body = page.get_data(as_text=True)
    assert "Letters, digits" in body
    assert "<script>" not in body
    page = client.post(
        "/admin/staff/new",
        data={"csrf_token": token, "username": "okname", "display_name": "X", "role": "emperor"},
    )
    assert "Not a valid choice" in page.get_data(as_text=True)


def test_disable_needs_confirmation(
    app: Flask, client: FlaskClient, signed_in: Any, make_user: Any
) -> None:
    signed_in(Role.ADMIN)
    clerk = make_user(Role.CLERK)
    confirm = client.get(f"/admin/staff/{clerk.id}/disable")
    assert confirm.status_code == 200
    assert "Disable this account?" in confirm.get_data(as_text=True)
    assert _user(app, clerk.username).is_enabled  # a GET changes nothing
    token = csrf_token(client, f"/admin/staff/{clerk.id}/disable")
    done = client.post(f"/admin/staff/{clerk.id}/disable", data={"csrf_token": token})
    assert done.status_code == 302
    assert not _user(app, clerk.username).is_enabled
    assert login(app.test_client(), clerk).status_code == 401


def test_last_admin_cannot_be_disabled_or_demoted(
    app: Flask, client: FlaskClient, signed_in: Any, make_user: Any
) -> None:
    admin = signed_in(Role.ADMIN)
    token = csrf_token(client, f"/admin/staff/{admin.id}")
    response = client.post(
        f"/admin/staff/{admin.id}/disable", data={"csrf_token": token}, follow_redirects=True
    )
    assert "cannot disable your own account" in response.get_data(as_text=True)
    response = client.post(
        f"/admin/staff/{admin.id}",
        data={"csrf_token": token, "display_name": "Me", "role": "clerk"},
    )
    assert "remove your own admin role" in response.get_data(as_text=True)
    assert _user(app, admin.username).role == "admin"


def test_reset_password_shows_a_new_one_time_password(
    app: Flask, client: FlaskClient, signed_in: Any, make_user: Any
) -> None:
    signed_in(Role.ADMIN)
    clerk = make_user(Role.CLERK)
    token = csrf_token(client, f"/admin/staff/{clerk.id}/reset-password")
    page = client.post(f"/admin/staff/{clerk.id}/reset-password", data={"csrf_token": token})
    match = OTP_RE.search(page.get_data(as_text=True))
    assert match
    assert login(app.test_client(), clerk).status_code == 401  # the old password is gone
    assert login(app.test_client(), clerk, password=match.group(1)).status_code == 302


def test_role_change_is_audited(
    app: Flask, client: FlaskClient, signed_in: Any, make_user: Any
) -> None:
    admin = signed_in(Role.ADMIN)
    clerk = make_user(Role.CLERK)
    token = csrf_token(client, f"/admin/staff/{clerk.id}")
    client.post(
        f"/admin/staff/{clerk.id}",
        data={"csrf_token": token, "display_name": clerk.display_name, "role": "supervisor"},
    )
    assert _user(app, clerk.username).role == "supervisor"
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "staff.role_change")
        ).one()
    assert (event.actor_id, event.target_id, event.detail) == (
        admin.id,
        str(clerk.id),
        "clerk->supervisor",
    )


def test_cli_create_user_and_ensure_admin(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["idsys", "ensure-admin"])
    assert first.exit_code == 0
    assert "username:  admin" in first.output
    again = runner.invoke(args=["idsys", "ensure-admin"])
    assert "exist already" in again.output
    made = runner.invoke(args=["idsys", "create-user", "sup1", "--role", "supervisor"])
    assert made.exit_code == 0
    assert "One-time password:" in made.output
    dup = runner.invoke(args=["idsys", "create-user", "sup1", "--role", "supervisor"])
    assert dup.exit_code == 1
    assert "already in use" in dup.output
    chosen = runner.invoke(
        args=["idsys", "create-user", "clerk9", "--role", "clerk", "--password-stdin"],
        input="a long enough phrase\n",
    )
    assert chosen.exit_code == 0
    assert "One-time password" not in chosen.output
    reset = runner.invoke(args=["idsys", "reset-password", "nobody"])
    assert reset.exit_code == 1
    assert "No staff account" in reset.output
    assert runner.invoke(args=["idsys", "reset-password", "sup1"]).exit_code == 0
    # A person at the command line, told apart from the scheduled jobs (no role at all).
    with app.app_context():
        actors = db.session.execute(
            select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.actor_role)
            .where(AuditEvent.action.in_(("staff.create", "staff.password_reset")))
            .order_by(AuditEvent.seq)
        ).all()
    assert [tuple(row) for row in actors] == [
        ("staff.create", None, None),  # the first admin, made by set-up (make run)
        ("staff.create", None, "cli"),
        ("staff.create", None, "cli"),
        ("staff.password_reset", None, "cli"),
    ]
