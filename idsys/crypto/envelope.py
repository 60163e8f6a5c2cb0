"""Envelope encryption of applicant records.

Each applicant has a random 256-bit data key (DEK). Their personal fields and their photo are
encrypted under it with AES-256-GCM; the DEK itself is stored only wrapped by the current
key-encryption key (KEK) of the key ring. This gives three properties the programme needs:

- rotation re-wraps 32-byte keys instead of re-encrypting every profile and photo;
- erasure destroys one wrapped key and every ciphertext of that person becomes noise
  (crypto-shredding), without touching anyone else's record;
- associated data binds each ciphertext to its applicant and purpose, so a ciphertext copied to
  another row, or a photo swapped into a profile column, fails to decrypt.
"""

from __future__ import annotations

from dataclasses import dataclass

from idsys.crypto import primitives
from idsys.crypto.keyring import KeyPurpose, KeyRing

DEK_BYTES = 32
FORMAT_VERSION = b"v1"


@dataclass(frozen=True)
class WrappedKey:
    """A data key as stored: which KEK wrapped it, and the wrapped bytes."""

    kek_id: str
    blob: bytes


class DataKey:
    """An unwrapped data key, held in memory only for the length of one operation."""

    __slots__ = ("_material",)

    def __init__(self, material: bytes) -> None:
        if len(material) != DEK_BYTES:
            raise ValueError("a data key is 32 bytes")
        self._material = material

    def __repr__(self) -> str:
        return "DataKey(<hidden>)"

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        """AES-256-GCM under this data key; ``aad`` must name the owner and the purpose."""
        return primitives.aead_encrypt(self._material, plaintext, FORMAT_VERSION + b"|" + aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        """Raises DecryptionError when the blob was altered or belongs elsewhere."""
        return primitives.aead_decrypt(self._material, blob, FORMAT_VERSION + b"|" + aad)


def _wrap_aad(owner: str) -> bytes:
    return b"idsys-dek|" + owner.encode()


def new_data_key(keys: KeyRing, owner: str) -> tuple[DataKey, WrappedKey]:
    """A fresh data key for ``owner`` (an applicant id), and its wrapped form to store."""
    dek = DataKey(primitives.random_bytes(DEK_BYTES))
    kid, blob = keys.seal(KeyPurpose.KEK, dek._material, _wrap_aad(owner))
    return dek, WrappedKey(kid, blob)


def unwrap(keys: KeyRing, owner: str, wrapped: WrappedKey) -> DataKey:
    """Unwrap a stored data key; fails if it was wrapped for another owner or altered."""
    return DataKey(keys.open_sealed(KeyPurpose.KEK, wrapped.kek_id, wrapped.blob, _wrap_aad(owner)))


def rewrap(keys: KeyRing, owner: str, wrapped: WrappedKey) -> WrappedKey:
    """Re-wrap a data key under the active KEK (key rotation); the data key itself is unchanged."""
    dek = unwrap(keys, owner, wrapped)
    kid, blob = keys.seal(KeyPurpose.KEK, dek._material, _wrap_aad(owner))
    return WrappedKey(kid, blob)


def blind_index(keys: KeyRing, kind: str, normalised: str) -> tuple[str, str]:
    """A keyed, truncated digest of a normalised value, for equality look-ups without decryption.

    HMAC-SHA256 under the blind-index key (its own purpose: a leak of the data keys does not
    help to invert it), prefixed with the index kind so equal values of different kinds do not
    collide, truncated to 128 bits: plenty against accidental collisions, and less to store.
    Returns (key id, hex digest).
    """
    kid, digest = keys.mac(KeyPurpose.BLIND_INDEX, f"{kind}|{normalised}".encode())
    return kid, digest[:16].hex()
