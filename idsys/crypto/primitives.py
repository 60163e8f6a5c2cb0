"""The low-level primitives, in one module so that every use of them can be reviewed here."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class DecryptionError(Exception):
    """A ciphertext did not authenticate: wrong key, wrong associated data, or altered bytes."""


def random_bytes(n: int) -> bytes:
    """Bytes from the operating system's CSPRNG."""
    return secrets.token_bytes(n)


def random_token(nbytes: int) -> str:
    """A URL-safe random token carrying ``nbytes`` of entropy."""
    return secrets.token_urlsafe(nbytes)


def random_below(n: int) -> int:
    """A uniformly random integer in [0, n), for codes people read aloud."""
    return secrets.randbelow(n)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256: keyed so that whoever alters stored data cannot recompute the tag."""
    return hmac.new(key, data, hashlib.sha256).digest()


def sha256(data: bytes) -> bytes:
    """Plain SHA-256, only where no secret is involved (e.g. hashing high-entropy API keys)."""
    return hashlib.sha256(data).digest()


def constant_time_equal(a: bytes | str, b: bytes | str) -> bool:
    """Compare secrets without leaking, through timing, how many leading bytes matched."""
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)


def aead_encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM with a random 96-bit nonce; returns nonce || ciphertext || tag."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def aead_decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Reverse :func:`aead_encrypt`; any change to key, nonce, ciphertext or aad fails."""
    if len(blob) < NONCE_BYTES + 16:
        raise DecryptionError("ciphertext is too short to be valid")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionError("ciphertext did not authenticate") from None
