"""Card numbers stay unique when eight processes issue cards at once on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import func, select

from idsys.applications import services as applications
from idsys.audit.services import SYSTEM
from idsys.cards import services
from idsys.cards.models import Card
from idsys.crypto import FileKeyProvider, KeyPurpose, KeyRing
from idsys.db import db
from tests.conftest import TODAY, build_app, migrate_to_head, needs_postgres, sample_profile

PROCESSES = 8
CARDS_EACH = 250


def _keys(path: Path) -> KeyRing:
    return KeyRing.open(
        FileKeyProvider(path, strict_permissions=True),
        generate_missing=True,
        required=tuple(KeyPurpose),
    )


def _issue(url: str, key_file: str, instance: str, applicant_id: str) -> int:
    keys = _keys(Path(key_file))
    app = build_app(url, Path(instance), keys)
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        applicant = applications.get_applicant(db.session, applicant_id)
        for _ in range(CARDS_EACH):
            services.new_card(db.session, keys, rules, applicant, None, TODAY)
            db.session.commit()
    app.extensions["idsys.db"].engine.dispose()
    return CARDS_EACH


def test_eight_processes_issue_2000_unique_numbers(tmp_path: Path) -> None:
    url = needs_postgres()
    name = f"idsys_cards_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db_url = url.rsplit("/", 1)[0] + "/" + name
    try:
        keys = _keys(tmp_path / "keyring.json")
        app = build_app(db_url, tmp_path / "instance", keys)
        migrate_to_head(app)
        with app.app_context():
            applicant = applications.create_applicant(
                db.session, keys, SYSTEM, sample_profile(), today=TODAY
            )
            db.session.commit()
            applicant_id = str(applicant.id)
        app.extensions["idsys.db"].engine.dispose()
        context = multiprocessing.get_context("spawn")
        with context.Pool(PROCESSES) as pool:
            done = pool.starmap(
                _issue,
                [
                    (
                        db_url,
                        str(tmp_path / "keyring.json"),
                        str(tmp_path / f"instance{i}"),
                        applicant_id,
                    )
                    for i in range(PROCESSES)
                ],
            )
        assert sum(done) == PROCESSES * CARDS_EACH
        app = build_app(db_url, tmp_path / "instance", keys)
        with app.app_context():
            total = db.session.scalar(select(func.count()).select_from(Card))
            distinct = db.session.scalar(select(func.count(func.distinct(Card.number))))
        app.extensions["idsys.db"].engine.dispose()
        assert total == distinct == 2000
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
