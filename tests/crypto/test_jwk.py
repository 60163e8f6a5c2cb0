"""JWK set export for /.well-known/jwks.json and the strict import offline verifiers rely on."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from idsys.crypto.jwk import (
    JWKError,
    PublicKey,
    jwk_from_public_key,
    jwk_set,
    jwk_thumbprint,
    parse_jwk_set,
    public_key_from_jwk,
)

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

# RFC 8037 Appendix A.1/A.2: the Ed25519 example key, and its A.3 thumbprint.
RFC_8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC_8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


@pytest.fixture
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def es_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def ed_jwk(ed_key: ed25519.Ed25519PrivateKey) -> dict[str, Any]:
    return dict(jwk_from_public_key(ed_key.public_key(), "ed-1"))


@pytest.fixture
def es_jwk(es_key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    return dict(jwk_from_public_key(es_key.public_key(), "es-1"))


def test_export_members(
    ed_key: ed25519.Ed25519PrivateKey, es_key: ec.EllipticCurvePrivateKey
) -> None:
    ed = jwk_from_public_key(ed_key.public_key(), "ed-1")
    assert ed == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64(_raw(ed_key.public_key())),
        "alg": "EdDSA",
        "use": "sig",
        "kid": "ed-1",
    }
    es = jwk_from_public_key(es_key.public_key(), "es-1")
    numbers = es_key.public_key().public_numbers()
    assert es == {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
        "alg": "ES256",
        "use": "sig",
        "kid": "es-1",
    }


def test_set_round_trip_through_json(
    ed_key: ed25519.Ed25519PrivateKey, es_key: ec.EllipticCurvePrivateKey
) -> None:
    public: dict[str, PublicKey] = {"ed-1": ed_key.public_key(), "es-1": es_key.public_key()}
    document = jwk_set(public)
    text = json.dumps(document)
    for jwk in document["keys"]:
        assert not PRIVATE_MEMBERS & jwk.keys()
    parsed = parse_jwk_set(text)
    assert list(parsed) == ["ed-1", "es-1"]
    ed_pub, es_pub = parsed["ed-1"], parsed["es-1"]
    assert isinstance(ed_pub, ed25519.Ed25519PublicKey)
    assert isinstance(es_pub, ec.EllipticCurvePublicKey)
    assert _raw(ed_pub) == _raw(ed_key.public_key())
    assert _point(es_pub) == _point(es_key.public_key())
    assert parse_jwk_set(text.encode()).keys() == parsed.keys()
    assert parse_jwk_set(document).keys() == parsed.keys()


def test_set_accepts_pairs_and_keeps_order(ed_key: ed25519.Ed25519PrivateKey) -> None:
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    document = jwk_set([("b", ed_key.public_key()), ("a", other)])
    assert [jwk["kid"] for jwk in document["keys"]] == ["b", "a"]
    with pytest.raises(JWKError, match="duplicate"):
        jwk_set([("a", ed_key.public_key()), ("a", other)])


def test_empty_set() -> None:
    assert jwk_set({}) == {"keys": []}
    assert parse_jwk_set('{"keys": []}') == {}


def test_private_key_objects_are_refused(
    ed_key: ed25519.Ed25519PrivateKey, es_key: ec.EllipticCurvePrivateKey
) -> None:
    for private in (ed_key, es_key):
        with pytest.raises(JWKError):
            jwk_from_public_key(private, "x")  # type: ignore[arg-type]
        with pytest.raises(JWKError):
            jwk_set({"x": private})  # type: ignore[arg-type]


def test_other_curves_are_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(JWKError, match="P-256"):
        jwk_from_public_key(p384, "x")


@pytest.mark.parametrize("kid", ["", "a\nb", "x" * 65])
def test_bad_kid_refused_on_export(ed_key: ed25519.Ed25519PrivateKey, kid: str) -> None:
    with pytest.raises(JWKError):
        jwk_from_public_key(ed_key.public_key(), kid)


def test_rfc_8037_example_key_and_thumbprint() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": RFC_8037_X, "kid": "rfc"}
    key = public_key_from_jwk(jwk)
    assert isinstance(key, ed25519.Ed25519PublicKey)
    assert _b64(_raw(key)) == RFC_8037_X
    assert jwk_thumbprint(key) == RFC_8037_THUMBPRINT


def test_thumbprint_differs_per_key(
    ed_key: ed25519.Ed25519PrivateKey, es_key: ec.EllipticCurvePrivateKey
) -> None:
    prints = {jwk_thumbprint(ed_key.public_key()), jwk_thumbprint(es_key.public_key())}
    assert len(prints) == 2
    assert all(len(p) == 43 for p in prints)


@pytest.mark.parametrize("member", sorted(PRIVATE_MEMBERS))
def test_import_refuses_private_members(ed_jwk: dict[str, Any], member: str) -> None:
    ed_jwk[member] = _b64(b"\x01" * 32)
    with pytest.raises(JWKError, match="private"):
        parse_jwk_set({"keys": [ed_jwk]})


def test_import_refuses_point_off_curve(es_jwk: dict[str, Any]) -> None:
    y = bytearray(base64.urlsafe_b64decode(es_jwk["y"] + "="))
    y[-1] ^= 1
    es_jwk["y"] = _b64(bytes(y))
    with pytest.raises(JWKError, match="curve"):
        parse_jwk_set({"keys": [es_jwk]})


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("x", _b64(b"\x01" * 31)),  # too short
        ("x", _b64(b"\x01" * 33)),  # too long
        ("x", _b64(b"\x01" * 32) + "="),  # padded
        ("x", "not base64url!"),
        ("x", 12),
        ("kid", ""),
        ("kid", 5),
        ("alg", "ES256"),  # contradicts an Ed25519 key
        ("alg", "none"),
    ],
)
def test_import_refuses_bad_ed25519_members(
    ed_jwk: dict[str, Any], member: str, value: object
) -> None:
    ed_jwk[member] = value
    with pytest.raises(JWKError):
        parse_jwk_set({"keys": [ed_jwk]})


def test_import_refuses_alg_mismatch_on_ec(es_jwk: dict[str, Any]) -> None:
    es_jwk["alg"] = "EdDSA"
    with pytest.raises(JWKError):
        parse_jwk_set({"keys": [es_jwk]})


def test_import_refuses_missing_kid(ed_jwk: dict[str, Any]) -> None:
    del ed_jwk["kid"]
    with pytest.raises(JWKError, match="kid"):
        parse_jwk_set({"keys": [ed_jwk]})


def test_import_refuses_duplicate_kid(ed_jwk: dict[str, Any], es_jwk: dict[str, Any]) -> None:
    es_jwk["kid"] = ed_jwk["kid"]
    with pytest.raises(JWKError, match="duplicate"):
        parse_jwk_set({"keys": [ed_jwk, es_jwk]})


def test_import_skips_key_types_it_does_not_use(ed_jwk: dict[str, Any]) -> None:
    rsa = {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa"}
    p384 = {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"}
    encryption = dict(ed_jwk, kid="enc", use="enc")
    parsed = parse_jwk_set({"keys": [rsa, p384, encryption, ed_jwk]})
    assert list(parsed) == [ed_jwk["kid"]]


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        b"\xff\xfe",
        "[]",
        '{"keys": {}}',
        '{"keys": [1]}',
        "{}",
        '{"keys": [' + ",".join(['{"kty": "RSA"}'] * 65) + "]}",
        '{"keys": ["' + "a" * 70_000 + '"]}',
    ],
)
def test_import_refuses_malformed_sets(document: str | bytes) -> None:
    with pytest.raises(JWKError):
        parse_jwk_set(document)
