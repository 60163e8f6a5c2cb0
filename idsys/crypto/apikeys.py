"""Partner API keys: shown once, stored only as a digest, found by a public prefix.

A key looks like ``idsys_<prefix>_<secret>``: the prefix (8 characters) is stored in clear to find
the partner without a table scan and to name the key in audit rows and the admin pages; the
secret (32 random bytes) is stored as SHA-256. A slow password hash is not needed: the secret
has 256 bits of entropy, so a stolen digest cannot be brute-forced.
"""

from __future__ import annotations

import re

from idsys.crypto import primitives

_KEY_RE = re.compile(r"^idsys_([0-9a-z]{8})_([A-Za-z0-9_-]{43})$")
_PREFIX_ALPHABET = "0123456789abcdefghijkmnpqrstuvwxyz"


def new_api_key() -> tuple[str, str, str]:
    """Return (full key to show once, public prefix, digest to store)."""
    prefix = "".join(
        _PREFIX_ALPHABET[primitives.random_below(len(_PREFIX_ALPHABET))] for _ in range(8)
    )
    secret = primitives.random_token(32)
    return f"idsys_{prefix}_{secret}", prefix, digest(secret)


def digest(secret: str) -> str:
    return primitives.sha256(secret.encode()).hex()


def split_key(presented: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, or None."""
    match = _KEY_RE.match(presented.strip())
    return (match.group(1), match.group(2)) if match else None


def matches(secret: str, stored_digest: str) -> bool:
    return primitives.constant_time_equal(digest(secret), stored_digest)
