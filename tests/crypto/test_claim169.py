"""The card QR codec: round trips, independent verification, and hostile input.

Independent checks use the `claim169` package (a separate Rust implementation of MOSIP Claim 169)
and the `base45` package, never our own decoder, so a bug shared by our encoder and decoder
cannot hide.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import unicodedata
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import base45 as independent_base45
import cbor2
import claim169 as independent
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from idsys.crypto.base45 import ALPHABET, b45decode, b45encode
from idsys.crypto.claim169 import (
    _FORBIDDEN_CATEGORIES,
    DEFAULT_MAX_TEXT_LEN,
    BadSignatureError,
    CardClaims,
    Claim169Error,
    MalformedError,
    PrivateKey,
    PublicKey,
    UnknownKeyIdError,
    VerifiedCard,
    decode_and_verify,
    encode,
    qr_version_for,
)
from idsys.crypto.jwk import jwk_set, parse_jwk_set

ISSUER = "https://id.example.org"
ISSUED = datetime(2025, 3, 1, 9, 30, 15, tzinfo=UTC)
EXPIRES = datetime(2030, 3, 2, 5, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
KID = "card-2025-01"

NAMES = {
    "vietnamese": "Nguyễn Thị Minh Khai",
    "chinese": "王秀英",
    "cyrillic": "Александра Сергеевна Иванова-Петрова",
    "arabic": "فاطمة الزهراء بنت محمد",
    "persian_zwnj": "مهسا\u200cسادات",  # ZWNJ is part of correct spelling
    "combining": "Zoe\u0308 O\u2019Brien",  # decomposed form must not be normalised
}


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def es_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(params=["EdDSA", "ES256"])
def any_key(
    request: pytest.FixtureRequest,
    ed_key: ed25519.Ed25519PrivateKey,
    es_key: ec.EllipticCurvePrivateKey,
) -> PrivateKey:
    return ed_key if request.param == "EdDSA" else es_key


@pytest.fixture
def claims() -> CardClaims:
    return CardClaims(
        card_number="SPR-0001-2345-6",
        full_name="Nguyễn Thị Minh Khai",
        date_of_birth=date(1990, 1, 2),
        gender="F",
    )


def _encode(claims: CardClaims, key: PrivateKey, **overrides: Any) -> str:
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "issued_at": ISSUED,
        "expires_at": EXPIRES,
        "private_key": key,
        "kid": KID,
    }
    options.update(overrides)
    return encode(claims, **options)


def _keys(key: PrivateKey, kid: str = KID) -> dict[str, Any]:
    return {kid: key.public_key()}


def _unwrap(text: str) -> Any:
    """Open a QR text with independent Base45 plus zlib and cbor2: no idsys code involved."""
    return cbor2.loads(zlib.decompress(independent_base45.b45decode(text)))


def _payload(text: str) -> Any:
    return cbor2.loads(_unwrap(text).value[2])


def _wrap(cose: bytes) -> str:
    return b45encode(zlib.compress(cose))


def _raw_public(key: PrivateKey) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _independent_decode(text: str, key: PrivateKey) -> Any:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return independent.decode_with_ed25519(text, _raw_public(key))
    return independent.decode_with_ecdsa_p256(text, _raw_public(key))


def _sign_raw(
    key: ed25519.Ed25519PrivateKey,
    payload: bytes,
    *,
    protected: dict[int, Any] | None = None,
    unprotected: dict[int, Any] | None = None,
    tag: int = 18,
) -> str:
    """Build a correctly signed COSE_Sign1 around any payload, to reach the claims parser."""
    protected_bytes = cbor2.dumps({1: -8, 4: KID.encode()} if protected is None else protected)
    signature = key.sign(cbor2.dumps(["Signature1", protected_bytes, b"", payload]))
    body = [protected_bytes, unprotected or {}, payload, signature]
    return _wrap(cbor2.dumps(cbor2.CBORTag(tag, body)))


GOOD_PAYLOAD: dict[int, Any] = {
    1: ISSUER,
    6: 1_740_000_000,
    169: {1: "C-1", 4: "Ada Lovelace", 8: "18151210"},
}


# --- round trips ---------------------------------------------------------------------------------


def test_round_trip(any_key: PrivateKey, claims: CardClaims) -> None:
    card = decode_and_verify(_encode(claims, any_key), _keys(any_key), now=NOW)
    assert card == VerifiedCard(
        claims=claims,
        issuer=ISSUER,
        issued_at=ISSUED,
        expires_at=EXPIRES,
        kid=KID,
        algorithm="EdDSA" if isinstance(any_key, ed25519.Ed25519PrivateKey) else "ES256",
        expired=False,
    )


def test_wire_layout(any_key: PrivateKey, claims: CardClaims) -> None:
    cose = _unwrap(_encode(claims, any_key))
    assert cose.tag == 18
    protected, unprotected, payload, signature = cose.value
    alg = -8 if isinstance(any_key, ed25519.Ed25519PrivateKey) else -7
    assert cbor2.loads(protected) == {1: alg, 4: KID.encode()}
    assert dict(unprotected) == {}
    assert len(signature) == 64  # ES256 is raw r||s, not DER
    assert cbor2.loads(payload) == {
        1: ISSUER,
        4: int(EXPIRES.timestamp()),
        6: int(ISSUED.timestamp()),
        169: {1: "SPR-0001-2345-6", 4: "Nguyễn Thị Minh Khai", 8: "19900102", 9: 2},
    }


def test_qr_text_is_alphanumeric_mode(
    ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims
) -> None:
    text = _encode(claims, ed_key)
    assert set(text) <= set(ALPHABET)
    assert 1 <= qr_version_for(text) <= 12


@pytest.mark.parametrize(("gender", "code"), [("M", 1), ("F", 2), ("X", 3)])
def test_gender_codes(ed_key: ed25519.Ed25519PrivateKey, gender: Any, code: int) -> None:
    claims = CardClaims("C-1", "A B", date(2000, 1, 1), gender)
    text = _encode(claims, ed_key)
    assert _payload(text)[169][9] == code
    assert _independent_decode(text, ed_key).claim169.gender == code
    assert decode_and_verify(text, _keys(ed_key), now=NOW).claims.gender == gender


def test_gender_omitted_when_not_chosen(ed_key: ed25519.Ed25519PrivateKey) -> None:
    claims = CardClaims("C-1", "A B", date(2000, 1, 1))
    text = _encode(claims, ed_key)
    assert 9 not in _payload(text)[169]
    assert decode_and_verify(text, _keys(ed_key), now=NOW).claims.gender is None


@pytest.mark.parametrize(
    ("dob", "wire"),
    [
        (date(1990, 1, 2), "19900102"),
        (date(2004, 12, 31), "20041231"),
        (date(999, 3, 4), "09990304"),
    ],
)
def test_date_of_birth_is_yyyymmdd(ed_key: ed25519.Ed25519PrivateKey, dob: date, wire: str) -> None:
    text = _encode(CardClaims("C-1", "A B", dob), ed_key)
    assert _payload(text)[169][8] == wire
    assert decode_and_verify(text, _keys(ed_key), now=NOW).claims.date_of_birth == dob


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_names_survive_exactly(any_key: PrivateKey, name: str) -> None:
    claims = CardClaims("C-1", name, date(1980, 5, 6), "X")
    text = _encode(claims, any_key)
    assert decode_and_verify(text, _keys(any_key), now=NOW).claims.full_name == name
    assert _independent_decode(text, any_key).claim169.full_name == name


def test_no_expiry(ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims) -> None:
    text = _encode(claims, ed_key, expires_at=None)
    assert 4 not in _payload(text)
    card = decode_and_verify(text, _keys(ed_key), now=datetime(9999, 1, 1, tzinfo=UTC))
    assert card.expires_at is None
    assert not card.expired


def test_times_are_truncated_to_seconds_and_any_zone(
    ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims
) -> None:
    issued = ISSUED.astimezone(timezone(timedelta(hours=-7))) + timedelta(microseconds=999_999)
    card = decode_and_verify(_encode(claims, ed_key, issued_at=issued), _keys(ed_key), now=NOW)
    assert card.issued_at == ISSUED
    assert card.issued_at.tzinfo is UTC


def test_rotated_key_still_verifies(ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims) -> None:
    new_key = ed25519.Ed25519PrivateKey.generate()
    trusted = {"old": ed_key.public_key(), "new": new_key.public_key()}
    old_text = _encode(claims, ed_key, kid="old")
    new_text = _encode(claims, new_key, kid="new")
    assert decode_and_verify(old_text, trusted, now=NOW).kid == "old"
    assert decode_and_verify(new_text, trusted, now=NOW).kid == "new"


def test_verifies_with_keys_from_published_jwk_set(
    ed_key: ed25519.Ed25519PrivateKey, es_key: ec.EllipticCurvePrivateKey, claims: CardClaims
) -> None:
    public: dict[str, PublicKey] = {"ed": ed_key.public_key(), "es": es_key.public_key()}
    keys = parse_jwk_set(jwk_set(public))
    assert decode_and_verify(_encode(claims, ed_key, kid="ed"), keys, now=NOW).kid == "ed"
    assert decode_and_verify(_encode(claims, es_key, kid="es"), keys, now=NOW).kid == "es"


def test_trailing_scanner_newline_is_ignored(
    ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims
) -> None:
    text = _encode(claims, ed_key)
    for suffix in ("\n", "\r\n", "\r"):
        assert decode_and_verify(text + suffix, _keys(ed_key), now=NOW).claims == claims


# --- independent implementations ---------------------------------------------------------------


def test_independent_verifier_accepts_our_qr(any_key: PrivateKey, claims: CardClaims) -> None:
    result = _independent_decode(_encode(claims, any_key), any_key)
    assert result.is_verified()
    assert result.claim169.id == claims.card_number
    assert result.claim169.full_name == claims.full_name
    assert result.claim169.date_of_birth == "19900102"
    assert result.claim169.gender == 2
    assert result.cwt_meta.issuer == ISSUER
    assert result.cwt_meta.issued_at == int(ISSUED.timestamp())
    assert result.cwt_meta.expires_at == int(EXPIRES.timestamp())
    for absent in ("address", "nationality", "legal_status", "email", "phone", "photo"):
        assert getattr(result.claim169, absent) is None


def test_independent_verifier_rejects_other_key(any_key: PrivateKey, claims: CardClaims) -> None:
    other: PrivateKey = (
        ed25519.Ed25519PrivateKey.generate()
        if isinstance(any_key, ed25519.Ed25519PrivateKey)
        else ec.generate_private_key(ec.SECP256R1())
    )
    with pytest.raises(independent.Claim169Exception):
        _independent_decode(_encode(claims, any_key), other)


def test_independent_encoder_output_verifies(any_key: PrivateKey) -> None:
    """A QR made by another Claim 169 implementation, signed with our key, passes our verifier."""

    def sign(_alg: str, _kid: bytes | None, data: bytes) -> bytes:
        if isinstance(any_key, ed25519.Ed25519PrivateKey):
            return any_key.sign(data)
        r, s = decode_dss_signature(any_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    alg = "EdDSA" if isinstance(any_key, ed25519.Ed25519PrivateKey) else "ES256"
    data = independent.Claim169Input(
        id="C-9", full_name=NAMES["cyrillic"], date_of_birth="19750607", gender=1
    )
    meta = independent.CwtMetaInput(issuer=ISSUER, expires_at=int(EXPIRES.timestamp()))
    meta.issued_at = int(ISSUED.timestamp())
    text = independent.encode_with_signer(data, meta, sign, alg, key_id=KID.encode())
    card = decode_and_verify(text, _keys(any_key), now=NOW)
    assert card.claims == CardClaims("C-9", NAMES["cyrillic"], date(1975, 6, 7), "M")
    assert (card.issued_at, card.expires_at, card.algorithm) == (ISSUED, EXPIRES, alg)


# --- what may be put in the QR -----------------------------------------------------------------


def test_repr_hides_personal_fields(claims: CardClaims) -> None:
    assert repr(claims) == "CardClaims(card_number='SPR-0001-2345-6')"


def test_claims_type_holds_only_the_four_permitted_fields() -> None:
    names = {field.name for field in dataclasses.fields(CardClaims)}
    assert names == {"card_number", "full_name", "date_of_birth", "gender"}
    with pytest.raises(TypeError):
        CardClaims("C-1", "A B", date(2000, 1, 1), None, "nationality")  # type: ignore[call-arg]


def test_only_permitted_claims_on_the_wire(any_key: PrivateKey, claims: CardClaims) -> None:
    payload = _payload(_encode(claims, any_key))
    assert set(payload) == {1, 4, 6, 169}
    assert set(payload[169]) <= {1, 4, 8, 9}


@pytest.mark.parametrize(
    "make",
    [
        lambda: CardClaims("", "A B", date(2000, 1, 1)),
        lambda: CardClaims("C-1", "", date(2000, 1, 1)),
        lambda: CardClaims("C-1", " A B", date(2000, 1, 1)),
        lambda: CardClaims("C-1", "A\nB", date(2000, 1, 1)),
        lambda: CardClaims("C-1", "A\x00B", date(2000, 1, 1)),
        lambda: CardClaims("C-1", "A\u2028B", date(2000, 1, 1)),
        lambda: CardClaims("C-1", "A" * 257, date(2000, 1, 1)),
        lambda: CardClaims("C" * 65, "A B", date(2000, 1, 1)),
        lambda: CardClaims("C-1", "A B", datetime(2000, 1, 1, tzinfo=UTC)),
        lambda: CardClaims("C-1", "A B", "20000101"),  # type: ignore[arg-type]
        lambda: CardClaims("C-1", "A B", date(2000, 1, 1), "Q"),  # type: ignore[arg-type]
        lambda: CardClaims(12345, "A B", date(2000, 1, 1)),  # type: ignore[arg-type]
    ],
)
def test_claims_validation(make: Callable[[], CardClaims]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        make()


def test_text_that_passes_the_printable_test_holds_no_forbidden_character() -> None:
    """Names are first tested with str.isprintable; only text that fails it is looked at
    character by character. Every character of a forbidden category must fail it."""
    slipping = [
        f"U+{code:04X}"
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in _FORBIDDEN_CATEGORIES and chr(code).isprintable()
    ]
    assert slipping == []
    # Unprintable but allowed (a no-break space, a soft hyphen) still passes.
    assert CardClaims("C-1", "Ana\u00a0María\u00adJosé", date(2000, 1, 1))


def test_encode_refuses_bad_arguments(
    ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims
) -> None:
    naive = datetime(2025, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone"):
        _encode(claims, ed_key, issued_at=naive)
    with pytest.raises(ValueError, match="timezone"):
        _encode(claims, ed_key, expires_at=naive)
    with pytest.raises(ValueError, match="after"):
        _encode(claims, ed_key, expires_at=ISSUED)
    for kid in ("", "x" * 65, "a\tb"):
        with pytest.raises(ValueError, match="kid"):
            _encode(claims, ed_key, kid=kid)
    with pytest.raises(ValueError, match="issuer"):
        _encode(claims, ed_key, issuer="")
    with pytest.raises(TypeError):
        _encode(claims, ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(TypeError):
        _encode(claims, ed_key.public_key())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _encode({"card_number": "C-1"}, ed_key)  # type: ignore[arg-type]


def test_longest_claims_still_fit(any_key: PrivateKey) -> None:
    claims = CardClaims("9" * 64, "龍" * 256, date(2000, 1, 1), "X")
    text = _encode(claims, any_key, issuer="https://" + "x" * 248)
    assert len(text) <= DEFAULT_MAX_TEXT_LEN
    assert decode_and_verify(text, _keys(any_key), now=NOW).claims == claims


# --- expiry is a status ------------------------------------------------------------------------


def test_expiry_is_reported_not_raised(
    ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims
) -> None:
    text = _encode(claims, ed_key)
    keys = _keys(ed_key)
    second = timedelta(seconds=1)
    assert not decode_and_verify(text, keys, now=EXPIRES - second).expired
    assert decode_and_verify(text, keys, now=EXPIRES).expired  # exp is the first expired second
    late = decode_and_verify(text, keys, now=EXPIRES + timedelta(days=3650))
    assert late.expired
    assert late.claims == claims  # still recognised as ours: the API can answer "expired"


def test_now_defaults_to_the_clock(ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims) -> None:
    past = datetime.now(UTC) - timedelta(days=2)
    text = _encode(claims, ed_key, issued_at=past - timedelta(days=1), expires_at=past)
    assert decode_and_verify(text, _keys(ed_key)).expired


def test_naive_now_refused(ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims) -> None:
    with pytest.raises(ValueError, match="timezone"):
        decode_and_verify(
            _encode(claims, ed_key),
            _keys(ed_key),
            now=datetime(2026, 1, 1),  # noqa: DTZ001 - the point of the test
        )


# --- authenticity ------------------------------------------------------------------------------


def test_wrong_key(any_key: PrivateKey, claims: CardClaims) -> None:
    text = _encode(claims, any_key)
    other = (
        ed25519.Ed25519PrivateKey.generate()
        if isinstance(any_key, ed25519.Ed25519PrivateKey)
        else ec.generate_private_key(ec.SECP256R1())
    )
    with pytest.raises(BadSignatureError):
        decode_and_verify(text, _keys(other), now=NOW)


def test_unknown_kid(ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims) -> None:
    text = _encode(claims, ed_key, kid="retired-key")
    with pytest.raises(UnknownKeyIdError) as caught:
        decode_and_verify(text, _keys(ed_key), now=NOW)
    assert caught.value.kid == "retired-key"
    with pytest.raises(UnknownKeyIdError):
        decode_and_verify(text, {}, now=NOW)


def test_alg_must_match_key_type(
    ed_key: ed25519.Ed25519PrivateKey, es_key: ec.EllipticCurvePrivateKey, claims: CardClaims
) -> None:
    # An Ed25519 token presented under a kid that names an ES256 key, and the reverse.
    with pytest.raises(BadSignatureError, match="algorithm"):
        decode_and_verify(_encode(claims, ed_key), _keys(es_key), now=NOW)
    with pytest.raises(BadSignatureError, match="algorithm"):
        decode_and_verify(_encode(claims, es_key), _keys(ed_key), now=NOW)


@pytest.mark.parametrize("alg", [-7, -35, -19, 0])
def test_header_cannot_choose_another_algorithm(
    ed_key: ed25519.Ed25519PrivateKey, alg: int
) -> None:
    text = _sign_raw(ed_key, cbor2.dumps(GOOD_PAYLOAD), protected={1: alg, 4: KID.encode()})
    with pytest.raises(BadSignatureError):
        decode_and_verify(text, _keys(ed_key), now=NOW)


def test_crafted_baseline_is_accepted(ed_key: ed25519.Ed25519PrivateKey) -> None:
    """The hand-built message the structure tests mutate is itself valid."""
    card = decode_and_verify(_sign_raw(ed_key, cbor2.dumps(GOOD_PAYLOAD)), _keys(ed_key), now=NOW)
    assert card.claims == CardClaims("C-1", "Ada Lovelace", date(1815, 12, 10))
    wrapped = _unwrap(_sign_raw(ed_key, cbor2.dumps(GOOD_PAYLOAD)))
    cwt_tagged = _wrap(cbor2.dumps(cbor2.CBORTag(61, wrapped)))  # optional outer CWT tag
    assert decode_and_verify(cwt_tagged, _keys(ed_key), now=NOW).claims == card.claims


def test_der_signature_refused(es_key: ec.EllipticCurvePrivateKey, claims: CardClaims) -> None:
    protected, _, payload, _ = _unwrap(_encode(claims, es_key)).value
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    der = es_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    text = _wrap(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, der])))
    with pytest.raises(BadSignatureError):
        decode_and_verify(text, _keys(es_key), now=NOW)


def test_claims_swapped_between_cards_refused(
    ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims
) -> None:
    mine = _unwrap(_encode(claims, ed_key)).value
    other = _unwrap(_encode(dataclasses.replace(claims, full_name="Someone Else"), ed_key)).value
    text = _wrap(cbor2.dumps(cbor2.CBORTag(18, [mine[0], {}, other[2], mine[3]])))
    with pytest.raises(BadSignatureError):
        decode_and_verify(text, _keys(ed_key), now=NOW)


@pytest.mark.parametrize("key_name", ["EdDSA", "ES256"])
def test_every_single_character_change_is_refused(
    key_name: str,
    ed_key: ed25519.Ed25519PrivateKey,
    es_key: ec.EllipticCurvePrivateKey,
    claims: CardClaims,
) -> None:
    key: PrivateKey = ed_key if key_name == "EdDSA" else es_key
    text = _encode(claims, key)
    original_cose = zlib.decompress(b45decode(text))
    keys = _keys(key)
    refused = 0
    for position, char in enumerate(text):
        offset = ALPHABET.index(char)
        for step in (1, 22):
            changed = text[:position] + ALPHABET[(offset + step) % 45] + text[position + 1 :]
            try:
                card = decode_and_verify(changed, keys, now=NOW)
            except Claim169Error:
                refused += 1
                continue
            # Only a change confined to deflate padding bits can decode, and then it yields the
            # very bytes that were signed: the same card, not a forgery.
            assert zlib.decompress(b45decode(changed)) == original_cose
            assert card.claims == claims
    assert refused >= 2 * len(text) - 4


# --- hostile input -----------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 2, 3, 10, 0.5, 0.9])
def test_truncated_input(ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims, cut: float) -> None:
    text = _encode(claims, ed_key)
    end = int(len(text) * cut) if isinstance(cut, float) else len(text) - int(cut)
    with pytest.raises(MalformedError):
        decode_and_verify(text[:end], _keys(ed_key), now=NOW)


@pytest.mark.parametrize(
    "text",
    ["", "A", "not base45", "bb8", "GGW", "BB8\u00e9AB", "HC1:ABC", " " * 3, "\x00\x00\x00"],
)
def test_malformed_base45_and_junk(ed_key: ed25519.Ed25519PrivateKey, text: str) -> None:
    with pytest.raises(MalformedError):
        decode_and_verify(text, _keys(ed_key), now=NOW)


def test_non_text_input(ed_key: ed25519.Ed25519PrivateKey) -> None:
    for value in (b"BB8", 123, None, ["BB8"]):
        with pytest.raises(MalformedError):
            decode_and_verify(value, _keys(ed_key), now=NOW)  # type: ignore[arg-type]


def test_text_length_cap(ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims) -> None:
    text = _encode(claims, ed_key)
    with pytest.raises(MalformedError, match="too long"):
        decode_and_verify(text, _keys(ed_key), now=NOW, max_text_len=len(text) - 1)
    with pytest.raises(MalformedError, match="too long"):
        decode_and_verify("0" * 10_000_000, _keys(ed_key), now=NOW)


def test_zlib_bomb_is_capped(ed_key: ed25519.Ed25519PrivateKey) -> None:
    bomb = b45encode(zlib.compress(bytes(50 * 1024 * 1024), 9))
    with pytest.raises(MalformedError, match="too long"):
        decode_and_verify(bomb, _keys(ed_key), now=NOW)  # the text cap stops it first
    started = time.perf_counter()
    with pytest.raises(MalformedError, match="too large"):
        decode_and_verify(bomb, _keys(ed_key), now=NOW, max_text_len=len(bomb))
    assert time.perf_counter() - started < 2


def test_decompressed_size_cap(ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims) -> None:
    text = _encode(claims, ed_key)
    size = len(zlib.decompress(b45decode(text)))
    assert decode_and_verify(text, _keys(ed_key), now=NOW, max_decompressed=size)
    with pytest.raises(MalformedError, match="too large"):
        decode_and_verify(text, _keys(ed_key), now=NOW, max_decompressed=size - 1)


def _raw_deflate(data: bytes) -> bytes:
    deflater = zlib.compressobj(wbits=-15)
    return deflater.compress(data) + deflater.flush()


@pytest.mark.parametrize(
    "compressed",
    [
        zlib.compress(b"\xa0")[:-1],  # checksum cut off
        zlib.compress(b"\xa0") + b"\x00",  # trailing bytes after the stream
        b"\x78\x9c\xff\xff",  # corrupt deflate data
        b"\x1b\x00\x00",  # not zlib (a Brotli stream would start like this)
        b"\xa0",  # bare CBOR, never compressed
        _raw_deflate(b"\xa0"),  # deflate without the zlib header
    ],
)
def test_bad_compression(ed_key: ed25519.Ed25519PrivateKey, compressed: bytes) -> None:
    with pytest.raises(MalformedError):
        decode_and_verify(b45encode(compressed), _keys(ed_key), now=NOW)


HOSTILE_COSE = {
    "deeply nested arrays": b"\x81" * 10_000 + b"\x00",
    "deeply nested maps": b"\xa1\x00" * 1000 + b"\x00",
    "huge byte string length": b"\x5b" + (2**63).to_bytes(8, "big"),
    "huge text length": b"\x7b\xff\xff\xff\xff\xff\xff\xff\xff",
    "huge array length": b"\xd2\x9b" + (2**64 - 1).to_bytes(8, "big") + b"\x40",
    "huge map length": b"\xd2\xba\xff\xff\xff\xff",
    "indefinite array": b"\xd2\x9f\x40\xa0\x40\x40\xff",
    "indefinite byte string": b"\xd2\x84\x5f\x41\x00\xff\xa0\x40\x40",
    "reserved length": b"\xd2\x9c",
    "untagged COSE_Sign1": b"\x84\x40\xa0\x40\x40",
    "COSE_Sign tag 98": b"\xd8\x62\x84\x40\xa0\x40\x40",
    "bignum tag": b"\xc2\x41\x01",
    "float": b"\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00",
    "null payload (detached)": b"\xd2\x84\x43\xa1\x01\x27\xa0\xf6\x40",
    "three items": b"\xd2\x83\x40\xa0\x40",
    "trailing item": b"\xd2\x84\x40\xa0\x40\x40\x00",
    "too many items": b"\xd2\x84\x40\xa0\x40\x98\x64" + b"\x00" * 100,
    "invalid utf-8 text": b"\xd2\x84\x40\xa1\x61\xff\x00\x40\x40",
    "duplicate map key": b"\xd2\x84\x40\xa2\x01\x00\x01\x00\x40\x40",
    "array as map key": b"\xd2\x84\x40\xa1\x80\x00\x40\x40",
    "empty": b"",
}


@pytest.mark.parametrize("cose", HOSTILE_COSE.values(), ids=HOSTILE_COSE.keys())
def test_hostile_cbor(ed_key: ed25519.Ed25519PrivateKey, cose: bytes) -> None:
    text = _wrap(cose)
    with pytest.raises(MalformedError):
        decode_and_verify(text, _keys(ed_key), now=NOW, max_text_len=10**6, max_decompressed=10**6)


def _mutated(change: Callable[[dict[int, Any]], None]) -> bytes:
    payload = {1: GOOD_PAYLOAD[1], 6: GOOD_PAYLOAD[6], 169: dict(GOOD_PAYLOAD[169])}
    change(payload)
    return cbor2.dumps(payload)


def _set(path: tuple[int, ...], value: Any) -> Callable[[dict[int, Any]], None]:
    def change(payload: dict[int, Any]) -> None:
        target = payload
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop(path: tuple[int, ...]) -> Callable[[dict[int, Any]], None]:
    def change(payload: dict[int, Any]) -> None:
        target = payload
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


SIGNED_BAD_PAYLOADS = {
    "address in claim 169": _mutated(_set((169, 10), "1 Main St")),
    "nationality in claim 169": _mutated(_set((169, 13), "XX")),
    "legal status in claim 169": _mutated(_set((169, 22), "Refugee")),
    "photo in claim 169": _mutated(_set((169, 62), [{0: b"\x00", 1: 0, 2: 1}])),
    "extra CWT claim sub": _mutated(_set((2,), "someone")),
    "text-keyed CWT claim": _mutated(_set(("nationality",), "XX")),  # type: ignore[arg-type]
    "missing iss": _mutated(_drop((1,))),
    "missing iat": _mutated(_drop((6,))),
    "missing claim 169": _mutated(_drop((169,))),
    "missing ID": _mutated(_drop((169, 1))),
    "missing name": _mutated(_drop((169, 4))),
    "missing DOB": _mutated(_drop((169, 8))),
    "iss not text": _mutated(_set((1,), b"issuer")),
    "iat as text": _mutated(_set((6,), "1740000000")),
    "iat as float": _mutated(_set((6,), 1.74e9)),
    "iat as epoch tag": _mutated(_set((6,), datetime(2025, 1, 1, tzinfo=UTC))),
    "iat negative": _mutated(_set((6,), -1)),
    "exp beyond year 9999": _mutated(_set((4,), 2**40)),
    "exp as bool": _mutated(_set((4,), True)),
    "claim 169 not a map": _mutated(_set((169,), [1, 2])),
    "ID as integer": _mutated(_set((169, 1), 3918592438)),
    "DOB with dashes": _mutated(_set((169, 8), "1815-12-10")),
    "DOB impossible date": _mutated(_set((169, 8), "18150230")),
    "DOB in other digits": _mutated(_set((169, 8), "١٨١٥١٢١٠")),
    "gender out of range": _mutated(_set((169, 9), 4)),
    "gender as text": _mutated(_set((169, 9), "F")),
    "name with newline": _mutated(_set((169, 4), "Ada\nLovelace")),
    "empty name": _mutated(_set((169, 4), "")),
    "payload not a map": cbor2.dumps([1, 2, 3]),
    "payload with trailing byte": cbor2.dumps(GOOD_PAYLOAD) + b"\x00",
    "payload nested deep": cbor2.dumps({1: "i", 6: 1, 169: {1: [[[[[[[[1]]]]]]]]}}),
}


@pytest.mark.parametrize("payload", SIGNED_BAD_PAYLOADS.values(), ids=SIGNED_BAD_PAYLOADS.keys())
def test_signed_but_wrong_shape_is_refused(
    ed_key: ed25519.Ed25519PrivateKey, payload: bytes
) -> None:
    with pytest.raises(MalformedError):
        decode_and_verify(_sign_raw(ed_key, payload), _keys(ed_key), now=NOW)


BAD_HEADERS: dict[str, dict[str, Any]] = {
    "kid only in unprotected": {"protected": {1: -8}, "unprotected": {4: KID.encode()}},
    "kid missing": {"protected": {1: -8}},
    "alg missing": {"protected": {4: KID.encode()}},
    "alg as text": {"protected": {1: "EdDSA", 4: KID.encode()}},
    "kid as text": {"protected": {1: -8, 4: KID}},
    "kid empty": {"protected": {1: -8, 4: b""}},
    "kid too long": {"protected": {1: -8, 4: b"k" * 65}},
    "kid not utf-8": {"protected": {1: -8, 4: b"\xff\xfe"}},
    "crit header": {"protected": {1: -8, 2: [99], 4: KID.encode()}},
    "non-empty unprotected": {"unprotected": {5: b"\x00" * 12}},
    "wrong tag": {"tag": 17},
}


@pytest.mark.parametrize("options", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_bad_headers_are_refused(
    ed_key: ed25519.Ed25519PrivateKey, options: dict[str, Any]
) -> None:
    text = _sign_raw(ed_key, cbor2.dumps(GOOD_PAYLOAD), **options)
    with pytest.raises(MalformedError):
        decode_and_verify(text, _keys(ed_key), now=NOW)


def test_short_signature_refused(ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims) -> None:
    protected, _, payload, signature = _unwrap(_encode(claims, ed_key)).value
    for bad in (b"", signature[:63], signature + b"\x00"):
        text = _wrap(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, bad])))
        with pytest.raises(BadSignatureError):
            decode_and_verify(text, _keys(ed_key), now=NOW)


def test_private_key_in_trust_store_is_a_programming_error(
    ed_key: ed25519.Ed25519PrivateKey, claims: CardClaims
) -> None:
    with pytest.raises(TypeError):
        decode_and_verify(_encode(claims, ed_key), {KID: ed_key}, now=NOW)  # type: ignore[dict-item]
