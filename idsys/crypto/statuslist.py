"""The signed status list: every revoked card number, for verifiers that work offline.

A card QR proves who issued a card and until when, but it cannot say that the card was revoked
after printing. Partners that verify offline therefore sync this list and look the card number
up in it. It is signed by the same card-signing keys as the QR (the key set published as JWK), so
a verifier that trusts one trusts the other, and no new key has to be distributed.

Wire format: one COSE_Sign1 object, served as ``application/cose; cose-type="cose-sign1"`` (RFC
9052 §2) and stored in files ending ``.cose``. Binary rather than base64 text because lists of
tens of thousands of cards are large, and HTTP compression (gzip, br) shrinks the sorted numbers
further; the bytes are exactly what was signed, so any cache or mirror can pass them on::

    COSE_Sign1 tag 18 [
        protected   = bstr { 1 alg: -8 EdDSA | -7 ES256, 4 kid: bstr, 16 typ: TYP },
        unprotected = {},
        payload     = bstr {                       # CWT-style claims, deterministic CBOR
            1 iss:          text,                  # same issuer as the card QRs
            6 iat:          uint,                  # NumericDate the list was made
            "next_update":  uint,                  # NumericDate: fetch a newer list by then
            "sequence":     uint,                  # grows with every list; never goes back
            "revoked":      [ [card_number: text, reason: uint], ... ],
        },
        signature   = Ed25519 (64 bytes) | ES256 raw r||s (64 bytes),
    ]

``revoked`` is strictly ascending by card number (Unicode code point order, which is also UTF-8
byte order), so it holds no duplicates and two lists with the same content are byte-identical.
Reason codes are the coarse public reasons only: 1 lost, 2 stolen, 3 superseded, 4 other.

Why these choices:

- **typ in the protected header** (RFC 9596) separates the two things one key signs: the card
  decoder accepts a protected header of exactly {alg, kid}, and this decoder insists on ``typ``,
  so a status list can never pass as a card nor a card as a status list.
- **Coarse reasons.** A partner needs to know what to do (lost or stolen: the bearer may not be
  the holder; superseded: ask for the newer card; other: refuse), not why the city acted.
  ``fraud`` in particular is an accusation that must not travel to every partner: see
  `public_reason`.
- **Plain card numbers, not hashes.** Card numbers come from a small, enumerable space, so a hash
  would hide nothing from anyone willing to try them all; it would only cost verifiers time.
- **A staleness date, not an expiry.** Revocation is permanent, so an old list still proves the
  cards on it revoked; what it cannot prove is that a card is *not* revoked. `StatusList.stale`
  lets the verifier say so rather than refuse the list.
- **A sequence number** lets a verifier that remembers the last one it saw refuse an older list
  (``min_sequence``), so a replayed list from before a revocation is caught.

Hostile input is handled as in the card decoder: the size is capped before anything is parsed,
the envelope reader accepts only the exact shapes above (definite lengths, shortest-form
integers, no floats or foreign tags), and the signature is checked before the payload is parsed.
The card decoder's reader is not reused because it caps a CBOR item count at the size of a card;
this one is schema-driven instead, so a list of 100,000 cards is read without building a
generic tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final, Literal, NamedTuple, TypeAlias

import cbor2

from idsys.crypto.claim169 import (
    _ALG_EDDSA,
    _MAX_CARD_NUMBER_LEN,
    _MAX_ISSUER_LEN,
    _MAX_KID_BYTES,
    _MAX_NUMERIC_DATE,
    Algorithm,
    BadSignatureError,
    PrivateKey,
    _alg_for_public,
    _check_kid,
    _check_text,
    _numeric_date,
    _sig_structure,
    _sign,
    _verify,
)
from idsys.crypto.jwk import PublicKey

__all__ = [
    "DEFAULT_MAX_SIZE",
    "MEDIA_TYPE",
    "PUBLIC_REASONS",
    "TYP",
    "BadStatusListSignatureError",
    "MalformedStatusListError",
    "Reason",
    "RevokedEntry",
    "StatusList",
    "StatusListError",
    "StatusListRollbackError",
    "StatusListTooLargeError",
    "UnknownStatusListKeyError",
    "public_reason",
    "sign_status_list",
    "verify_status_list",
]

Reason: TypeAlias = Literal["lost", "stolen", "superseded", "other"]

MEDIA_TYPE: Final = 'application/cose; cose-type="cose-sign1"'
"""The HTTP Content-Type of a status list (the bytes `sign_status_list` returns)."""
TYP: Final = "application/vnd.idsys.status-list+cwt"
"""The COSE ``typ`` header value that marks a status list; a new layout would get a new one."""
DEFAULT_MAX_SIZE: Final = 16 * 1024 * 1024
"""Largest list accepted (and signed): about a million revoked cards, far beyond a city's needs,
small enough that a hostile download cannot exhaust a verifier's memory."""

PUBLIC_REASONS: Final[tuple[Reason, ...]] = ("lost", "stolen", "superseded", "other")
_REASON_TO_CODE: Final[dict[str, int]] = {"lost": 1, "stolen": 2, "superseded": 3, "other": 4}
_CODE_TO_REASON: Final[tuple[Reason | None, ...]] = (None, *PUBLIC_REASONS)
# Internal revocation reasons (the card lifecycle) to what a partner may learn. A damaged card is
# revoked because a replacement was issued, which is what "superseded" tells the partner; fraud
# is an accusation and goes out as "other". Anything unforeseen also becomes "other".
_INTERNAL_TO_PUBLIC: Final[dict[str, Reason]] = {
    "lost": "lost",
    "stolen": "stolen",
    "superseded": "superseded",
    "damaged": "superseded",
    "fraud": "other",
}

# COSE / CWT labels (RFC 9052, RFC 9596, RFC 8392) and our claim names.
_TAG_COSE_SIGN1: Final = 18
_HDR_ALG: Final = 1
_HDR_KID: Final = 4
_HDR_TYP: Final = 16
_CWT_ISS: Final = 1
_CWT_IAT: Final = 6
_NEXT_UPDATE: Final = "next_update"
_SEQUENCE: Final = "sequence"
_REVOKED: Final = "revoked"
_PAYLOAD_KEYS: Final = frozenset({_CWT_ISS, _CWT_IAT, _NEXT_UPDATE, _SEQUENCE, _REVOKED})
_MAX_SEQUENCE: Final = 2**63 - 1
_MAX_KEY_TEXT: Final = 32
_MAX_HEADER_TEXT: Final = 128
# Smallest encoded entry: array(2) head, a one-byte text, a one-byte reason code.
_MIN_ENTRY_BYTES: Final = 4
_ENTRY_HEAD: Final = 0x82
# The least value each CBOR length width may carry, so only shortest-form heads are accepted.
_MIN_FOR_WIDTH: Final = {24: 24, 25: 0x100, 26: 0x10000, 27: 0x100000000}


class StatusListError(Exception):
    """Base of every reason a status list is refused."""


class MalformedStatusListError(StatusListError):
    """Not a well-formed status list: wrong structure, wrong ``typ``, or values out of range."""


class StatusListTooLargeError(MalformedStatusListError):
    """Larger than the caller's size cap: refused before anything is parsed."""


class UnknownStatusListKeyError(StatusListError):
    """Well-formed, but signed under a key id that is not in the trusted key set."""

    def __init__(self, kid: str) -> None:
        super().__init__(f"status list signed by unknown key id {kid[:_MAX_KID_BYTES]!r}")
        self.kid = kid


class BadStatusListSignatureError(StatusListError):
    """The signature does not verify (the list was altered), or alg does not fit the key."""


class StatusListRollbackError(StatusListError):
    """Authentic, but older than a list the verifier has already seen: possibly replayed."""

    def __init__(self, sequence: int, min_sequence: int) -> None:
        super().__init__(
            f"status list sequence {sequence} is older than the {min_sequence} already seen"
        )
        self.sequence = sequence
        self.min_sequence = min_sequence


class RevokedEntry(NamedTuple):
    """One revoked card as published: its number and the coarse public reason."""

    card_number: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class StatusList:
    """An authentic status list, signature checked under a trusted key.

    ``entries`` maps card number to reason for constant-time look-up while scanning. ``stale`` is
    computed against the ``now`` given to `verify_status_list`: a stale list still proves the
    cards on it revoked, but not that others are not.
    """

    issuer: str
    issued_at: datetime
    next_update: datetime
    sequence: int
    kid: str
    algorithm: Algorithm
    stale: bool
    entries: Mapping[str, Reason] = field(repr=False)

    def reason_for(self, card_number: str) -> Reason | None:
        """The public reason the card was revoked, or None if this list does not name it."""
        return self.entries.get(card_number)

    def __len__(self) -> int:
        return len(self.entries)


def public_reason(internal_reason: str) -> Reason:
    """The coarse reason a partner may see for an internal revocation reason (see module doc)."""
    return _INTERNAL_TO_PUBLIC.get(internal_reason, "other")


# --- signing -------------------------------------------------------------------------------------


def _normalise_entries(entries: Iterable[tuple[str, str]]) -> list[list[str | int]]:
    """Sort by card number and drop exact duplicates; one card with two reasons is a caller bug."""
    reasons: dict[str, str] = {}
    for card_number, reason in entries:
        _check_text(card_number, "card_number", _MAX_CARD_NUMBER_LEN)
        if reason not in _REASON_TO_CODE:
            raise ValueError(
                f"reason {reason!r} is not public; map it with public_reason() "
                f"to one of {', '.join(PUBLIC_REASONS)}"
            )
        previous = reasons.setdefault(card_number, reason)
        if previous != reason:
            raise ValueError(f"card {card_number!r} is listed as both {previous} and {reason}")
    return [[number, _REASON_TO_CODE[reasons[number]]] for number in sorted(reasons)]


def sign_status_list(
    entries: Iterable[tuple[str, str]],
    *,
    issuer: str,
    issued_at: datetime,
    next_update: datetime,
    sequence: int,
    private_key: PrivateKey,
    kid: str,
) -> bytes:
    """Sign the revoked cards as a status list and return its bytes (serve as `MEDIA_TYPE`).

    ``entries`` are (card number, public reason) pairs, such as `RevokedEntry`; order does not
    matter and exact repeats are merged. ``sequence`` must grow with every list published, so
    verifiers can refuse a replayed older one. Times are truncated to whole seconds.
    """
    _check_text(issuer, "issuer", _MAX_ISSUER_LEN)
    kid_bytes = _check_kid(kid)
    iat = _numeric_date(issued_at, "issued_at")
    nxt = _numeric_date(next_update, "next_update")
    if nxt <= iat:
        raise ValueError("next_update must be after issued_at")
    if isinstance(sequence, bool) or not isinstance(sequence, int):
        raise TypeError("sequence must be an integer")
    if not 0 <= sequence <= _MAX_SEQUENCE:
        raise ValueError(f"sequence must be 0 to {_MAX_SEQUENCE}")
    alg = _alg_for_public(private_key.public_key())

    claims: dict[int | str, object] = {
        _CWT_ISS: issuer,
        _CWT_IAT: iat,
        _NEXT_UPDATE: nxt,
        _SEQUENCE: sequence,
        _REVOKED: _normalise_entries(entries),
    }
    payload = cbor2.dumps(claims, canonical=True)
    header = {_HDR_ALG: alg, _HDR_KID: kid_bytes, _HDR_TYP: TYP}
    protected = cbor2.dumps(header, canonical=True)
    signature = _sign(private_key, _sig_structure(protected, payload))
    data: bytes = cbor2.dumps(cbor2.CBORTag(_TAG_COSE_SIGN1, [protected, {}, payload, signature]))
    if len(data) > DEFAULT_MAX_SIZE:
        raise ValueError("status list too large for verifiers to accept")
    return data


# --- verification --------------------------------------------------------------------------------


class _Reader:
    """A cursor over CBOR that reads only what the schema expects next, and nothing else.

    Each method reads one item of one kind or raises MalformedStatusListError. Lengths are
    checked against the bytes left before anything is allocated, integer heads must be in
    shortest form, and indefinite lengths, floats, simple values and tags (other than the one
    COSE_Sign1 tag, read explicitly) are refused by construction.
    """

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def remaining(self) -> int:
        return len(self._data) - self._pos

    def finish(self, what: str) -> None:
        if self._pos != len(self._data):
            raise MalformedStatusListError(f"trailing bytes after the {what}")

    def head(self) -> tuple[int, int]:
        data, pos = self._data, self._pos
        if pos >= len(data):
            raise MalformedStatusListError("CBOR data ends early")
        initial = data[pos]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            self._pos = pos + 1
            return major, info
        if info > 27:
            raise MalformedStatusListError("indefinite or reserved CBOR length")
        end = pos + 1 + (1 << (info - 24))
        if end > len(data):
            raise MalformedStatusListError("CBOR data ends early")
        value = int.from_bytes(data[pos + 1 : end], "big")
        if value < _MIN_FOR_WIDTH[info]:
            raise MalformedStatusListError("CBOR integer or length not in shortest form")
        self._pos = end
        return major, value

    def _expect(self, major: int, what: str) -> int:
        got, value = self.head()
        if got != major:
            raise MalformedStatusListError(f"{what} has the wrong CBOR type")
        return value

    def _take(self, count: int, what: str) -> bytes:
        if count > self.remaining():
            raise MalformedStatusListError(f"{what} runs past the end of the data")
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def uint(self, what: str) -> int:
        return self._expect(0, what)

    def integer(self, what: str) -> int:
        major, value = self.head()
        if major == 0:
            return value
        if major == 1:
            return -1 - value
        raise MalformedStatusListError(f"{what} is not an integer")

    def bytes_(self, what: str) -> bytes:
        return self._take(self._expect(2, what), what)

    def text(self, what: str, max_chars: int) -> str:
        length = self._expect(3, what)
        if length > max_chars * 4:  # a UTF-8 character is at most 4 bytes
            raise MalformedStatusListError(f"{what} is too long")
        try:
            value = self._take(length, what).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedStatusListError(f"{what} is not valid UTF-8") from None
        if not value or len(value) > max_chars:
            raise MalformedStatusListError(f"{what} must be 1 to {max_chars} characters")
        return value

    def key(self, what: str) -> int | str:
        """A map key: a (possibly negative) integer or short text."""
        if self.remaining() and self._data[self._pos] >> 5 == 3:
            return self.text(what, _MAX_KEY_TEXT)
        return self.integer(what)

    def array(self, what: str, min_item_bytes: int = 1) -> int:
        count = self._expect(4, what)
        if count * min_item_bytes > self.remaining():
            raise MalformedStatusListError(f"{what} is longer than the data")
        return count

    def map(self, what: str) -> int:
        count = self._expect(5, what)
        if count * 2 > self.remaining():
            raise MalformedStatusListError(f"{what} is longer than the data")
        return count

    def entry_head(self) -> None:
        """The two-item array that opens each revoked entry (one byte, checked inline for speed)."""
        if self._pos >= len(self._data) or self._data[self._pos] != _ENTRY_HEAD:
            raise MalformedStatusListError("revoked entry must be [card_number, reason]")
        self._pos += 1


@dataclass(frozen=True, slots=True)
class _Envelope:
    alg: int
    kid: str
    protected: bytes
    payload: bytes
    signature: bytes


def _parse_envelope(data: bytes) -> _Envelope:
    reader = _Reader(data)
    if reader.head() != (6, _TAG_COSE_SIGN1):
        raise MalformedStatusListError("not a tagged COSE_Sign1 object")
    if reader.array("COSE_Sign1") != 4:
        raise MalformedStatusListError("COSE_Sign1 must be an array of four items")
    protected = reader.bytes_("protected header")
    if reader.map("unprotected header") != 0:
        raise MalformedStatusListError("unprotected header must be empty")
    payload = reader.bytes_("payload")
    signature = reader.bytes_("signature")
    reader.finish("COSE_Sign1 object")
    alg, kid = _parse_protected(protected)
    return _Envelope(alg, kid, protected, payload, signature)


def _parse_protected(protected: bytes) -> tuple[int, str]:
    """The protected header: exactly alg, kid and our typ; returns (alg, kid text)."""
    header = _Reader(protected)
    if header.map("protected header") != 3:
        raise MalformedStatusListError("protected header must hold exactly alg, kid and typ")
    alg: int | None = None
    kid: bytes | None = None
    typ: str | None = None
    for _ in range(3):
        label = header.key("header label")
        if label == _HDR_ALG and alg is None:
            alg = header.integer("alg")
        elif label == _HDR_KID and kid is None:
            kid = header.bytes_("kid")
        elif label == _HDR_TYP and typ is None:
            typ = header.text("typ", _MAX_HEADER_TEXT)
        else:
            raise MalformedStatusListError("protected header must hold exactly alg, kid and typ")
    header.finish("protected header")
    if typ != TYP:
        raise MalformedStatusListError(f"typ is not {TYP!r}: this is not a status list")
    if alg is None or kid is None:  # unreachable: three distinct known labels were read
        raise MalformedStatusListError("protected header lacks alg or kid")
    if not 1 <= len(kid) <= _MAX_KID_BYTES:
        raise MalformedStatusListError("kid has a bad length")
    try:
        kid_text = kid.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedStatusListError("kid is not UTF-8") from None
    return alg, kid_text


def _read_date(reader: _Reader, what: str) -> int:
    value = reader.uint(what)
    if value > _MAX_NUMERIC_DATE:
        raise MalformedStatusListError(f"{what} is out of range")
    return value


def _read_entries(reader: _Reader) -> dict[str, Reason]:
    count = reader.array("revoked", _MIN_ENTRY_BYTES)
    entries: dict[str, Reason] = {}
    previous = ""
    codes = _CODE_TO_REASON
    for _ in range(count):
        reader.entry_head()
        number = reader.text("card number", _MAX_CARD_NUMBER_LEN)
        code = reader.uint("reason")
        reason = codes[code] if code < len(codes) else None
        if reason is None:
            raise MalformedStatusListError(f"unknown reason code {code}")
        if number <= previous:  # also refuses duplicates; "" sorts before every real number
            raise MalformedStatusListError("revoked entries are not strictly ascending")
        entries[number] = reason
        previous = number
    return entries


def _parse_payload(payload: bytes) -> tuple[str, int, int, int, dict[str, Reason]]:
    reader = _Reader(payload)
    if reader.map("status list claims") != len(_PAYLOAD_KEYS):
        raise MalformedStatusListError("status list must hold exactly its five claims")
    issuer: str | None = None
    iat = nxt = sequence = -1
    entries: dict[str, Reason] | None = None
    seen: set[int | str] = set()
    for _ in range(len(_PAYLOAD_KEYS)):
        key = reader.key("claim key")
        if key in seen or key not in _PAYLOAD_KEYS:
            raise MalformedStatusListError(f"unexpected or repeated claim {key!r}")
        seen.add(key)
        if key == _CWT_ISS:
            issuer = reader.text("iss", _MAX_ISSUER_LEN)
        elif key == _CWT_IAT:
            iat = _read_date(reader, "iat")
        elif key == _NEXT_UPDATE:
            nxt = _read_date(reader, "next_update")
        elif key == _SEQUENCE:
            sequence = reader.uint("sequence")
            if sequence > _MAX_SEQUENCE:
                raise MalformedStatusListError("sequence is out of range")
        else:
            entries = _read_entries(reader)
    reader.finish("status list claims")
    if issuer is None or entries is None:  # unreachable: five distinct known keys were read
        raise MalformedStatusListError("status list lacks iss or revoked")
    if nxt <= iat:
        raise MalformedStatusListError("next_update is not after iat")
    return issuer, iat, nxt, sequence, entries


def verify_status_list(
    data: bytes,
    public_keys: Mapping[str, PublicKey],
    *,
    now: datetime | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
    min_sequence: int | None = None,
) -> StatusList:
    """Check a status list and return its contents, or raise a `StatusListError`.

    ``public_keys`` maps kid -> key for every trusted card-signing key, as `parse_jwk_set`
    returns. ``min_sequence`` is the highest sequence this verifier has accepted before, if it
    keeps one: an older list is refused as a possible replay. Order matters for safety: size,
    structure, key lookup, algorithm/key agreement, signature; only a correctly signed payload
    is parsed.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedStatusListError("a status list must be bytes")
    if len(data) > max_size:
        raise StatusListTooLargeError(f"status list is larger than {max_size} bytes")
    envelope = _parse_envelope(bytes(data))

    public_key = public_keys.get(envelope.kid)
    if public_key is None:
        raise UnknownStatusListKeyError(envelope.kid)
    # The header's alg must be the one this key is for: never let the signed object choose.
    if envelope.alg != _alg_for_public(public_key):
        raise BadStatusListSignatureError("algorithm in header does not match the key")
    try:
        _verify(
            public_key, envelope.signature, _sig_structure(envelope.protected, envelope.payload)
        )
    except BadSignatureError:
        raise BadStatusListSignatureError(
            "status list signature does not verify: it was altered or signed by another key"
        ) from None

    issuer, iat, nxt, sequence, entries = _parse_payload(envelope.payload)
    if min_sequence is not None and sequence < min_sequence:
        raise StatusListRollbackError(sequence, min_sequence)
    next_update = datetime.fromtimestamp(nxt, UTC)
    return StatusList(
        issuer=issuer,
        issued_at=datetime.fromtimestamp(iat, UTC),
        next_update=next_update,
        sequence=sequence,
        kid=envelope.kid,
        algorithm="EdDSA" if envelope.alg == _ALG_EDDSA else "ES256",
        stale=now > next_update,
        entries=MappingProxyType(entries),
    )
