"""The card QR payload: MOSIP Claim 169 in a COSE_Sign1-signed CBOR Web Token.

Layout (what any Claim 169 verifier holding our public key accepts offline)::

    Base45( zlib( COSE_Sign1 tag 18 [
        protected   = bstr { 1 alg: -8 EdDSA | -7 ES256, 4 kid: bstr },
        unprotected = {},
        payload     = bstr CWT { 1 iss, 4 exp?, 6 iat, 169 { 1 ID, 4 name, 8 DOB, 9 gender? } },
        signature   = Ed25519 (64 bytes) | ES256 raw r||s (64 bytes),
    ] ) )

Privacy is enforced by the type system, not by review: the encoder accepts a `CardClaims`, which
can only hold the card number, full name, date of birth and (optional) gender: an address, a
nationality or a legal status can never be slipped into the QR.

Verification faces hostile text from scanners and the public API. Every layer is bounded
(text length, Base45 strictness, decompressed size, CBOR size, depth and item count), the CBOR
reader is a deliberately tiny one that understands only the shapes we emit (no floats, no
indefinite lengths, no tags except COSE's), and the signature is checked before the payload is
even parsed, so an attacker without our key never reaches the claims parser.

Expiry is reported, not raised: an authentic but expired card must still be recognised as ours,
so the partner API can answer "expired" instead of "invalid". See `VerifiedCard.expired`.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final, Literal, TypeAlias

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from idsys.crypto.base45 import Base45Error, b45decode, b45encode
from idsys.crypto.jwk import PublicKey

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED",
    "DEFAULT_MAX_TEXT_LEN",
    "Algorithm",
    "BadSignatureError",
    "CardClaims",
    "Claim169Error",
    "Gender",
    "MalformedError",
    "PrivateKey",
    "PublicKey",
    "UnknownKeyIdError",
    "VerifiedCard",
    "decode_and_verify",
    "encode",
    "qr_version_for",
]

Gender: TypeAlias = Literal["F", "M", "X"]
Algorithm: TypeAlias = Literal["EdDSA", "ES256"]
PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey

DEFAULT_MAX_TEXT_LEN: Final = 3391
"""Longest text a version-40 QR at level M holds in alphanumeric mode: no real card is longer."""
DEFAULT_MAX_DECOMPRESSED: Final = 8192
"""A card's COSE object is a few hundred bytes; anything past this is not one of ours."""

# COSE (RFC 9052 / IANA) and CWT (RFC 8392) labels.
_TAG_CWT: Final = 61
_TAG_COSE_SIGN1: Final = 18
_HDR_ALG: Final = 1
_HDR_KID: Final = 4
_ALG_EDDSA: Final = -8
_ALG_ES256: Final = -7
_CWT_ISS: Final = 1
_CWT_EXP: Final = 4
_CWT_IAT: Final = 6
_CWT_CLAIM_169: Final = 169
# Claim 169 attribute keys (MOSIP Claim 169 QR specification, section 3.1).
_C169_ID: Final = 1
_C169_FULL_NAME: Final = 4
_C169_DOB: Final = 8
_C169_GENDER: Final = 9
# Claim 169 gender enum: 1 Male, 2 Female, 3 Others.
_GENDER_TO_CODE: Final[dict[str, int]] = {"M": 1, "F": 2, "X": 3}
_CODE_TO_GENDER: Final[dict[int, Gender]] = {1: "M", 2: "F", 3: "X"}

_MAX_CARD_NUMBER_LEN: Final = 64
_MAX_NAME_LEN: Final = 256
_MAX_ISSUER_LEN: Final = 256
_MAX_KID_BYTES: Final = 64
_SIG_LEN: Final = 64
_P256_SCALAR_LEN: Final = 32
# NumericDate bounds that datetime can represent (0001 is excluded: the epoch is the floor).
_MAX_NUMERIC_DATE: Final = 253402300799  # 9999-12-31T23:59:59Z
_CBOR_MAX_DEPTH: Final = 6
_CBOR_MAX_ITEMS: Final = 64
_DOB_RE: Final = re.compile(r"[0-9]{8}")
# Characters never valid in a printed name or number: controls, surrogates, line/paragraph breaks.
# Format characters (Cf) stay allowed: ZWNJ/ZWJ are part of correct Persian, Indic and other names.
_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cs", "Zl", "Zp"})


class Claim169Error(Exception):
    """Base of every reason a QR text is not accepted as an authentic card."""


class MalformedError(Claim169Error):
    """Not a well-formed card QR: bad Base45, zlib or CBOR, wrong structure, or too large."""


class UnknownKeyIdError(Claim169Error):
    """Well-formed, but signed under a key id we do not (or no longer) trust."""

    def __init__(self, kid: str) -> None:
        super().__init__(f"unknown key id {kid[:_MAX_KID_BYTES]!r}")
        self.kid = kid


class BadSignatureError(Claim169Error):
    """The signature does not verify, or the header's algorithm does not fit the key."""


def _check_text(value: object, field: str, max_len: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be text")
    if not value or value != value.strip() or len(value) > max_len:
        raise ValueError(f"{field} must be 1 to {max_len} characters, without outer spaces")
    # Every forbidden category is unprintable: most text is settled by the fast test alone.
    if not value.isprintable() and any(
        unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in value
    ):
        raise ValueError(f"{field} contains control or line-break characters")
    return value


@dataclass(frozen=True, slots=True)
class CardClaims:
    """Everything about the holder that may ever be put in the QR, and nothing more.

    Text is kept exactly as given (no Unicode normalisation), so the name read back from the QR
    is byte-for-byte the name the card was issued with. Personal fields are left out of repr()
    so that a stray log line or traceback shows the card number only.
    """

    card_number: str
    full_name: str = field(repr=False)
    date_of_birth: date = field(repr=False)
    gender: Gender | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check_text(self.card_number, "card_number", _MAX_CARD_NUMBER_LEN)
        _check_text(self.full_name, "full_name", _MAX_NAME_LEN)
        # datetime is a subclass of date; a timestamp here would be a caller bug.
        if not isinstance(self.date_of_birth, date) or isinstance(self.date_of_birth, datetime):
            raise ValueError("date_of_birth must be a date")
        if self.gender is not None and self.gender not in _GENDER_TO_CODE:
            raise ValueError("gender must be 'F', 'M', 'X' or None")


@dataclass(frozen=True, slots=True)
class VerifiedCard:
    """An authentic card QR: signature checked under a trusted key.

    `expired` is computed against the `now` given to `decode_and_verify` (exp <= now, as
    RFC 8392 reads it). Expiry is a status, not an error, because an authentic expired card is a
    different answer ("expired") from a forged one ("invalid"). Revocation is not in the QR at all:
    look the card number up in the register or the signed status list.
    """

    claims: CardClaims
    issuer: str
    issued_at: datetime
    expires_at: datetime | None
    kid: str
    algorithm: Algorithm
    expired: bool


# --- strict CBOR reading -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tag:
    number: int
    value: _CborValue


_CborValue: TypeAlias = (
    int | str | bytes | list["_CborValue"] | dict[int | str, "_CborValue"] | _Tag
)


class _StrictCborReader:
    """Reads exactly the CBOR this module writes, and refuses everything else.

    Only definite-length integers, byte and text strings, arrays, maps with integer or text keys
    (no duplicates) and, where allowed, tags 61 and 18. No floats, simple values, indefinite
    lengths or other tags: a general decoder would offer an attacker regexes, big numbers,
    shared references and more. Every declared length is checked against the bytes left, so a
    huge length header costs nothing, and depth and item count are capped.
    """

    def __init__(self, data: bytes, *, allow_tags: bool) -> None:
        self._data = data
        self._pos = 0
        self._items = 0
        self._allow_tags = allow_tags

    def read_all(self) -> _CborValue:
        value = self._item(0)
        if self._pos != len(self._data):
            raise MalformedError("trailing bytes after CBOR item")
        return value

    def _take(self, count: int) -> bytes:
        if count > len(self._data) - self._pos:
            raise MalformedError("CBOR length runs past the end of the data")
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def _head(self) -> tuple[int, int]:
        initial = self._take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            return major, info
        if info <= 27:
            return major, int.from_bytes(self._take(1 << (info - 24)), "big")
        raise MalformedError("indefinite or reserved CBOR length")

    def _item(self, depth: int) -> _CborValue:
        if depth > _CBOR_MAX_DEPTH:
            raise MalformedError("CBOR nested too deeply")
        self._items += 1
        if self._items > _CBOR_MAX_ITEMS:
            raise MalformedError("too many CBOR items")
        major, arg = self._head()
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2:
            return self._take(arg)
        if major == 3:
            try:
                return self._take(arg).decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedError("CBOR text is not valid UTF-8") from None
        if major == 4:
            if arg > len(self._data) - self._pos:
                raise MalformedError("CBOR array longer than the data")
            return [self._item(depth + 1) for _ in range(arg)]
        if major == 5:
            return self._map(arg, depth)
        if major == 6 and self._allow_tags and arg in (_TAG_CWT, _TAG_COSE_SIGN1):
            return _Tag(arg, self._item(depth + 1))
        raise MalformedError(f"unexpected CBOR major type {major}")

    def _map(self, count: int, depth: int) -> dict[int | str, _CborValue]:
        if count * 2 > len(self._data) - self._pos:
            raise MalformedError("CBOR map longer than the data")
        result: dict[int | str, _CborValue] = {}
        for _ in range(count):
            key = self._item(depth + 1)
            if not isinstance(key, int | str):
                raise MalformedError("CBOR map key is neither integer nor text")
            if key in result:
                raise MalformedError("duplicate CBOR map key")
            result[key] = self._item(depth + 1)
        return result


def _cbor_loads(data: bytes, *, allow_tags: bool = False) -> _CborValue:
    return _StrictCborReader(data, allow_tags=allow_tags).read_all()


# --- signing -------------------------------------------------------------------------------------


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 §4.4 Sig_structure for COSE_Sign1 with empty external AAD."""
    return cbor2.dumps(["Signature1", protected, b"", payload])


def _alg_for_public(key: PublicKey) -> int:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return _ALG_EDDSA
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return _ALG_ES256
    raise TypeError(f"unsupported verification key: {type(key).__name__}")


def _sign(private_key: PrivateKey, to_be_signed: bytes) -> bytes:
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(to_be_signed)
    der = private_key.sign(to_be_signed, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    # COSE carries ECDSA as fixed-width r||s (RFC 9053 §2.1), not DER.
    return r.to_bytes(_P256_SCALAR_LEN, "big") + s.to_bytes(_P256_SCALAR_LEN, "big")


def _verify(public_key: PublicKey, signature: bytes, to_be_signed: bytes) -> None:
    if len(signature) != _SIG_LEN:
        raise BadSignatureError("signature has the wrong length")
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, to_be_signed)
        else:
            r = int.from_bytes(signature[:_P256_SCALAR_LEN], "big")
            s = int.from_bytes(signature[_P256_SCALAR_LEN:], "big")
            der = encode_dss_signature(r, s)
            public_key.verify(der, to_be_signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BadSignatureError("signature does not verify") from None


def _numeric_date(moment: datetime, field: str) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{field} must be timezone-aware")
    value = math.floor(moment.timestamp())
    if not 0 <= value <= _MAX_NUMERIC_DATE:
        raise ValueError(f"{field} is out of range")
    return value


def _check_kid(kid: str) -> bytes:
    if not isinstance(kid, str) or not kid.isprintable():
        raise ValueError("kid must be printable text")
    raw = kid.encode("utf-8")
    if not 1 <= len(raw) <= _MAX_KID_BYTES:
        raise ValueError(f"kid must be 1 to {_MAX_KID_BYTES} bytes")
    return raw


def encode(
    claims: CardClaims,
    *,
    issuer: str,
    issued_at: datetime,
    expires_at: datetime | None,
    private_key: PrivateKey,
    kid: str,
) -> str:
    """Sign the claims and return the QR text (Base45, alphanumeric-mode friendly).

    `expires_at` becomes the CWT `exp`: the first second at which the card is expired, so pass
    the start of the day after the printed expiry date, in the city's time zone. Times are
    truncated to whole seconds.
    """
    if not isinstance(claims, CardClaims):
        raise TypeError("claims must be CardClaims")
    _check_text(issuer, "issuer", _MAX_ISSUER_LEN)
    kid_bytes = _check_kid(kid)
    iat = _numeric_date(issued_at, "issued_at")
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        alg = _ALG_EDDSA
    elif isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
        private_key.curve, ec.SECP256R1
    ):
        alg = _ALG_ES256
    else:
        raise TypeError("private_key must be Ed25519 or ECDSA P-256")

    dob = claims.date_of_birth
    identity: dict[int, str | int] = {
        _C169_ID: claims.card_number,
        _C169_FULL_NAME: claims.full_name,
        _C169_DOB: f"{dob.year:04d}{dob.month:02d}{dob.day:02d}",
    }
    if claims.gender is not None:
        identity[_C169_GENDER] = _GENDER_TO_CODE[claims.gender]
    cwt: dict[int, object] = {_CWT_ISS: issuer, _CWT_IAT: iat, _CWT_CLAIM_169: identity}
    if expires_at is not None:
        exp = _numeric_date(expires_at, "expires_at")
        if exp <= iat:
            raise ValueError("expires_at must be after issued_at")
        cwt[_CWT_EXP] = exp

    payload = cbor2.dumps(cwt, canonical=True)
    protected = cbor2.dumps({_HDR_ALG: alg, _HDR_KID: kid_bytes}, canonical=True)
    signature = _sign(private_key, _sig_structure(protected, payload))
    cose = cbor2.dumps(cbor2.CBORTag(_TAG_COSE_SIGN1, [protected, {}, payload, signature]))
    text = b45encode(zlib.compress(cose, 9))
    if len(text) > DEFAULT_MAX_TEXT_LEN:
        raise ValueError("claims too large for a card QR")
    return text


# --- verification --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sign1:
    alg: int
    kid: str
    protected: bytes
    payload: bytes
    signature: bytes


def _inflate(data: bytes, max_size: int) -> bytes:
    """zlib-decompress with a hard output cap, so a zlib bomb costs at most `max_size` bytes."""
    # Claim 169 allows Brotli too, told apart by the zlib header; we only ever write zlib.
    if len(data) < 2 or data[0] & 0x0F != 8 or (data[0] << 8 | data[1]) % 31:
        raise MalformedError("not zlib data")
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, max_size + 1)
    except zlib.error:
        raise MalformedError("corrupt zlib data") from None
    if len(out) > max_size or inflater.unconsumed_tail:
        raise MalformedError("decompressed data too large")
    if not inflater.eof or inflater.unused_data:
        raise MalformedError("truncated zlib data or trailing bytes")
    return out


def _parse_sign1(cose: bytes) -> _Sign1:
    obj = _cbor_loads(cose, allow_tags=True)
    if isinstance(obj, _Tag) and obj.number == _TAG_CWT:
        obj = obj.value  # RFC 8392 allows an outer CWT tag around the COSE message
    if not isinstance(obj, _Tag) or obj.number != _TAG_COSE_SIGN1:
        raise MalformedError("not a tagged COSE_Sign1")
    body = obj.value
    if not isinstance(body, list) or len(body) != 4:
        raise MalformedError("COSE_Sign1 must be an array of four items")
    protected, unprotected, payload, signature = body
    if not (
        isinstance(protected, bytes)
        and isinstance(payload, bytes)
        and isinstance(signature, bytes)
        and unprotected == {}
    ):
        raise MalformedError("COSE_Sign1 items have the wrong types")
    header = _cbor_loads(protected)
    if not isinstance(header, dict) or set(header) != {_HDR_ALG, _HDR_KID}:
        raise MalformedError("protected header must hold exactly alg and kid")
    alg, kid = header[_HDR_ALG], header[_HDR_KID]
    if not isinstance(alg, int) or not isinstance(kid, bytes):
        raise MalformedError("alg must be an integer and kid a byte string")
    if not 1 <= len(kid) <= _MAX_KID_BYTES:
        raise MalformedError("kid has a bad length")
    try:
        kid_text = kid.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("kid is not UTF-8") from None
    return _Sign1(alg, kid_text, protected, payload, signature)


def _get_str(mapping: Mapping[int | str, _CborValue], key: int) -> str:
    value = mapping.get(key)
    if not isinstance(value, str):
        raise MalformedError(f"claim {key} missing or not text")
    return value


def _get_int(mapping: Mapping[int | str, _CborValue], key: int) -> int:
    value = mapping.get(key)
    if not isinstance(value, int):
        raise MalformedError(f"claim {key} missing or not an integer")
    return value


def _get_date(mapping: Mapping[int | str, _CborValue], key: int) -> int:
    value = _get_int(mapping, key)
    if not 0 <= value <= _MAX_NUMERIC_DATE:
        raise MalformedError(f"claim {key} timestamp out of range")
    return value


def _parse_claims(payload: bytes) -> tuple[CardClaims, str, int, int | None]:
    """Read the CWT claims: exactly the shape `encode` writes, or MalformedError."""
    cwt = _cbor_loads(payload)
    if not isinstance(cwt, dict) or not {_CWT_ISS, _CWT_IAT, _CWT_CLAIM_169} <= cwt.keys():
        raise MalformedError("CWT lacks iss, iat or claim 169")
    if not cwt.keys() <= {_CWT_ISS, _CWT_EXP, _CWT_IAT, _CWT_CLAIM_169}:
        raise MalformedError("CWT carries claims this system never issues")
    issuer = _get_str(cwt, _CWT_ISS)
    iat = _get_date(cwt, _CWT_IAT)
    exp = _get_date(cwt, _CWT_EXP) if _CWT_EXP in cwt else None

    identity = cwt[_CWT_CLAIM_169]
    required = {_C169_ID, _C169_FULL_NAME, _C169_DOB}
    if not isinstance(identity, dict) or not required <= identity.keys():
        raise MalformedError("claim 169 lacks ID, full name or date of birth")
    if not identity.keys() <= required | {_C169_GENDER}:
        raise MalformedError("claim 169 carries attributes this system never issues")
    dob_text = _get_str(identity, _C169_DOB)
    if not _DOB_RE.fullmatch(dob_text):
        raise MalformedError("date of birth is not YYYYMMDD")
    gender: Gender | None = None
    if _C169_GENDER in identity:
        gender = _CODE_TO_GENDER.get(_get_int(identity, _C169_GENDER))
        if gender is None:
            raise MalformedError("unknown gender code")
    try:
        claims = CardClaims(
            card_number=_get_str(identity, _C169_ID),
            full_name=_get_str(identity, _C169_FULL_NAME),
            date_of_birth=date(int(dob_text[:4]), int(dob_text[4:6]), int(dob_text[6:])),
            gender=gender,
        )
    except ValueError as exc:
        raise MalformedError(f"invalid claim value: {exc}") from None
    return claims, issuer, iat, exp


def decode_and_verify(
    qr_text: str,
    public_keys: Mapping[str, PublicKey],
    *,
    now: datetime | None = None,
    max_text_len: int = DEFAULT_MAX_TEXT_LEN,
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
) -> VerifiedCard:
    """Check a scanned QR text and return the card it proves, or raise a `Claim169Error`.

    `public_keys` maps kid -> key for every key still trusted (current and rotated, not yet
    retired). A trailing CR/LF, as keyboard-wedge scanners send, is ignored; it is not Base45,
    so dropping it cannot change what is verified. Order matters for safety: structure, then
    key lookup, then algorithm/key agreement, then signature; only a correctly signed payload
    is parsed for claims.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(qr_text, str):
        raise MalformedError("QR text must be a string")
    text = qr_text.rstrip("\r\n")
    if len(text) > max_text_len:
        raise MalformedError("QR text too long")
    try:
        compressed = b45decode(text)
    except Base45Error as exc:
        raise MalformedError(str(exc)) from None
    message = _parse_sign1(_inflate(compressed, max_decompressed))

    public_key = public_keys.get(message.kid)
    if public_key is None:
        raise UnknownKeyIdError(message.kid)
    # The header's alg must be the one algorithm this key is for: never let the token choose.
    if message.alg != _alg_for_public(public_key):
        raise BadSignatureError("algorithm in header does not match the key")
    _verify(public_key, message.signature, _sig_structure(message.protected, message.payload))

    claims, issuer, iat, exp = _parse_claims(message.payload)
    expires_at = None if exp is None else datetime.fromtimestamp(exp, UTC)
    return VerifiedCard(
        claims=claims,
        issuer=issuer,
        issued_at=datetime.fromtimestamp(iat, UTC),
        expires_at=expires_at,
        kid=message.kid,
        algorithm="EdDSA" if message.alg == _ALG_EDDSA else "ES256",
        expired=expires_at is not None and now >= expires_at,
    )


def qr_version_for(text: str) -> int:
    """Smallest QR version (1-40) holding `text` at error correction level M, for card layout."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    return int(qr.version)
