"""Pre-applications: filled in by the resident, stored encrypted, claimed once at the counter,
and deleted when nobody claims them within the policy's days."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import Any

import pytest
from babel.dates import format_date
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idsys.applications import services as applications
from idsys.applications.models import Application
from idsys.audit.models import AuditEvent
from idsys.auth.models import Role
from idsys.crypto import DecryptionError, KeyPurpose, KeyRing
from idsys.db import db
from idsys.policy import local_date
from idsys.residents import services
from idsys.residents.models import PreApplication
from tests.conftest import TODAY, csrf_token, login, sample_profile

CODE_RE = re.compile(r'<span aria-hidden="true">([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2})</span>')

FORM = {
    "given_names": "María José",
    "family_names": "Hernández Cruz",
    "date_of_birth": "1991-07-14",
    "address_kind": "home",
    "line1": "Calle Dr. Vértiz 120",
    "city": "Ciudad de México",
    "postal_code": "03020",
    "phone": "+52 55 2222 3333",
    "email": "",
    "gender": "F",
    "language1": "es",
    "language2": "nah",
    "documents": ["voter_card", "electricity_receipt"],
}


def pre_apply(client: FlaskClient, **changes: Any) -> Any:
    data = {**FORM, **changes, "csrf_token": csrf_token(client, "/apply")}
    return client.post("/apply", data=data)


def code_of(client: FlaskClient) -> str:
    match = CODE_RE.search(client.get("/apply/slip").get_data(as_text=True))
    assert match, "no code on the slip"
    return match.group(1)


def test_the_form_shows_which_documents_qualify_and_their_points(client: FlaskClient) -> None:
    page = client.get("/apply").get_data(as_text=True)
    assert "Voter card" in page and "Electricity receipt" in page
    assert "1 identity point" in page and "1 residence point" in page
    assert "at most 90 days old" in page  # the receipts' recency window
    assert "at least 30 days" in page  # the city's minimum residence
    assert 'lang="ht"' in page  # language names are marked for screen readers


def test_the_form_in_spanish(client: FlaskClient) -> None:
    page = client.get("/apply", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert '<html lang="es">' in page
    assert "Credencial para votar" in page and "1 punto de identidad" in page
    assert "Llene sus datos antes de su visita" in page


def test_pre_application_gives_a_code_a_qr_and_a_slip(app: Flask, client: FlaskClient) -> None:
    response = pre_apply(client)
    assert response.status_code == 302 and response.headers["Location"] == "/apply/slip"
    slip = client.get("/apply/slip")
    page = slip.get_data(as_text=True)
    assert slip.status_code == 200
    assert CODE_RE.search(page)
    assert "<svg" in page and 'role="img"' in page
    assert "Voter card" in page and "Electricity receipt" in page
    assert "Valid until December 22, 2026" in page or "Valid until" in page
    assert "María" not in page and "Hernández" not in page  # the slip names no one
    assert "may not be enough" not in page  # one identity and one residence document: enough
    with app.app_context():
        row = db.session.scalars(select(PreApplication)).one()
        assert row.code == code_of(client).replace("-", "")


def test_the_slip_warns_when_the_documents_may_not_be_enough(client: FlaskClient) -> None:
    pre_apply(client, documents=["voter_card"])
    page = client.get("/apply/slip").get_data(as_text=True)
    assert "These documents may not be enough" in page
    assert "Proof of residence: 0 of 1 points." in page


def test_stored_encrypted_and_bound_to_its_row(app: Flask, client: FlaskClient) -> None:
    pre_apply(client)
    pre_apply(client, given_names="Otra Persona")
    with app.app_context():
        keys: KeyRing = app.extensions["idsys.keyring"]
        first, second = db.session.scalars(
            select(PreApplication).order_by(PreApplication.created_at)
        ).all()
        for column in (first.payload_ct, first.wrapped_dek, first.code.encode()):
            assert b"Mar" not in column and "María".encode() not in column
        assert services.read_pre_application(keys, first).profile.given_names == "María José"
        first.payload_ct = second.payload_ct  # a ciphertext moved to another row
        with pytest.raises(DecryptionError):
            services.read_pre_application(keys, first)
        db.session.rollback()


def test_profile_rules_apply_and_speak_the_residents_language(client: FlaskClient) -> None:
    response = pre_apply(client, given_names="", family_names="", line1="")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter the name as it appears on the identity document." in page
    assert 'id="given_names-error"' in page and 'aria-invalid="true"' in page
    client.post("/language", data={"lang": "ht", "csrf_token": csrf_token(client, "/apply")})
    page = pre_apply(client, given_names="", family_names="").get_data(as_text=True)
    assert "Ekri non an jan li ekri sou dokiman idantite a." in page


def test_an_unknown_document_is_refused(client: FlaskClient) -> None:
    response = pre_apply(client, documents=["voter_card", "library_card"])
    assert response.status_code == 400
    assert "Choose documents from the list." in response.get_data(as_text=True)


def test_counter_hand_off(app: Flask, client: FlaskClient, make_user: Any) -> None:
    """The clerk pulls the data into a new draft; the code works once; documents are only a
    checklist, never recorded as seen."""
    pre_apply(client)
    code = code_of(client)
    clerk = make_user(Role.CLERK)
    counter = app.test_client()
    login(counter, clerk)

    found = counter.get(f"/intake/pre-applications/?code={code.lower().replace('-', '')}")
    page = found.get_data(as_text=True)
    assert found.status_code == 200
    assert "María José Hernández Cruz" in page and "1991-07-14" in page
    assert "Voter card" in page and "Electricity receipt" in page

    token = csrf_token(counter, f"/intake/pre-applications/?code={code}")
    claimed = counter.post(
        "/intake/pre-applications/claim", data={"csrf_token": token, "code": code}
    )
    page = claimed.get_data(as_text=True)
    assert claimed.status_code == 200
    reference = re.search(r"Application ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}) started", page)
    assert reference, page
    assert "Voter card" in page and 'type="checkbox"' in page

    with app.app_context():
        application = applications.get_application(db.session, reference.group(1))
        assert application.status == "draft" and application.created_by == clerk.id
        assert application.documents == []  # planned, not seen
        applicant = applications.applicant_of(db.session, application)
        assert applicant is not None
        profile = applications.read_profile(app.extensions["idsys.keyring"], applicant)
        assert (profile.given_names, profile.family_names) == ("María José", "Hernández Cruz")
        assert profile.date_of_birth.isoformat() == "1991-07-14"
        assert profile.address.line1 == "Calle Dr. Vértiz 120"
        assert profile.languages == ("es", "nah")
        assert db.session.scalar(select(func.count()).select_from(PreApplication)) == 0
        actions = db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("pre_application.%"))
            .order_by(AuditEvent.seq)
        ).all()
        # Created by the resident, opened twice by the clerk (the look, then the form), claimed.
        assert actions == [
            "pre_application.create",
            "pre_application.open",
            "pre_application.open",
            "pre_application.claim",
        ]

    # The profile step shows the resident's details to the clerk.
    details = counter.get(f"/intake/{application.reference}/details").get_data(as_text=True)
    assert "Hernández Cruz" in details

    # The code no longer works, at the counter or on the resident's slip.
    again = counter.post("/intake/pre-applications/claim", data={"csrf_token": token, "code": code})
    assert again.status_code == 302
    assert "No pre-application has this code" in counter.get(again.headers["Location"]).get_data(
        as_text=True
    )
    assert counter.get(f"/intake/pre-applications/?code={code}").status_code == 404
    assert client.get("/apply/slip").headers["Location"] == "/apply"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Application)) == 1


def test_a_mistyped_code_at_the_counter_is_named(
    app: Flask, client: FlaskClient, make_user: Any
) -> None:
    pre_apply(client)
    code = code_of(client)
    counter = app.test_client()
    login(counter, make_user(Role.CLERK))
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    response = counter.get(f"/intake/pre-applications/?code={wrong}")
    assert response.status_code == 400
    assert "typing mistake" in response.get_data(as_text=True)


def test_the_resident_can_remove_the_slip_from_a_shared_computer(client: FlaskClient) -> None:
    pre_apply(client)
    token = csrf_token(client, "/apply/slip")
    assert client.post("/apply/finish", data={"csrf_token": token}).status_code == 302
    assert client.get("/apply/slip").headers["Location"] == "/apply"


def _age(app: Flask, days: int) -> None:
    """Make every pre-application ``days`` days older."""
    with app.app_context():
        for row in db.session.scalars(select(PreApplication)):
            row.created_at = row.created_at - timedelta(days=days)
        db.session.commit()


def test_unclaimed_pre_applications_expire(app: Flask, client: FlaskClient) -> None:
    pre_apply(client)
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        keys = app.extensions["idsys.keyring"]
        row = db.session.scalars(select(PreApplication)).one()
        code = row.code
        created_on = local_date(rules, row.created_at.replace(tzinfo=UTC))
        last_day = created_on + timedelta(days=rules.pre_application_days)
        assert services.expires_on(rules, row.created_at) == last_day
        # Claimable through its last day, not after (even before the nightly purge).
        services.find_pre_application(db.session, rules, code, today=last_day)
        with pytest.raises(services.PreApplicationNotFound):
            services.find_pre_application(
                db.session, rules, code, today=last_day + timedelta(days=1)
            )
        # The purge keeps it through its last day and deletes it the day after.
        assert services.purge_pre_applications(db.session, keys, rules, last_day) == 0
        assert (
            services.purge_pre_applications(db.session, keys, rules, last_day + timedelta(days=1))
            == 1
        )
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(PreApplication)) == 0


def test_purge_command_deletes_expired_pre_applications(app: Flask, client: FlaskClient) -> None:
    pre_apply(client)
    pre_apply(client)
    _age(app, 31)  # older than the Mexico City policy's 30 days
    pre_apply(client)  # a fresh one stays
    result = app.test_cli_runner().invoke(args=["idsys", "purge"])
    assert result.exit_code == 0, result.output
    assert "Deleted 2 unclaimed pre-applications" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PreApplication)) == 1
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "pre_applications.purge")
        ).one()
        assert event.detail == "deleted=2"


def test_key_rotation_rewraps_pre_applications(
    app: Flask, client: FlaskClient, tmp_path: Any
) -> None:
    """A pre-application made before a rotation is still readable after the old key retires."""
    from idsys.crypto import FileKeyProvider

    keys = KeyRing.open(
        FileKeyProvider(tmp_path / "rotating.json", strict_permissions=True),
        generate_missing=True,
        required=tuple(KeyPurpose),
    )
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        data = services.PreApplicationData(profile=sample_profile(), documents=("passport",))
        row = services.create_pre_application(db.session, keys, rules, data, today=TODAY)
        db.session.commit()
        old = keys.active(KeyPurpose.KEK).kid
        report = applications.rotate_data_keys(db.session, keys, settle_seconds=0)
        assert report.retired == (old,)
        db.session.refresh(row)
        assert row.kek_id == report.target_kek_id
        assert services.read_pre_application(keys, row).documents == ("passport",)


def test_rate_limited_per_client(app_factory: Any) -> None:
    app = app_factory(RESIDENT_PRE_APPLICATION_LIMIT="2 per hour")
    client = app.test_client()
    assert pre_apply(client).status_code == 302
    mistake = pre_apply(client, given_names="", family_names="")
    assert mistake.status_code == 400  # a form sent back for correction does not count
    assert pre_apply(client).status_code == 302
    assert pre_apply(client).status_code == 429


def test_no_status_or_origin_is_asked(client: FlaskClient) -> None:
    page = client.get("/apply").get_data(as_text=True).lower()
    for word in ("nationality", "immigration", "country of birth", "citizenship"):
        # Named once, in the sentence that says we never ask; never as a field.
        assert f'name="{word}' not in page


def test_dates_on_the_slip_follow_the_language(app: Flask, client: FlaskClient) -> None:
    pre_apply(client)
    with app.app_context():
        row = db.session.scalars(select(PreApplication)).one()
        last_day = services.expires_on(app.extensions["idsys.policy"], row.created_at)
    for lang in ("en", "es", "fr", "ht", "pt"):
        client.post("/language", data={"lang": lang, "csrf_token": csrf_token(client, "/apply")})
        page = client.get("/apply/slip").get_data(as_text=True)
        assert f'<html lang="{lang}">' in page
        assert format_date(last_day, "long", locale=lang) in page


def test_raw_sqlite_file_holds_no_plaintext(app: Flask, client: FlaskClient, tmp_path: Any) -> None:
    """What a resident writes is only in the ciphertext: a stolen database file shows none of it."""
    pre_apply(client, given_names="Zyxwvutsrq", email="pre.application@zork.example")
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("this run uses PostgreSQL; the pg_dump test covers applicant records")
        assert db.session.scalar(select(func.count()).select_from(PreApplication)) == 1
        db.session.close()
        db.engine.dispose()  # checkpoint the WAL into the main file
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("idsys.sqlite3*"))
    assert len(raw) > 10_000
    for fragment in ("Zyxwvutsrq", "zork.example", "Hernández", "Vértiz", "1991-07-14"):
        assert fragment.encode() not in raw, fragment
