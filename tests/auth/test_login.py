"""Sign-in: passwords, back-off, one-time passwords, TOTP, idle sign-out, session ending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idsys.audit.models import AuditEvent
from idsys.auth import services as auth
from idsys.auth.models import Role, StaffUser
from idsys.crypto import KeyRing, verify_password
from idsys.crypto.totp import current_code
from idsys.db import db
from tests.conftest import PASSWORD, TOTP_SECRETS, csrf_token, login


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def test_login_and_logout(app: Flask, client: FlaskClient, make_user: Any) -> None:
    user = make_user(Role.CLERK)
    response = login(client, user)
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    assert "Welcome, " in client.get("/home").get_data(as_text=True)
    token = csrf_token(client, "/home")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/home").status_code == 302
    actions = [(e.action, e.outcome, e.target_id) for e in _events(app, "auth.login")]
    assert actions == [("auth.login", "success", str(user.id))]
    assert [e.action for e in _events(app, "auth.logout")] == ["auth.logout"]


def test_wrong_password_and_unknown_user_look_the_same(
    app: Flask, client: FlaskClient, make_user: Any
) -> None:
    user = make_user(Role.CLERK)
    wrong = login(client, user, password="not the password at all")
    unknown = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(client, "/login"),
            "username": "nobody",
            "password": "whatever",
        },
    )
    assert wrong.status_code == unknown.status_code == 401
    text = "Sign-in failed. Check the username and password."
    assert text in wrong.get_data(as_text=True)
    assert text in unknown.get_data(as_text=True)
    details = [e.detail for e in _events(app, "auth.login")]
    assert details == ["bad_password", "unknown_user"]
    # The attempted username is not recorded anywhere in the trail (it may be a password typo).
    with app.app_context():
        for event in db.session.scalars(select(AuditEvent)):
            assert "nobody" not in str(vars(event))


def test_repeated_failures_lock_the_account_with_back_off(
    app: Flask, client: FlaskClient, make_user: Any
) -> None:
    user = make_user(Role.CLERK)
    for _ in range(5):
        assert login(client, user, password="wrong password!!").status_code == 401
    # Locked now: even the right password is refused, with the same message.
    response = login(client, user)
    assert response.status_code == 401
    with app.app_context():
        stored = db.session.get(StaffUser, user.id)
        assert stored is not None
        assert stored.failed_logins == 5
        assert auth.is_locked(stored)
    assert _events(app, "auth.login")[-1].detail == "locked"
    assert _events(app, "auth.login")[-2].detail == "bad_password+locked"


def test_back_off_doubles_and_is_capped() -> None:
    policy = auth.LoginPolicy(5, timedelta(minutes=1), timedelta(hours=1))
    assert [policy.lock_for(n) for n in (4, 5, 6, 7)] == [
        None,
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
    ]
    assert policy.lock_for(40) == timedelta(hours=1)


def test_lock_expires(session: Any, keys: KeyRing, make_user: Any) -> None:
    user = session.get(StaffUser, make_user(Role.CLERK).id)
    policy = auth.LoginPolicy()
    start = datetime.now(UTC)
    for _ in range(5):
        with pytest.raises(auth.InvalidCredentials):
            auth.check_password(
                session, keys, user.username, "bad password 1", policy=policy, now=start
            )
    with pytest.raises(auth.InvalidCredentials):
        auth.check_password(
            session, keys, user.username, PASSWORD, policy=policy, now=start + timedelta(seconds=59)
        )
    ok = auth.check_password(
        session, keys, user.username, PASSWORD, policy=policy, now=start + timedelta(seconds=61)
    )
    assert ok.failed_logins == 0
    assert ok.locked_until is None


def test_disabled_account_cannot_sign_in(
    app: Flask, client: FlaskClient, make_user: Any, keys: KeyRing
) -> None:
    user = make_user(Role.CLERK)
    with app.app_context():
        admin = make_user(Role.ADMIN)
        stored = db.session.get(StaffUser, user.id)
        auth.set_enabled(db.session, keys, auth.Actor(admin.id, "admin"), stored, False)
        db.session.commit()
    assert login(client, user).status_code == 401
    assert _events(app, "auth.login")[-1].detail == "disabled"


def test_disabling_ends_open_sessions(
    app: Flask, client: FlaskClient, make_user: Any, keys: KeyRing
) -> None:
    user = make_user(Role.CLERK)
    login(client, user)
    assert client.get("/home").status_code == 200
    with app.app_context():
        stored = db.session.get(StaffUser, user.id)
        auth.set_enabled(db.session, keys, auth.SYSTEM, stored, False)
        db.session.commit()
    assert client.get("/home").status_code == 302


def test_one_time_password_must_be_replaced_first(
    app: Flask, client: FlaskClient, keys: KeyRing
) -> None:
    with app.app_context():
        user, otp = auth.create_user(
            db.session,
            keys,
            auth.SYSTEM,
            username="newclerk",
            display_name="New Clerk",
            role=Role.CLERK,
        )
        db.session.commit()
        db.session.expunge(user)
    assert otp is not None
    assert len(otp) == 19
    assert login(client, user, password=otp).status_code == 302
    # Every staff page sends them to choose a password first.
    assert client.get("/home").headers["Location"] == "/account/password"
    token = csrf_token(client, "/account/password")
    weak = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current": otp,
            "new": "newclerk-password",
            "confirm": "newclerk-password",
        },
    )
    assert "must not contain the username" in weak.get_data(as_text=True)
    done = client.post(
        "/account/password",
        data={"csrf_token": token, "current": otp, "new": PASSWORD, "confirm": PASSWORD},
    )
    assert done.status_code == 302
    assert client.get("/home").status_code == 200
    with app.app_context():
        stored = db.session.get(StaffUser, user.id)
        assert stored is not None
        assert verify_password(stored.password_hash, PASSWORD)


def test_change_password_wrong_current(client: FlaskClient, signed_in: Any) -> None:
    signed_in(Role.CLERK)
    token = csrf_token(client, "/account/password")
    response = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current": "wrong one entirely",
            "new": "a brand new phrase",
            "confirm": "a brand new phrase",
        },
    )
    assert "The current password is not correct." in response.get_data(as_text=True)


def test_totp_sign_in_and_replay_refused(app: Flask, client: FlaskClient, make_user: Any) -> None:
    user = make_user(Role.SUPERVISOR, "super", totp=True)
    response = login(client, user)
    assert response.headers["Location"] == "/login/totp"
    assert client.get("/home").status_code == 302  # not signed in yet
    token = csrf_token(client, "/login/totp")
    bad = client.post("/login/totp", data={"csrf_token": token, "code": "000000"})
    assert bad.status_code == 401
    code = current_code(TOTP_SECRETS["super"])
    good = client.post("/login/totp", data={"csrf_token": token, "code": code})
    assert good.status_code == 302
    assert good.headers["Location"] == "/home"
    assert client.get("/home").status_code == 200
    # The same code cannot be used again by someone who watched it being typed.
    other = app.test_client()
    login(other, user)
    token = csrf_token(other, "/login/totp")
    replay = other.post("/login/totp", data={"csrf_token": token, "code": code})
    assert replay.status_code == 401


def test_totp_required_for_supervisors_when_configured(app_factory: Any, make_user: Any) -> None:
    app = app_factory(REQUIRE_TOTP=True)
    client = app.test_client()
    clerk = make_user(Role.CLERK)
    login(client, clerk)
    assert client.get("/home").status_code == 200  # clerks are not required
    client = app.test_client()
    supervisor = make_user(Role.SUPERVISOR)
    login(client, supervisor)
    assert client.get("/home").headers["Location"] == "/account/totp"
    page = client.get("/account/totp").get_data(as_text=True)
    assert "<svg" in page
    assert "requires two-step sign-in" in page
    token = csrf_token(client, "/account/totp")
    with client.session_transaction() as sess:
        secret = sess["totp_secret"]  # what the QR code on that page carried
    # The enrolment page keeps the secret across the confirming POST.
    response = client.post(
        "/account/totp", data={"csrf_token": token, "code": current_code(secret)}
    )
    assert response.status_code == 302
    assert client.get("/home").status_code == 200


def test_totp_enrolment_rejects_a_wrong_code(client: FlaskClient, signed_in: Any) -> None:
    signed_in(Role.ADMIN)
    token = csrf_token(client, "/account/totp")
    response = client.post("/account/totp", data={"csrf_token": token, "code": "123456"})
    assert "That code is not valid" in response.get_data(as_text=True)


def test_idle_session_is_signed_out(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    signed_in(Role.CLERK)
    assert client.get("/home").status_code == 200
    with client.session_transaction() as sess:
        sess["seen"] = sess["seen"] - 31 * 60
    response = client.get("/home")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_totp_secret_is_sealed_at_rest(app: Flask, make_user: Any) -> None:
    user = make_user(Role.ADMIN, "sealed", totp=True)
    with app.app_context():
        stored = db.session.get(StaffUser, user.id)
        assert stored is not None
        assert stored.totp_secret_sealed is not None
        assert TOTP_SECRETS["sealed"].encode() not in stored.totp_secret_sealed
