"""Applicant data is unreadable at rest, bound to its row, rotatable and erasable."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from idsys.applications import services
from idsys.applications.models import Applicant, KeyRotationState
from idsys.applications.profile import Address, AddressKind
from idsys.audit.services import SYSTEM, verify_chain
from idsys.crypto import DecryptionError, KeyPurpose, KeyRing
from idsys.db import db
from tests.conftest import build_app, migrate_to_head, needs_postgres, sample_profile

TODAY = date(2026, 11, 22)
# Distinctive values: if any of them is found in the raw database, encryption failed.
SECRETS = [
    ("Xochiquetzal", "Tlatelolco-Quiñónez", "Avenida Zyxwvutsrq 4417", "Shelterzork"),
    ("Phượng Hoàng", "Trịnh Qwerty", "Rue Plumbago 9921", "Casa Vexillum"),
    ("Зоряна", "Щербакова-Юфф", "Yoknapatawpha 3", "Albergue Quokka"),
]


def _store_secrets(session: Session, keys: KeyRing) -> list[Applicant]:
    made = []
    for index, (given, family, street, shelter) in enumerate(SECRETS):
        profile = sample_profile(
            given_names=given,
            family_names=family,
            address=Address(line1=street, city="Ciudad de México", care_of=shelter),
            address_kind=AddressKind.CARE_OF,
            email=f"person{index}@mailzork.example",
            phone="+52 55 9988 7766",
        )
        made.append(services.create_applicant(session, keys, SYSTEM, profile, today=TODAY))
    session.commit()
    return made


def _assert_no_plaintext(raw: bytes) -> None:
    for values in SECRETS:
        for value in values:
            for form in {value, value.split()[0]}:
                assert form.encode() not in raw, f"{form!r} found in the raw database"
    for fragment in (b"mailzork", b"9988 7766", b"Ciudad de M"):
        assert fragment not in raw


def test_raw_sqlite_file_holds_no_plaintext(
    app: Flask, session: Session, keys: KeyRing, tmp_path: Path
) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("this run uses PostgreSQL; see the pg_dump test")
    made = _store_secrets(session, keys)
    assert services.read_profile(keys, made[0]).given_names == "Xochiquetzal"
    db.session.close()
    db.engine.dispose()  # checkpoint the WAL into the main file
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("idsys.sqlite3*"))
    assert len(raw) > 10_000
    _assert_no_plaintext(raw)


def test_pg_dump_holds_no_plaintext(keys: KeyRing, tmp_path: Path) -> None:
    url = needs_postgres()
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed (Debian package postgresql-client)")
    name = f"idsys_dump_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db_url = url.rsplit("/", 1)[0] + "/" + name
    try:
        app = build_app(db_url, tmp_path / "instance", keys)
        migrate_to_head(app)
        with app.app_context():
            _store_secrets(db.session, keys)
            db.session.close()
        app.extensions["idsys.db"].engine.dispose()
        dump = subprocess.run(
            ["pg_dump", "--no-owner", db_url.replace("+psycopg", "")],
            capture_output=True,
            check=True,
        ).stdout
        assert b"applicants" in dump and len(dump) > 5_000
        _assert_no_plaintext(dump)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_round_trip_keeps_every_field(session: Session, keys: KeyRing) -> None:
    profile = sample_profile(veteran=True, gender="X")
    applicant = services.create_applicant(session, keys, SYSTEM, profile, today=TODAY)
    session.commit()
    assert services.read_profile(keys, applicant) == profile.validated(TODAY)


def test_ciphertext_moved_to_another_applicant_fails(session: Session, keys: KeyRing) -> None:
    a, b, _ = _store_secrets(session, keys)
    b.profile_ct = a.profile_ct
    with pytest.raises(DecryptionError):
        services.read_profile(keys, b)


def test_wrapped_key_moved_to_another_applicant_fails(session: Session, keys: KeyRing) -> None:
    a, b, _ = _store_secrets(session, keys)
    b.wrapped_dek, b.profile_ct = a.wrapped_dek, a.profile_ct
    with pytest.raises(DecryptionError):
        services.read_profile(keys, b)


def test_photo_ciphertext_cannot_pose_as_the_profile(
    session: Session, keys: KeyRing, jpeg: bytes
) -> None:
    applicant = services.create_applicant(
        session, keys, SYSTEM, sample_profile(), photo=jpeg, today=TODAY
    )
    assert services.read_photo(keys, applicant) is not None
    applicant.profile_ct = applicant.photo_ct
    with pytest.raises(DecryptionError):
        services.read_profile(keys, applicant)


def test_one_flipped_bit_fails(session: Session, keys: KeyRing) -> None:
    applicant = services.create_applicant(session, keys, SYSTEM, sample_profile(), today=TODAY)
    assert applicant.profile_ct is not None
    applicant.profile_ct = applicant.profile_ct[:-1] + bytes([applicant.profile_ct[-1] ^ 1])
    with pytest.raises(DecryptionError):
        services.read_profile(keys, applicant)


def _rotation_keys(tmp_path: Path) -> KeyRing:
    from idsys.crypto import FileKeyProvider

    provider = FileKeyProvider(tmp_path / "rotating.json", strict_permissions=True)
    return KeyRing.open(provider, generate_missing=True, required=tuple(KeyPurpose))


def test_rotation_keeps_every_record_readable_and_retires_the_old_key(
    session: Session, tmp_path: Path
) -> None:
    keys = _rotation_keys(tmp_path)
    made = [
        services.create_applicant(
            session, keys, SYSTEM, sample_profile(given_names=f"Person {i}"), today=TODAY
        )
        for i in range(25)
    ]
    session.commit()
    old = keys.active(KeyPurpose.KEK).kid
    report = services.rotate_data_keys(session, keys, batch_size=7, settle_seconds=0)
    assert not report.resumed and report.rewrapped == 25
    assert report.retired == (old,)
    assert all(a.kek_id == report.target_kek_id for a in made)
    reopened = _rotation_keys(tmp_path)  # what another worker would load
    assert [e.kid for e in reopened.of_purpose(KeyPurpose.KEK)] == [report.target_kek_id]
    for i, applicant in enumerate(made):
        session.refresh(applicant)
        assert services.read_profile(reopened, applicant).given_names == f"Person {i}"
    assert verify_chain(session, keys).ok


def test_interrupted_rotation_resumes(session: Session, tmp_path: Path) -> None:
    keys = _rotation_keys(tmp_path)
    for i in range(20):
        services.create_applicant(
            session, keys, SYSTEM, sample_profile(given_names=f"P{i}"), today=TODAY
        )
    session.commit()
    old = keys.active(KeyPurpose.KEK).kid

    class Interrupted(Exception):
        pass

    def crash_after_first_batch(_done: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        services.rotate_data_keys(
            session, keys, batch_size=6, progress=crash_after_first_batch, settle_seconds=0
        )
    target = keys.active(KeyPurpose.KEK).kid
    counts = dict(
        session.execute(select(Applicant.kek_id, text("count(*)")).group_by(Applicant.kek_id)).all()
    )
    assert counts == {target: 6, old: 14}  # half-way: both keys in use, all readable
    for applicant in session.scalars(select(Applicant)):
        services.read_profile(keys, applicant)
    report = services.rotate_data_keys(session, keys, batch_size=6, settle_seconds=0)
    assert report.resumed and report.target_kek_id == target  # no third key was made
    assert report.rewrapped == 20 and report.retired == (old,)
    state = session.scalars(select(KeyRotationState)).one()
    assert state.finished_at is not None


def test_rotate_keys_command(app: Flask, make_applicant: Any) -> None:
    make_applicant()
    result = app.test_cli_runner().invoke(args=["idsys", "rotate-keys", "--batch-size", "10"])
    assert result.exit_code == 0, result.output
    assert "1 data keys to re-wrap" in result.output and "Done: 1 data keys" in result.output


def test_erasure_destroys_one_record_only(session: Session, keys: KeyRing) -> None:
    a, b, c = _store_secrets(session, keys)
    services.erase_applicant(session, keys, SYSTEM, b.id)
    session.commit()
    with pytest.raises(services.ApplicantErased):
        services.read_profile(keys, b)
    assert b.wrapped_dek is None and b.profile_ct is None and not b.match_keys
    assert services.read_profile(keys, a).given_names == SECRETS[0][0]
    assert services.read_profile(keys, c).given_names == SECRETS[2][0]
    with pytest.raises(services.ApplicantErased):
        services.erase_applicant(session, keys, SYSTEM, b.id)
    rows = session.execute(
        text(
            "SELECT action, target_id, actor_id FROM audit_events WHERE action = 'applicant.erase'"
        )
    ).all()
    assert rows == [("applicant.erase", str(b.id), None)]


def test_erase_command_asks_first(app: Flask, make_applicant: Any, keys: KeyRing) -> None:
    applicant = make_applicant()
    runner = app.test_cli_runner()
    declined = runner.invoke(args=["idsys", "erase", str(applicant.id)], input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    with app.app_context():
        services.read_profile(keys, services.get_applicant(db.session, applicant.id))
    done = runner.invoke(args=["idsys", "erase", str(applicant.id)], input="y\n")
    assert done.exit_code == 0 and "erased" in done.output
    missing = runner.invoke(args=["idsys", "erase", "not-a-uuid", "--yes"])
    assert missing.exit_code == 1 and "No applicant" in missing.output
