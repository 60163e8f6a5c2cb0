"""Card issuance end to end: batch PDF → 300 dpi raster → zbar → an independent Claim 169
verifier holding only the key published at /.well-known/jwks.json. Lifecycle and key rotation."""

from __future__ import annotations

import base64
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import claim169 as independent
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idsys.applications.models import Application
from idsys.audit.services import Actor
from idsys.auth.models import Role
from idsys.cards import services
from idsys.cards.labels import card_labels
from idsys.cards.models import Card, PrintBatch
from idsys.cards.numbers import InvalidCardNumber, new_card_number, normalise
from idsys.crypto import KeyPurpose, KeyRing
from idsys.db import db
from tests.conftest import TODAY, csrf_token, login, sample_profile

SUPERVISOR = Actor(None, "supervisor")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        package = "zbar-tools" if name == "zbarimg" else "poppler-utils"
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return path


def _decode_qr(pdf_path: Path, page: int) -> str:
    prefix = pdf_path.with_name(f"{pdf_path.stem}-{page}")
    subprocess.run(
        [
            _tool("pdftoppm"),
            "-r",
            "300",
            "-f",
            str(page),
            "-l",
            str(page),
            "-png",
            "-singlefile",
            str(pdf_path),
            str(prefix),
        ],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [_tool("zbarimg"), "--quiet", "--raw", str(prefix) + ".png"],
        check=True,
        capture_output=True,
    )
    return out.stdout.decode("ascii").strip()


def _raw_key(jwks: dict[str, Any], kid: str) -> bytes:
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and "d" not in key
    return base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))


def _render(app: Flask, keys: KeyRing, batch_id: int, tmp_path: Path) -> Path:
    with app.app_context():
        batch = db.session.get(PrintBatch, batch_id)
        assert batch is not None
        rules = app.extensions["idsys.policy"]
        return services.render_batch_file(
            db.session,
            keys,
            batch,
            rules,
            issuer="https://id.example.org",
            labels=card_labels(rules),
            layout="card_printer",
            directory=tmp_path,
        )


def test_printed_qr_verifies_with_only_the_published_key(
    app: Flask, client: FlaskClient, keys: KeyRing, make_card: Any, tmp_path: Path
) -> None:
    card_id, batch_id = make_card(sample_profile(given_names="Zoë", family_names="Ñúñez-Đặng"))
    pdf_path = _render(app, keys, batch_id, tmp_path)
    text = _decode_qr(pdf_path, page=2)  # the back of the first card
    jwks = client.get("/.well-known/jwks.json").json
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None
        kid, number = card.signing_kid, card.number
    assert kid is not None
    verified = independent.decode_with_ed25519(text, _raw_key(jwks, kid))
    assert verified.claim169.id == number
    assert verified.claim169.full_name == "Zoë Ñúñez-Đặng"
    assert verified.claim169.date_of_birth == "19880229"
    assert verified.claim169.gender == 2  # F
    # One character changed anywhere: never accepted.
    for position in (0, len(text) // 2, len(text) - 1):
        changed = text[:position] + ("A" if text[position] != "A" else "B") + text[position + 1 :]
        with pytest.raises(Exception):  # noqa: B017, PT011  (any refusal of the independent lib)
            independent.decode_with_ed25519(changed, _raw_key(jwks, kid))


def test_rotated_key_keeps_verifying_until_retired(
    app: Flask, client: FlaskClient, make_card: Any, tmp_path: Path
) -> None:
    card_id, batch_id = make_card()
    keys: KeyRing = app.extensions["idsys.keyring"]
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None
        old_kid = card.signing_kid
        assert old_kid is not None
        runner = app.test_cli_runner()
        rotated = runner.invoke(args=["idsys", "rotate-signing-key"])
        assert rotated.exit_code == 0, rotated.output
        new_kid = keys.active(KeyPurpose.SIGNING).kid
        assert new_kid != old_kid
    text = _decode_qr(_render(app, keys, batch_id, tmp_path), page=2)
    jwks = client.get("/.well-known/jwks.json").json
    assert {k["kid"] for k in jwks["keys"]} >= {old_kid, new_kid}
    assert independent.decode_with_ed25519(text, _raw_key(jwks, old_kid)).claim169.id
    retired = app.test_cli_runner().invoke(
        args=["idsys", "retire-signing-key", old_kid], input="y\n"
    )
    assert retired.exit_code == 0, retired.output
    assert old_kid not in {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}


def test_card_numbers() -> None:
    numbers = {new_card_number() for _ in range(5000)}
    assert len(numbers) == 5000
    assert all(len(n) == 12 and n[0] != "0" and normalise(n) == n for n in numbers)
    number = next(iter(numbers))
    assert normalise(f"{number[:4]} {number[4:8]}-{number[8:]}") == number
    for position in range(12):
        for digit in "0123456789":
            if digit != number[position]:
                with pytest.raises(InvalidCardNumber):
                    normalise(number[:position] + digit + number[position + 1 :])
    for position in range(11):
        if number[position] != number[position + 1]:
            swapped = (
                number[:position] + number[position + 1] + number[position] + number[position + 2 :]
            )
            with pytest.raises(InvalidCardNumber):
                normalise(swapped)
    from idsys.cards.numbers import _interim

    assert _interim("572") == 4


def test_print_queue_through_the_web(
    app: Flask, make_application: Any, make_user: Any, keys: KeyRing, tmp_path: Path
) -> None:
    from tests.conftest import mexico_city_documents

    ref = make_application(documents=mexico_city_documents(), submit=True)
    supervisor = app.test_client()
    login(supervisor, make_user(Role.SUPERVISOR))
    token = csrf_token(supervisor, f"/review/{ref}")
    supervisor.post(
        f"/review/{ref}",
        data={"csrf_token": token, "decision": "approve", "approve_codes": ["rules_satisfied"]},
    )
    page = supervisor.get("/cards/").get_data(as_text=True)
    assert ref[:4] in page and "Release into a new print batch" in page
    with app.app_context():
        application_id = db.session.scalars(select(Application.id)).one()
    released = supervisor.post(
        "/cards/release", data={"csrf_token": token, "applications": [str(application_id)]}
    )
    assert released.status_code == 302
    batch_url = released.headers["Location"]
    rendered = supervisor.post(
        f"{batch_url}/render", data={"csrf_token": token, "layout": "sheet_letter"}
    )
    assert rendered.status_code == 302
    progress = supervisor.get(f"{batch_url}/progress").json
    assert progress == {"done": 1, "total": 1, "finished": True, "stalled": False, "error": None}
    download = supervisor.get(f"{batch_url}/download/sheet_letter")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert (
        download.headers["Cache-Control"].startswith("no-store")
        or "max-age=0" in download.headers["Cache-Control"]
    )
    supervisor.post(f"{batch_url}/printed", data={"csrf_token": token})
    with app.app_context():
        card = db.session.scalars(select(Card)).one()
        assert card.status == "active" and card.printed_at is not None
        assert db.session.get(Application, application_id).status == "printed"  # type: ignore[union-attr]
    spool = Path(app.instance_path) / "print-spool"
    assert not list(spool.glob("batch-*.pdf")), "printed batches leave no PDF behind"
    clerk = app.test_client()
    login(clerk, make_user(Role.CLERK))
    token = csrf_token(clerk, f"/cards/{card.id}")
    clerk.post(f"/cards/{card.id}/hand-over", data={"csrf_token": token, "delivery": "pickup"})
    with app.app_context():
        assert db.session.get(Application, application_id).status == "issued"  # type: ignore[union-attr]


def test_lost_card_is_revoked_and_replaced(app: Flask, keys: KeyRing, make_card: Any) -> None:
    card_id, _ = make_card(printed=True)
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        old = db.session.get(Card, card_id)
        assert old is not None and old.status == "active"
        fresh = services.replace(
            db.session, keys, SUPERVISOR, rules, old, services.RevocationReason.STOLEN, TODAY
        )
        db.session.commit()
        assert old.status == "revoked" and old.revocation_reason == "stolen"
        assert fresh.number != old.number and fresh.expires_on == old.expires_on
        assert fresh.status == "pending_print"
        result = services.release_batch(
            db.session,
            keys,
            SUPERVISOR,
            rules,
            today=TODAY,
            issuer="https://id.example.org",
            labels=card_labels(rules),
        )
        assert result.batch is not None
        assert [(i.card_id, i.kind) for i in result.batch.items] == [(fresh.id, "replacement")]
        history = services.history(db.session, old.applicant_id)
        assert {c.id for c in history} == {old.id, fresh.id}


def test_renewal_only_inside_the_window(app: Flask, keys: KeyRing, make_card: Any) -> None:
    card_id, _ = make_card(printed=True)
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        card = db.session.get(Card, card_id)
        assert card is not None and card.expires_on is not None
        with pytest.raises(services.NotRenewable, match="outside the renewal window"):
            services.renew(db.session, keys, SUPERVISOR, rules, card, TODAY)
        near_expiry = card.expires_on - timedelta(days=30)
        fresh = services.renew(db.session, keys, SUPERVISOR, rules, card, near_expiry)
        assert fresh.expires_on is not None and fresh.expires_on > card.expires_on
        result = services.release_batch(
            db.session,
            keys,
            SUPERVISOR,
            rules,
            today=near_expiry,
            issuer="https://id.example.org",
            labels=card_labels(rules),
        )
        assert result.batch is not None and result.batch.items[0].kind == "renewal"
        services.mark_batch_printed(db.session, keys, SUPERVISOR, result.batch)
        assert card.status == "revoked" and card.revocation_reason == "superseded"
        assert fresh.status == "active"


def test_reprint_keeps_the_same_card(
    app: Flask, keys: KeyRing, make_card: Any, tmp_path: Path
) -> None:
    card_id, first_batch = make_card(printed=True)
    first = _decode_qr(_render(app, keys, first_batch, tmp_path / "a"), page=2)
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None
        batch = services.reprint(db.session, keys, SUPERVISOR, card)
        db.session.commit()
        again_id = batch.id
    again = _decode_qr(_render(app, keys, again_id, tmp_path / "b"), page=2)
    assert again == first  # same number, same signed QR


def test_expired_card_status(app: Flask, make_card: Any) -> None:
    card_id, _ = make_card(printed=True)
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None and card.expires_on is not None
        assert card.public_status(TODAY) == "valid"
        assert card.public_status(card.expires_on) == "valid"  # valid through its last day
        assert card.public_status(card.expires_on + timedelta(days=1)) == "expired"
        assert card.expires_on == date(TODAY.year + 5, TODAY.month, TODAY.day)


def test_release_reports_unprintable_names(
    app: Flask, keys: KeyRing, make_user: Any, make_application: Any
) -> None:
    from tests.conftest import mexico_city_documents

    ref = make_application(
        profile=sample_profile(given_names="Wolfeschlegelsteinhausen" * 4),
        documents=mexico_city_documents(),
        submit=True,
    )
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        actor = Actor(make_user(Role.SUPERVISOR).id, "supervisor")
        from idsys.applications import services as applications

        application = applications.get_application(db.session, ref)
        applications.decide_application(
            db.session,
            keys,
            actor,
            application,
            rules,
            TODAY,
            approve=True,
            codes=["rules_satisfied", "duplicate_checked"],
        )
        result = services.release_batch(
            db.session,
            keys,
            actor,
            rules,
            today=TODAY,
            issuer="https://id.example.org",
            labels=card_labels(rules),
        )
        assert result.batch is None
        assert result.problems and result.problems[0][0] == ref
        assert db.session.scalars(select(Card)).all() == []  # nothing half-issued
