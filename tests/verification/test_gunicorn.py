"""The per-key rate limit holds across gunicorn workers when they share Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from idsys import ROOT
from idsys.audit.services import SYSTEM
from idsys.crypto import KeyRing
from idsys.db import db
from idsys.i18n import missing_catalogues
from idsys.verification import services
from idsys.verification.models import PartnerKind, Scope
from tests.conftest import build_app, migrate_to_head, needs_postgres, needs_redis

LIMIT = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    name = f"idsys_gunicorn_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db_url = pg.rsplit("/", 1)[0] + "/" + name
    server = None
    try:
        app = build_app(db_url, tmp_path / "instance", keys)
        migrate_to_head(app)
        with app.app_context():
            _, key = services.create_partner(
                db.session,
                keys,
                SYSTEM,
                name="Branch library",
                kind=PartnerKind.LIBRARY,
                contact="",
                scope=Scope.STATUS,
                daily_quota=1000,
            )
            db.session.commit()
        app.extensions["idsys.db"].engine.dispose()
        port = _free_port()
        log = tmp_path / "access.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDSYS_")}
        env.update(
            {
                "IDSYS_ENV": "production",
                "IDSYS_SECRET_KEY": "g" * 48,
                "IDSYS_DATABASE_URL": db_url,
                "IDSYS_RATELIMIT_STORAGE_URI": redis_url,
                "IDSYS_KEY_PROVIDER": "file",
                "IDSYS_KEY_FILE": str(keys.provider.path),  # type: ignore[attr-defined]
                "IDSYS_ISSUER": "https://id.example.org",
                "IDSYS_INSTANCE_PATH": str(tmp_path / "i"),
                "IDSYS_PARTNER_RATE_LIMIT": f"{LIMIT} per minute",
            }
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--access-logfile",
                str(log),
                "--access-logformat",
                "%(p)s %(s)s %(U)s",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.2)
        else:
            server.terminate()
            raise AssertionError(
                "gunicorn did not start: " + server.communicate()[1].decode()[-2000:]
            )
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
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        with psycopg.connect(pg, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
