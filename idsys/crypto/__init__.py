"""The single front door to cryptography in idsys.

Nothing outside this package imports a cryptographic primitive (a test enforces it): reviewers
read this package to know every key, every algorithm and every place a secret is handled.
"""

from idsys.crypto import apikeys
from idsys.crypto.envelope import DataKey, WrappedKey, blind_index, new_data_key, rewrap, unwrap
from idsys.crypto.keyring import (
    EnvKeyProvider,
    FileKeyProvider,
    KeyEntry,
    KeyProvider,
    KeyPurpose,
    KeyRing,
    KeyRingError,
    KeyState,
    UnknownKeyError,
    ensure_secret_file,
)
from idsys.crypto.passwords import hash_password, needs_rehash, verify_password
from idsys.crypto.primitives import (
    DecryptionError,
    constant_time_equal,
    random_below,
    random_token,
)

__all__ = [
    "DataKey",
    "DecryptionError",
    "EnvKeyProvider",
    "FileKeyProvider",
    "KeyEntry",
    "KeyProvider",
    "KeyPurpose",
    "KeyRing",
    "KeyRingError",
    "KeyState",
    "UnknownKeyError",
    "WrappedKey",
    "apikeys",
    "blind_index",
    "constant_time_equal",
    "ensure_secret_file",
    "hash_password",
    "needs_rehash",
    "new_data_key",
    "random_below",
    "random_token",
    "rewrap",
    "unwrap",
    "verify_password",
]
