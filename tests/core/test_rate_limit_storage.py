"""Rate limits hold across workers when they share Redis (IDSYS_RATELIMIT_STORAGE_URI)."""

from __future__ import annotations

import uuid
from typing import Any

import redis

from tests.conftest import csrf_token, needs_redis


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
