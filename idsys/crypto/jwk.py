"""Public signing keys as a JWK set (RFC 7517), for `/.well-known/jwks.json` and offline verifiers.

Export takes public key objects only and builds every member by hand from the public numbers, so
a private member ("d") can never end up in the published set, whatever key object the caller
holds. Import is strict the other way round: it is what an offline verifier trusts, so a set
carrying private material, a point off the curve, a duplicate or missing "kid", or an "alg" that
contradicts the key type is refused outright instead of being half-used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "JWKError",
    "PublicKey",
    "jwk_from_public_key",
    "jwk_set",
    "jwk_thumbprint",
    "parse_jwk_set",
    "public_key_from_jwk",
]

PublicKey: TypeAlias = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
"""The public key types the card QR can be signed with: Ed25519 (default) and ECDSA P-256."""

# Members that only a private (or symmetric) JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037).
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_MAX_SET_BYTES: Final = 64 * 1024
_MAX_KEYS: Final = 64
_MAX_KID_LEN: Final = 64
_P256_COORD_LEN: Final = 32
_ED25519_LEN: Final = 32


class JWKError(ValueError):
    """Raised for a JWK or JWK set that must not be trusted or cannot be produced."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(value: object, member: str, length: int) -> bytes:
    """Decode one base64url member, insisting on the unpadded canonical form and exact length."""
    if not isinstance(value, str) or not _B64URL.fullmatch(value):
        raise JWKError(f"JWK member {member!r} is not unpadded base64url text")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise JWKError(f"JWK member {member!r} is not valid base64url") from None
    if len(raw) != length or _b64url(raw) != value:
        raise JWKError(f"JWK member {member!r} must encode exactly {length} bytes")
    return raw


def _check_kid(kid: object) -> str:
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LEN or not kid.isprintable():
        raise JWKError(f"'kid' must be printable text of 1 to {_MAX_KID_LEN} characters")
    return kid


def jwk_from_public_key(public_key: PublicKey, kid: str) -> dict[str, str]:
    """Describe one public key as a JWK, with "alg" and "use" so verifiers need not guess.

    Private key objects are refused rather than silently reduced to their public half: being
    handed one here means a caller is mixing up key material, which should be loud.
    """
    _check_kid(kid)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(raw),
            "alg": "EdDSA",
            "use": "sig",
            "kid": kid,
        }
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise JWKError("only the P-256 curve is supported for EC keys")
        numbers = public_key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(_P256_COORD_LEN, "big")),
            "y": _b64url(numbers.y.to_bytes(_P256_COORD_LEN, "big")),
            "alg": "ES256",
            "use": "sig",
            "kid": kid,
        }
    raise JWKError(f"not a supported public key: {type(public_key).__name__}")


def jwk_set(keys: Mapping[str, PublicKey] | Iterable[tuple[str, PublicKey]]) -> dict[str, Any]:
    """Build the JWK set document (kid -> public key), in the order given, for JSON serving."""
    pairs = list(keys.items()) if isinstance(keys, Mapping) else list(keys)
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    for kid, public_key in pairs:
        if kid in seen:
            raise JWKError(f"duplicate kid {kid!r}")
        seen.add(kid)
        out.append(jwk_from_public_key(public_key, kid))
    return {"keys": out}


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey | None:
    """Turn one JWK into a public key; None for a key type this system never signs with.

    Unknown key types are skipped, not refused, as RFC 7517 §5 asks, so a set can later carry
    other keys without breaking older verifiers. A known type that is malformed is refused.
    """
    if _PRIVATE_MEMBERS & jwk.keys():
        raise JWKError("JWK carries private key members")
    kty, crv, alg = jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
    use = jwk.get("use", "sig")
    if use != "sig":
        return None
    if kty == "OKP" and crv == "Ed25519":
        if alg not in (None, "EdDSA", "Ed25519"):
            raise JWKError(f"alg {alg!r} does not fit an Ed25519 key")
        raw = _b64url_decode(jwk.get("x"), "x", _ED25519_LEN)
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    if kty == "EC" and crv == "P-256":
        if alg not in (None, "ES256"):
            raise JWKError(f"alg {alg!r} does not fit a P-256 key")
        x = _b64url_decode(jwk.get("x"), "x", _P256_COORD_LEN)
        y = _b64url_decode(jwk.get("y"), "y", _P256_COORD_LEN)
        try:
            # from_encoded_point checks that the point lies on the curve (invalid-curve attacks).
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
        except ValueError:
            raise JWKError("EC point is not on the P-256 curve") from None
    return None


def parse_jwk_set(document: str | bytes | Mapping[str, Any]) -> dict[str, PublicKey]:
    """Read a JWK set (JSON text or parsed) into kid -> public key, for offline verification."""
    if isinstance(document, str | bytes):
        if len(document) > _MAX_SET_BYTES:
            raise JWKError("JWK set is too large")
        try:
            document = json.loads(document)
        except (ValueError, UnicodeDecodeError):
            raise JWKError("JWK set is not valid JSON") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JWKError("JWK set must be an object with a 'keys' array")
    entries: list[Any] = document["keys"]
    if len(entries) > _MAX_KEYS:
        raise JWKError("JWK set holds too many keys")
    result: dict[str, PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise JWKError("every JWK must be an object")
        public_key = public_key_from_jwk(entry)
        if public_key is None:
            continue
        kid = _check_kid(entry.get("kid"))
        if kid in result:
            raise JWKError(f"duplicate kid {kid!r}")
        result[kid] = public_key
    return result


def jwk_thumbprint(public_key: PublicKey) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url): a stable kid derived from the key itself."""
    jwk = jwk_from_public_key(public_key, "-")
    required = ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("crv", "kty", "x", "y")
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())
