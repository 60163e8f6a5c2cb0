"""Rules of the code base that a reviewer would otherwise have to remember."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import text

from idsys import ROOT
from idsys.audit.services import verify_chain
from idsys.auth import services as auth
from idsys.db import Base, db
from idsys.models import import_all_models

CRYPTO_MODULES = {
    "cryptography",
    "hashlib",
    "hmac",
    "secrets",
    "argon2",
    "pyotp",
    "random",
    "nacl",
    "Crypto",
    "jwt",
    "jose",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_crypto_package_imports_cryptographic_primitives() -> None:
    offenders = []
    for path in sorted((ROOT / "idsys").rglob("*.py")):
        if (ROOT / "idsys" / "crypto") in path.parents:
            continue
        found = _imports(path) & CRYPTO_MODULES
        if found:
            offenders.append(f"{path.relative_to(ROOT)}: {', '.join(sorted(found))}")
    assert offenders == [], "import these through idsys.crypto instead"


def test_the_rule_catches_an_offender(tmp_path: Path) -> None:
    planted = tmp_path / "bad.py"
    planted.write_text("from cryptography.fernet import Fernet\nimport hashlib\n")
    assert _imports(planted) & CRYPTO_MODULES == {"cryptography", "hashlib"}


def test_migrations_create_exactly_the_models(app: Flask) -> None:
    """The schema comes only from migrations, and they match the models (no drift)."""
    import_all_models()
    with app.app_context(), db.engine.connect() as connection:
        bind = app.extensions["idsys.db"].bind
        conn = bind if hasattr(bind, "execute") else connection
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


VETERAN_AT_0001 = (
    "INSERT INTO staff_users (username, display_name, role, password_hash, "
    "must_change_password, is_enabled, failed_logins, session_version, created_at) "
    "VALUES ('veteran.clerk', 'Veteran', 'clerk', 'x', TRUE, TRUE, 0, 1, :now)"
)
VETERAN_COUNT = "SELECT count(*) FROM staff_users WHERE username = 'veteran.clerk'"


def test_upgrading_an_old_database_keeps_its_data(tmp_path: Path, keys: Any) -> None:
    """A city upgrading idsys runs `flask db upgrade` on its existing data: nothing is lost."""
    from flask_migrate import downgrade, upgrade

    from tests.conftest import build_app

    app = build_app(f"sqlite:///{tmp_path / 'old.sqlite3'}", tmp_path / "instance", keys)
    migrations = str(ROOT / "migrations")
    with app.app_context():
        upgrade(directory=migrations, revision="0001")
        # Plain SQL at old revisions: today's models describe the newest schema, not 0001's.
        db.session.execute(text(VETERAN_AT_0001), {"now": datetime.now(UTC)})
        db.session.commit()
        upgrade(directory=migrations)
        veteran = auth.get_by_username(db.session, "veteran.clerk")
        assert veteran is not None
        assert veteran.site == "main"  # accounts from before enrolment sites: the one site
        assert verify_chain(db.session, keys).ok
        db.session.commit()
        downgrade(directory=migrations, revision="0001")  # and back, for a failed roll-out
        assert db.session.scalar(text(VETERAN_COUNT)) == 1
    app.extensions["idsys.db"].engine.dispose()


def test_every_models_module_is_registered() -> None:
    """A domain's models must reach Alembic and the privacy scan through import_all_models."""
    from idsys.models import MODEL_MODULES

    found = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "idsys").glob("*/models.py")
    }
    assert found == set(MODEL_MODULES)
