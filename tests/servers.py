"""Real servers for tests and benchmarks: a scratch PostgreSQL database and gunicorn.

Shared by the fault tests, the multi-worker tests and the benchmarks under bench/, so that there
is one way to start the production server on this machine's loopback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from flask import Flask
from flask_migrate import upgrade

from idsys import ROOT, create_app
from idsys.crypto import FileKeyProvider, KeyPurpose, KeyRing

ISSUER = "https://id.example.org"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def scratch_database(server_url: str, prefix: str = "idsys_scratch") -> Iterator[str]:
    """A new, empty database on ``server_url``'s server, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_env(database_url: str, key_file: Path, instance: Path, **extra: str) -> dict[str, str]:
    """The production environment for ``wsgi:app``, with nothing inherited from IDSYS_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDSYS_")}
    env.update(
        {
            "IDSYS_ENV": "production",
            "IDSYS_SECRET_KEY": "f" * 48,
            "IDSYS_DATABASE_URL": database_url,
            "IDSYS_RATELIMIT_STORAGE_URI": "memory://",
            "IDSYS_KEY_PROVIDER": "file",
            "IDSYS_KEY_FILE": str(key_file),
            "IDSYS_ISSUER": ISSUER,
            "IDSYS_INSTANCE_PATH": str(instance),
        }
    )
    env.update(extra)
    return env


def gunicorn_command(port: int, workers: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "5",
        "--no-control-socket",  # its default path is shared by every gunicorn of this account
        *extra,
        "wsgi:app",
    ]


def start_gunicorn(
    env: dict[str, str], port: int, workers: int, stderr_path: Path, *extra: str
) -> subprocess.Popen[bytes]:
    """Start gunicorn and wait until /healthz answers; fail with its output if it does not."""
    with stderr_path.open("wb") as stderr:
        server = subprocess.Popen(
            gunicorn_command(port, workers, *extra),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310 (loopback)
                return server
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.2)
    server.kill()
    server.wait(timeout=10)
    raise AssertionError("gunicorn did not start: " + stderr_path.read_text()[-3000:])


def migrated_app(database_url: str, workdir: Path) -> tuple[Flask, KeyRing]:
    """An app on ``database_url`` migrated to the latest revision, with a key ring generated in
    ``workdir/keyring.json`` (the file a gunicorn started with `server_env` then reads)."""
    keys = KeyRing.open(
        FileKeyProvider(workdir / "keyring.json", strict_permissions=True),
        generate_missing=True,
        required=tuple(KeyPurpose),
    )
    app = create_app(
        "test",
        {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(workdir / "instance"),
            "KEYRING": keys,
            "SECRET_KEY": "scratch-" + "x" * 40,
        },
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app, keys
