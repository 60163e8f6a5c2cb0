"""The sealer as a service of its own: `flask idsys audit-seal --every`, and the setting that
turns the server processes' own sealers off."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from idsys import ROOT
from idsys.audit.models import AuditEvent, AuditIntake
from idsys.audit.services import Actor, deferred_values, insert_deferred, verify_chain
from idsys.crypto import KeyRing
from idsys.db import db
from idsys.i18n import missing_catalogues
from tests.conftest import needs_postgres
from tests.faults.support import wait_until
from tests.servers import migrated_app, scratch_database, server_env

SEAL = [sys.executable, "-m", "flask", "--app", "wsgi", "idsys", "audit-seal"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database a separate process can share with the test: a SQLite file, or a scratch
    PostgreSQL database when the suite runs on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sealer.sqlite3'}"
        return
    with scratch_database(needs_postgres(), "idsys_sealer") as url:
        yield url


@pytest.fixture
def served(database: str, tmp_path: Path) -> Iterator[tuple[Flask, KeyRing, dict[str, str]]]:
    """A migrated app on ``database``, its keys, and the production environment for a process
    started on the same database (the server's own sealers off)."""
    missing = missing_catalogues(("es", "fr", "ht", "pt"))
    if missing:  # production refuses to start without them; `make test` compiles them first
        pytest.skip(f"translation catalogues not compiled for {', '.join(missing)}")
    app, keys = migrated_app(database, tmp_path)
    env = server_env(
        database,
        tmp_path / "keyring.json",
        tmp_path / "instance",
        IDSYS_AUDIT_SEAL_INTERVAL="0",
    )
    try:
        yield app, keys, env
    finally:
        app.extensions["idsys.db"].engine.dispose()


def _verifications(app: Flask, keys: KeyRing, first: int, count: int) -> None:
    with app.app_context():
        for target in range(first, first + count):
            values = deferred_values(
                keys,
                Actor(None, "partner"),
                "verification.check",
                target_type="card",
                target_id=target,
                detail="partner=1;valid",
            )
            insert_deferred(db.session, values)
        db.session.commit()


def _waiting(app: Flask) -> int:
    with app.app_context():
        waiting = db.session.scalar(select(func.count()).select_from(AuditIntake)) or 0
        db.session.rollback()  # a fresh snapshot each time
        return waiting


def test_sealer_process_seals_until_stopped(
    served: tuple[Flask, KeyRing, dict[str, str]], tmp_path: Path
) -> None:
    app, keys, env = served
    _verifications(app, keys, 0, 3)
    sealer = subprocess.Popen(
        [*SEAL, "--every", "0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: _waiting(app) == 0, 30, "the first three events to be sealed")
        _verifications(app, keys, 3, 2)  # it keeps going
        wait_until(lambda: _waiting(app) == 0, 30, "the next two events to be sealed")
        sealer.send_signal(signal.SIGTERM)
        out, err = sealer.communicate(timeout=30)
    finally:
        if sealer.poll() is None:
            sealer.kill()
            sealer.wait()
    assert sealer.returncode == 0, err
    assert "every 0.1 s" in out
    assert "Stopped. Sealed 5 events into the audit chain." in out
    assert "Traceback" not in err
    with app.app_context():
        targets = db.session.scalars(select(AuditEvent.target_id).order_by(AuditEvent.seq)).all()
        assert targets[-5:] == ["0", "1", "2", "3", "4"]
        assert verify_chain(db.session, keys).ok


@pytest.mark.parametrize("every", ["0", "0.01", "7200", "soon"])
def test_sealer_refuses_an_interval_out_of_range(app: Flask, every: str) -> None:
    result = app.test_cli_runner().invoke(args=["idsys", "audit-seal", "--every", every])
    assert result.exit_code == 2
    assert "--every" in result.output and "Traceback" not in result.output


def test_without_every_it_seals_once(app: Flask, keys: KeyRing) -> None:
    _verifications(app, keys, 0, 2)
    result = app.test_cli_runner().invoke(args=["idsys", "audit-seal"])
    assert result.exit_code == 0
    assert "Sealed 2 events into the audit chain." in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditIntake)) == 0
