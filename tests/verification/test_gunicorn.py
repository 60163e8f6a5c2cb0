"""The per-key rate limit holds across gunicorn workers when they share Redis."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from idsys.crypto import KeyRing
from idsys.i18n import missing_catalogues
from tests.conftest import build_app, migrate_to_head, needs_postgres, needs_redis, register_partner
from tests.servers import free_port, scratch_database, server_env, start_gunicorn

LIMIT = 10


def _post(url: str, key: str) -> int:
    request = urllib.request.Request(  # noqa: S310  (a loopback URL the test built)
        url,
        data=json.dumps({"qr": "NOT-A-CARD"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310  (loopback)
        return int(response.status)


def _pids(log: Path, path: str) -> set[str]:
    if not log.exists():
        return set()
    return {line.split()[0] for line in log.read_text().splitlines() if path in line}


def test_rate_limit_holds_across_two_gunicorn_workers(keys: KeyRing, tmp_path: Path) -> None:
    pg, redis_url = needs_postgres(), needs_redis()
    missing = missing_catalogues(("es", "fr", "ht", "pt"))
    if missing:  # production refuses to start without them; `make test` compiles them first
        pytest.skip(f"translation catalogues not compiled for {', '.join(missing)}")
    with scratch_database(pg, "idsys_gunicorn") as db_url:
        app = build_app(db_url, tmp_path / "instance", keys)
        migrate_to_head(app)
        with app.app_context():
            key = register_partner(keys, quota=1000)
        app.extensions["idsys.db"].engine.dispose()
        port = free_port()
        log = tmp_path / "access.log"
        env = server_env(
            db_url,
            keys.provider.path,
            tmp_path / "i",  # type: ignore[attr-defined]
            IDSYS_RATELIMIT_STORAGE_URI=redis_url,
            IDSYS_PARTNER_RATE_LIMIT=f"{LIMIT} per minute",
        )
        server = start_gunicorn(
            env,
            port,
            2,
            tmp_path / "gunicorn.err",
            "--access-logfile",
            str(log),
            "--access-logformat",
            "%(p)s %(s)s %(U)s",
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _check(base, key, log)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def _check(base: str, key: str, log: Path) -> None:
    # Wait until both workers answer (a loaded machine boots them at different times), so
    # the rate-limited requests below really are spread over two processes.
    for _ in range(100):
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: _get(f"{base}/healthz"), range(8)))
        if len(_pids(log, "/healthz")) >= 2:
            break
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(lambda _: _post(f"{base}/api/v1/verifications", key), range(3 * LIMIT))
        )
    assert codes.count(200) == LIMIT, codes
    assert codes.count(429) == 2 * LIMIT, codes
    lines = [
        line.split() for line in log.read_text().splitlines() if "/api/v1/verifications" in line
    ]
    assert len({pid for pid, _status, _path in lines}) >= 2, "both workers answered"
