"""Hostile QR texts through the API: never a 500, never a false `valid` (property-based)."""

from __future__ import annotations

import zlib
from typing import Any

import cbor2
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idsys.crypto import KeyRing
from idsys.crypto.base45 import b45encode
from idsys.db import db
from idsys.verification.models import Scope
from tests.conftest import register_partner

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


@pytest.fixture
def api(app: Flask, keys: KeyRing, make_card: Any) -> tuple[FlaskClient, str, str]:
    """A client, a partner key with the widest scope, and a genuine QR text."""
    card_id, _ = make_card(printed=True)
    with app.app_context():
        key = register_partner(keys, name="Fuzz Library", scope=Scope.PHOTO, quota=1_000_000)
        from idsys.applications.models import Applicant
        from idsys.cards import services as cards
        from idsys.cards.models import Card

        card = db.session.get(Card, card_id)
        assert card is not None
        applicant = db.session.get(Applicant, card.applicant_id)
        assert applicant is not None
        qr = cards.qr_text(
            keys, card, applicant, app.extensions["idsys.policy"], "https://id.example.org"
        )
    return app.test_client(), key, qr


def _ask(client: FlaskClient, key: str, qr: str) -> Any:
    response = client.post(
        "/api/v1/verifications", json={"qr": qr}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code < 500
    return response


def _wrap(obj: Any) -> str:
    return b45encode(zlib.compress(cbor2.dumps(obj)))


def test_genuine_card_is_valid(api: tuple[FlaskClient, str, str]) -> None:
    client, key, qr = api
    assert _ask(client, key, qr).json["result"] == "valid"


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_qr_texts_are_never_valid(
    api: tuple[FlaskClient, str, str], data: st.DataObject
) -> None:
    client, key, qr = api
    chars = list(qr)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(chars) - 1))
        operation = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        if operation == "replace":
            chars[position] = data.draw(st.sampled_from(BASE45))
        elif operation == "delete" and len(chars) > 1:
            del chars[position]
        else:
            chars.insert(position, data.draw(st.sampled_from(BASE45)))
    mutated = "".join(chars)
    response = _ask(client, key, mutated)
    if mutated != qr:
        assert response.status_code in {200, 422}
        if response.status_code == 200:
            assert response.json["result"] != "valid"


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(min_size=1, max_size=600))
def test_random_text_is_never_valid(api: tuple[FlaskClient, str, str], text: str) -> None:
    client, key, _ = api
    response = _ask(client, key, text)
    if response.status_code == 200:
        assert response.json["result"] == "invalid"


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("malformed base45", "GGW:::"),
        ("not zlib", b45encode(b"\x00" * 40)),
        ("zlib bomb", b45encode(zlib.compress(b"\x00" * 2_000_000, 9))),
        ("oversized body", "A" * 20_000),
        ("deep cbor", b45encode(zlib.compress(b"\x81" * 10_000 + b"\x00"))),
        ("huge cbor length", b45encode(zlib.compress(b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff"))),
        (
            "wrong algorithm",
            _wrap(
                cbor2.CBORTag(
                    18,
                    [cbor2.dumps({1: -37, 4: b"s000000"}), {}, cbor2.dumps({1: "x"}), b"\x00" * 64],
                )
            ),
        ),
        (
            "unknown key",
            _wrap(
                cbor2.CBORTag(
                    18, [cbor2.dumps({1: -8, 4: b"nope"}), {}, cbor2.dumps({1: "x"}), b"\x00" * 64]
                )
            ),
        ),
        ("no signature", _wrap(cbor2.CBORTag(18, [cbor2.dumps({1: -8}), {}, b"", b""]))),
    ],
)
def test_named_hostile_inputs(api: tuple[FlaskClient, str, str], name: str, payload: str) -> None:
    client, key, _ = api
    response = _ask(client, key, payload)
    assert response.status_code in {200, 413, 422}, name
    if response.status_code == 200:
        assert response.json["result"] == "invalid", name


def test_tampered_claim_with_valid_structure(api: tuple[FlaskClient, str, str]) -> None:
    """Re-encode the genuine token with one claim changed: the signature no longer matches."""
    from idsys.crypto.base45 import b45decode

    client, key, qr = api
    envelope = cbor2.loads(zlib.decompress(b45decode(qr)))
    protected, unprotected, payload, signature = envelope.value
    claims = cbor2.loads(payload)
    claims[169][4] = "Somebody Else"
    forged = _wrap(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature]))
    response = _ask(client, key, forged)
    assert response.json == {**response.json, "result": "invalid", "reason": "bad_signature"}


def test_expired_token(app: Flask, api: tuple[FlaskClient, str, str], keys: KeyRing) -> None:
    """A genuine token past its exp answers `expired`, never `valid`."""
    from datetime import UTC, date, datetime

    from idsys.crypto import KeyPurpose
    from idsys.crypto.claim169 import CardClaims, encode

    client, key, qr = api
    from idsys.crypto.base45 import b45decode

    claims = cbor2.loads(cbor2.loads(zlib.decompress(b45decode(qr))).value[2])
    kid = keys.active(KeyPurpose.SIGNING).kid
    old = encode(
        CardClaims(claims[169][1], claims[169][4], date(1988, 2, 29), "F"),
        issuer="https://id.example.org",
        issued_at=datetime(2015, 1, 1, tzinfo=UTC),
        expires_at=datetime(2020, 1, 1, tzinfo=UTC),
        private_key=keys.signing_key(kid),
        kid=kid,
    )
    assert _ask(client, key, old).json["result"] == "expired"
