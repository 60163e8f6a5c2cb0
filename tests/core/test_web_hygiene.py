"""CSRF, cookies, security headers, error pages and the health check."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine

from idsys.auth.models import Role
from tests.conftest import PASSWORD, csrf_token, login


def test_form_post_without_csrf_token_is_rejected(client: FlaskClient, make_user: Any) -> None:
    user = make_user(Role.CLERK)
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)
    # ...and nothing happened: the account is not signed in.
    assert client.get("/home").status_code == 302


def test_form_post_with_a_forged_token_is_rejected(client: FlaskClient, make_user: Any) -> None:
    user = make_user(Role.CLERK)
    csrf_token(client, "/login")
    response = client.post(
        "/login", data={"csrf_token": "forged", "username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 400


def test_admin_form_without_token_changes_nothing(
    app: Flask, client: FlaskClient, signed_in: Any, make_user: Any
) -> None:
    signed_in(Role.ADMIN)
    victim = make_user(Role.CLERK)
    response = client.post(f"/admin/staff/{victim.id}/disable")
    assert response.status_code == 400
    page = client.get(f"/admin/staff/{victim.id}").get_data(as_text=True)
    assert "Enabled" in page


def test_security_headers_on_every_page(client: FlaskClient) -> None:
    for path in ("/login", "/healthz", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_or_style(client: FlaskClient, signed_in: Any) -> None:
    signed_in(Role.ADMIN)
    for path in ("/login", "/home", "/admin/staff/", "/admin/audit/", "/account/totp"):
        html = client.get(path).get_data(as_text=True)
        for forbidden in ("<script>", " style=", "<style"):
            assert forbidden not in html, path


def test_session_cookie_flags(client: FlaskClient, make_user: Any) -> None:
    response = login(client, make_user(Role.CLERK))
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_production_cookies_are_secure(app_factory: Any) -> None:
    from config import ProductionConfig

    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    assert ProductionConfig.SESSION_COOKIE_NAME.startswith("__Host-")


@pytest.mark.parametrize(
    ("path", "code", "text"),
    [
        ("/no-such-page", 404, "Page not found"),
        ("/healthz/", 404, "Page not found"),
    ],
)
def test_friendly_error_pages(client: FlaskClient, path: str, code: int, text: str) -> None:
    response = client.get(path)
    assert response.status_code == code
    assert text in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_method_not_allowed_page(client: FlaskClient) -> None:
    response = client.delete("/login")
    assert response.status_code == 405
    assert "cannot be used that way" in response.get_data(as_text=True)


def test_forbidden_page(client: FlaskClient, signed_in: Any) -> None:
    signed_in(Role.CLERK)
    response = client.get("/admin/staff/")
    assert response.status_code == 403
    assert "does not have access" in response.get_data(as_text=True)


def test_unexpected_error_gives_friendly_500(app: Flask) -> None:
    from idsys.auth.access import public

    def broken() -> str:
        raise RuntimeError("boom")

    app.add_url_rule("/broken", "broken", public(broken))
    response = app.test_client().get("/broken")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong" in body
    assert "boom" not in body


def test_api_errors_are_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.is_json
    assert response.json["error"] == "page_not_found"


def test_rate_limited_login_answers_429(app_factory: Any, make_user: Any) -> None:
    app = app_factory(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    token = csrf_token(client, "/login")
    codes = [
        client.post(
            "/login", data={"csrf_token": token, "username": "x", "password": "y"}
        ).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    page = client.post("/login", data={"csrf_token": token, "username": "x", "password": "y"})
    assert "Too many attempts" in page.get_data(as_text=True)


def test_healthz_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_503_when_database_is_gone(app: Flask, tmp_path: Any) -> None:
    # Point the app at a database that cannot be opened, as when the server is down.
    unreachable = create_engine(f"sqlite:///{tmp_path}/missing-dir/db.sqlite3")
    app.extensions["idsys.db"].bind = unreachable
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"
    assert "cannot be reached" in response.json["message"]


def test_healthz_503_when_postgres_is_down(app: Flask) -> None:
    unreachable = create_engine(
        "postgresql+psycopg://idsys@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    app.extensions["idsys.db"].bind = unreachable
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


def test_open_redirect_after_login_is_refused(client: FlaskClient, make_user: Any) -> None:
    user = make_user(Role.CLERK)
    token = csrf_token(client, "/login?next=https://evil.example/")
    response = client.post(
        "/login?next=https://evil.example/",
        data={"csrf_token": token, "username": user.username, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"


def test_language_choice(client: FlaskClient) -> None:
    token = csrf_token(client, "/login")
    response = client.post("/language", data={"csrf_token": token, "lang": "es", "next": "/login"})
    assert response.status_code == 302
    with client.session_transaction() as sess:
        assert sess["lang"] == "es"
