"""Rate limits hold across workers when they share Redis (IDSYS_RATELIMIT_STORAGE_URI)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import redis
from flask import Response, request
from sqlalchemy import func, select

from idsys.audit.models import AuditEvent, AuditIntake
from idsys.db import db
from idsys.residents.models import PreApplication
from tests.conftest import csrf_token, needs_redis
from tests.faults.support import wait_until
from tests.residents.test_pre_application import CODE_RE, pre_apply
from tests.servers import free_port
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


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


class OwnRedis(NamedTuple):
    port: int
    process: subprocess.Popen[bytes]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A Redis server of the test's own, on a free port: the test may stop it."""
    program = shutil.which("redis-server")
    if program is None:
        pytest.skip("redis-server is not installed: no Redis of the test's own to stop")
    port = free_port()
    server = subprocess.Popen(
        [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: _answers(redis.Redis(port=port)), 10, "redis-server to answer")
        yield OwnRedis(port, server)
    finally:
        server.kill()
        server.wait(timeout=10)


def test_storage_lost_after_the_view_still_answers_and_keeps_the_session(
    app_factory: Any, own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """A pre-application is counted against its limit after it is saved. When Redis stops in
    between, the resident still gets the slip (the work is committed, the session with its code
    is kept) instead of a 500 saying nothing was saved; the lost count is logged."""
    app = app_factory(RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{own_redis.port}/0")

    @app.after_request  # registered last, so it runs before the limiter's count
    def stop_redis_after_a_post(response: Response) -> Response:
        if request.method == "POST" and own_redis.process.poll() is None:
            own_redis.process.terminate()
            own_redis.process.wait(timeout=10)
        return response

    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        made = pre_apply(client)
    assert made.status_code == 302 and made.headers["Location"] == "/apply/slip"
    assert "this request was not counted" in caplog.text
    assert CODE_RE.search(client.get("/apply/slip").get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PreApplication)) == 1
    # With Redis still down, the next one is refused before anything is saved.
    refused = pre_apply(client)
    assert refused.status_code == 503
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PreApplication)) == 1
