"""Shared fixtures: a real database per test (a fresh SQLite file, or on PostgreSQL a transaction
rolled back at the end), the real key ring code, and helpers to create and sign in staff.

Set IDSYS_TEST_DATABASE_URL to run everything on PostgreSQL; IDSYS_TEST_REDIS_URL for the
Redis-backed rate-limit tests. When a URL is set but its server does not answer, tests fail
rather than skip: CI must never pass by silently testing less.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from PIL import Image, ImageDraw
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from idsys import create_app
from idsys.applications import services as applicants
from idsys.applications.models import Applicant, ApplicationKind
from idsys.applications.profile import Address, ApplicantProfile
from idsys.audit.services import SYSTEM
from idsys.auth import services as auth
from idsys.auth.models import Role, StaffUser
from idsys.cards import services as cards
from idsys.cards.labels import card_labels
from idsys.crypto import FileKeyProvider, KeyPurpose, KeyRing
from idsys.crypto.totp import current_code
from idsys.db import db, make_engine
from idsys.i18n import compile_catalogues
from idsys.policy import PresentedDocument, local_date
from idsys.verification import services as partners
from idsys.verification.models import PartnerKind, Scope
from tests.servers import scratch_database

PG_URL = os.environ.get("IDSYS_TEST_DATABASE_URL", "").strip()
REDIS_URL = os.environ.get("IDSYS_TEST_REDIS_URL", "").strip()
TODAY = date(2026, 11, 22)
PASSWORD = "correct horse battery staple"
TOTP_SECRETS: dict[str, str] = {}  # username -> secret, for tests that sign in with TOTP


def pytest_sessionstart(session: pytest.Session) -> None:
    """`pytest` run on its own sees the real translations: compile as `make translations` does."""
    compile_catalogues()


def pytest_report_header() -> list[str]:
    return [
        f"idsys database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (a fresh file per test)'}",
        f"idsys redis: {REDIS_URL or 'not set (Redis tests skip)'}",
    ]


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    path = tmp_path_factory.mktemp("keys") / "keyring.json"
    provider = FileKeyProvider(path, strict_permissions=True)
    return KeyRing.open(provider, generate_missing=True, required=tuple(KeyPurpose))


def build_app(database_url: str, instance: Path, keys: KeyRing, **extra: Any) -> Flask:
    overrides: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance),
        "KEYRING": keys,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    overrides.update(extra)
    return create_app("test", overrides)


def migrate_to_head(app: Flask) -> None:
    with app.app_context():
        upgrade(directory=str(Path(app.root_path).parent / "migrations"))


@dataclass(frozen=True)
class Template:
    kind: str  # "sqlite" or "postgresql"
    location: str  # the template file, or the PostgreSQL URL


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory, keys: KeyRing) -> Template:
    """Run the migrations once per session: into a template SQLite file, or into PostgreSQL."""
    base = tmp_path_factory.mktemp("template")
    if PG_URL:
        engine = make_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        except Exception as exc:
            pytest.fail(f"IDSYS_TEST_DATABASE_URL is set but PostgreSQL is unusable: {exc}")
        finally:
            engine.dispose()
        app = build_app(PG_URL, base / "instance", keys)
        migrate_to_head(app)
        app.extensions["idsys.db"].engine.dispose()
        return Template("postgresql", PG_URL)
    path = base / "template.sqlite3"
    app = build_app(f"sqlite:///{path}", base / "instance", keys)
    migrate_to_head(app)
    app.extensions["idsys.db"].engine.dispose()
    return Template("sqlite", str(path))


@pytest.fixture
def app_factory(migrated: Template, tmp_path: Path, keys: KeyRing) -> Iterator[Any]:
    """Build apps on this test's clean database; extra settings as keyword arguments.

    Several apps in one test stand for several workers sharing the database.
    """
    apps: list[Flask] = []
    connection: Connection | None = None
    if migrated.kind == "sqlite":
        path = tmp_path / "idsys.sqlite3"
        shutil.copyfile(migrated.location, path)
        url = f"sqlite:///{path}"
    else:
        url = migrated.location

    def make(**extra: Any) -> Flask:
        nonlocal connection
        app = build_app(url, tmp_path / "instance", keys, **extra)
        state = app.extensions["idsys.db"]
        if migrated.kind == "postgresql":
            if connection is None:
                connection = state.engine.connect()
                connection.begin()
            state.bind = connection
        apps.append(app)
        return app

    yield make
    if connection is not None:
        connection.rollback()
        connection.close()
    for app in apps:
        app.extensions["idsys.db"].engine.dispose()


@pytest.fixture
def app(app_factory: Any) -> Flask:
    flask_app: Flask = app_factory()
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.app_context():
        yield db.session


def add_staff(keys: KeyRing, name: str, role: Role, password: str = PASSWORD) -> StaffUser:
    """A staff account in the current app context that has already chosen its own password
    (not committed)."""
    user, _ = auth.create_user(
        db.session,
        keys,
        SYSTEM,
        username=name,
        display_name=name.title(),
        role=role,
        password=password,
    )
    user.must_change_password = False
    return user


@pytest.fixture
def make_user(app: Flask, keys: KeyRing) -> Any:
    """Create a ready-to-use staff account (own password chosen, optional TOTP)."""

    def make(
        role: Role = Role.CLERK,
        username: str | None = None,
        *,
        totp: bool = False,
        password: str = PASSWORD,
    ) -> StaffUser:
        with app.app_context():
            name = username or f"{role.value}{db.session.query(StaffUser).count() + 1}"
            user = add_staff(keys, name, role, password)
            if totp:
                secret = auth.start_totp_enrolment()
                auth.confirm_totp_enrolment(db.session, keys, user, secret, current_code(secret))
                user.totp_last_step = None
                TOTP_SECRETS[name] = secret
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return make


def city_days_ago(app: Flask, days: int) -> str:
    """The date ``days`` before today on the city's clock, as the forms take it. The counter's
    views judge documents against the real date: a fixed date in a test would age out of a
    recency window, or show another number of days, as the calendar moves on."""
    today = local_date(app.extensions["idsys.policy"], datetime.now(UTC))
    return (today - timedelta(days=days)).isoformat()


def sample_profile(**changes: Any) -> ApplicantProfile:
    base = ApplicantProfile(
        given_names="Nguyễn Thị",
        family_names="Minh Khai",
        date_of_birth=date(1988, 2, 29),
        address=Address(line1="Calle Río Lerma 23", city="Ciudad de México", postal_code="06500"),
        phone="+52 55 1234 5678",
        email="minh@example.org",
        emergency_contact_name="Lan",
        emergency_contact_phone="+52 55 8765 4321",
        gender="F",
        languages=("vi", "es"),
    )
    return replace(base, **changes)


def photo_bytes(size: tuple[int, int] = (480, 640), fmt: str = "JPEG", exif: bool = True) -> bytes:
    """A real photo-like image; with a GPS position in its EXIF, as phone cameras write."""
    image = Image.new("RGB", size, (200, 170, 150))
    ImageDraw.Draw(image).ellipse(
        (size[0] // 4, size[1] // 5, 3 * size[0] // 4, 4 * size[1] // 5), fill=(120, 80, 60)
    )
    out = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x010F] = "CameraMakerZork"  # Make
        data[0x8825] = {1: "N", 2: (40.0, 42.0, 46.0)}  # GPS latitude
        image.save(out, format=fmt, exif=data.tobytes())
    else:
        image.save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def jpeg() -> bytes:
    return photo_bytes()


@pytest.fixture
def make_applicant(app: Flask, keys: KeyRing) -> Any:
    """Store an applicant through the real service (encrypted, indexed, audited)."""

    def make(profile: ApplicantProfile | None = None, photo: bytes | None = None) -> Applicant:
        with app.app_context():
            applicant = applicants.create_applicant(
                db.session,
                keys,
                SYSTEM,
                profile or sample_profile(),
                photo=photo,
                today=date(2026, 11, 22),
            )
            db.session.commit()
            db.session.expunge(applicant)
            return applicant

    return make


@pytest.fixture
def make_application(app: Flask, keys: KeyRing, make_user: Any) -> Any:
    """An application taken through the real services: a draft with profile and photo, and
    optionally documents and submission. Returns its reference."""

    def make(
        *,
        profile: ApplicantProfile | None = None,
        documents: tuple[PresentedDocument, ...] = (),
        submit: bool = False,
        justification: str = "",
        clerk_id: int | None = None,
    ) -> str:
        with app.app_context():
            rules = app.extensions["idsys.policy"]
            actor = auth.Actor(clerk_id or make_user(Role.CLERK).id, "clerk")
            application = applicants.start_application(
                db.session,
                keys,
                actor,
                kind=ApplicationKind.NEW,
                intake_token=uuid.uuid4().hex,
                policy_id=rules.id,
            )
            applicants.save_profile(
                db.session,
                keys,
                actor,
                application,
                profile or sample_profile(),
                has_caretaker=False,
                today=TODAY,
            )
            applicants.save_photo(db.session, keys, actor, application, photo_bytes())
            for document in documents:
                applicants.add_document(db.session, keys, actor, application, rules, document)
            if submit:
                applicants.submit_application(
                    db.session, keys, actor, application, rules, TODAY, justification=justification
                )
            db.session.commit()
            return application.reference

    return make


@pytest.fixture
def make_card(app: Flask, keys: KeyRing, make_user: Any, make_application: Any) -> Any:
    """Approve an application and release it into a batch. Returns (card id, batch id)."""

    def make(profile: ApplicantProfile | None = None, *, printed: bool = False) -> tuple[int, int]:
        reference = make_application(
            profile=profile, documents=mexico_city_documents(), submit=True
        )
        with app.app_context():
            rules = app.extensions["idsys.policy"]
            supervisor = auth.Actor(make_user(Role.SUPERVISOR).id, "supervisor")
            application = applicants.get_application(db.session, reference)
            applicants.decide_application(
                db.session,
                keys,
                supervisor,
                application,
                rules,
                TODAY,
                approve=True,
                codes=["rules_satisfied", "duplicate_checked"],
            )
            result = cards.release_batch(
                db.session,
                keys,
                supervisor,
                rules,
                today=TODAY,
                issuer="https://id.example.org",
                labels=card_labels(rules),
                application_ids=[application.id],
            )
            assert result.batch is not None, result.problems
            if printed:
                cards.mark_batch_printed(db.session, keys, supervisor, result.batch)
            db.session.commit()
            return result.batch.items[0].card_id, result.batch.id

    return make


def mexico_city_documents() -> tuple[PresentedDocument, ...]:
    """A voter card and an electricity receipt 40 days old: enough under the Mexico City policy."""
    return (
        PresentedDocument(
            code="voter_card",
            name_matches=True,
            issue_date=date(2020, 1, 10),
            expiry_date=date(2030, 12, 31),
        ),
        PresentedDocument(
            code="electricity_receipt",
            name_matches=True,
            address_matches=True,
            issue_date=date(2026, 10, 13),
        ),
    )


CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


def csrf_token(client: FlaskClient, path: str) -> str:
    """Open ``path`` as a browser would and return the form's CSRF token."""
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    if match is None and not client.application.config["WTF_CSRF_ENABLED"]:
        return ""
    assert match, f"no CSRF token on {path} (status {page.status_code})"
    return match.group(1) or match.group(2)


def login(client: FlaskClient, user: StaffUser, password: str = PASSWORD) -> Any:
    token = csrf_token(client, "/login")
    return client.post(
        "/login", data={"csrf_token": token, "username": user.username, "password": password}
    )


@pytest.fixture
def signed_in(client: FlaskClient, make_user: Any) -> Any:
    """Sign a new account of ``role`` in on ``client`` and return it."""

    def sign_in(role: Role = Role.CLERK) -> StaffUser:
        user: StaffUser = make_user(role)
        response = login(client, user)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return sign_in


def make_clerk_client(app: Flask, user: StaffUser) -> FlaskClient:
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def needs_redis() -> str:
    if not REDIS_URL:
        pytest.skip("IDSYS_TEST_REDIS_URL is not set: no Redis server to test against")
    return REDIS_URL


def register_partner(
    keys: KeyRing,
    *,
    name: str = "Branch library",
    kind: PartnerKind = PartnerKind.LIBRARY,
    scope: Scope = Scope.STATUS,
    quota: int = 100,
    contact: str = "",
) -> str:
    """Register a partner in the current app context and commit; returns its API key."""
    _, key = partners.create_partner(
        db.session,
        keys,
        SYSTEM,
        name=name,
        kind=kind,
        contact=contact,
        scope=scope,
        daily_quota=quota,
    )
    db.session.commit()
    return key


def needs_postgres() -> str:
    if not PG_URL:
        pytest.skip("IDSYS_TEST_DATABASE_URL is not set: no PostgreSQL server to test against")
    return PG_URL


@pytest.fixture
def own_app(keys: KeyRing, tmp_path: Path) -> Iterator[Flask]:
    """An app on a scratch PostgreSQL database of its own, through its own engine as in
    production: its sessions commit for real, and the partner API's statements run directly
    (`idsys.db.statements`), which a session joined to a test's outer transaction cannot."""
    with scratch_database(needs_postgres(), "idsys_engine") as url:
        app = build_app(url, tmp_path / "instance", keys)
        migrate_to_head(app)
        try:
            yield app
        finally:
            app.extensions["idsys.db"].engine.dispose()
