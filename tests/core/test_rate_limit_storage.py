"""Rate limits hold across workers when they share Redis (IDSYS_RATELIMIT_STORAGE_URI)."""

from __future__ import annotations

import uuid
from typing import Any

import redis
from sqlalchemy import func, select

from idsys.audit.models import AuditEvent, AuditIntake
from idsys.db import db
from tests.conftest import csrf_token, needs_redis
from tests.verification.test_api import conforms


def test_login_limit_is_shared_by_two_workers(app_factory: Any) -> None:
    url = needs_redis()
    prefix = f"idsys-test-{uuid.uuid4().hex}"
    settings = {
        "RATELIMIT_STORAGE_URI": url,
        "RATELIMIT_KEY_PREFIX": prefix,
        "LOGIN_RATE_LIMIT": "3 per minute",
    }
    worker_a = app_factory(**settings).test_client()
    worker_b = app_factory(**settings).test_client()
    form = {"username": "someone", "password": "wrong"}
    codes = []
    for client in (worker_a, worker_a, worker_b, worker_b):
        form["csrf_token"] = csrf_token(client, "/login")
        codes.append(client.post("/login", data=form).status_code)
    assert codes == [401, 401, 401, 429]
    stored = redis.Redis.from_url(url)
    keys = stored.keys(f"*{prefix}*")
    assert keys, "the counters live in Redis"
    stored.delete(*keys)


def test_unreachable_storage_refuses_with_503_and_does_nothing(app_factory: Any) -> None:
    """Without its Redis the limiter cannot count, and the limits are what stop guessing: the
    request is refused (503, try again shortly) before its view runs, never answered unlimited."""
    app = app_factory(RATELIMIT_STORAGE_URI="redis://127.0.0.1:9/0")  # nothing listens there
    client = app.test_client()
    api = client.post(
        "/api/v1/verifications", json={"qr": "x"}, headers={"Authorization": "Bearer x"}
    )
    assert api.status_code == 503
    assert api.json["error"] == "unavailable"
    assert api.headers["Retry-After"] == "30"
    conforms(api)
    form = {"username": "someone", "password": "wrong", "csrf_token": csrf_token(client, "/login")}
    page = client.post("/login", data=form)
    assert page.status_code == 503
    assert b"temporarily unavailable" in page.data
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditIntake)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0
