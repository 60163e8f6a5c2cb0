"""Staff password hashing with argon2id (RFC 9106 parameters from argon2-cffi)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, 64 MiB, t=3, p=4: argon2-cffi's RFC 9106 low-memory profile

# Verified against when the account does not exist, so that a miss costs as long as a hit and
# response times do not reveal which staff usernames exist.
_DUMMY_HASH = _hasher.hash("idsys-timing-equaliser")


def hash_password(password: str) -> str:
    """Hash a password for storage; the result embeds its salt and parameters."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with no stored hash, spend the same time and say no."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the stored hash uses weaker parameters than today's; rehash at next login."""
    return _hasher.check_needs_rehash(stored_hash)
