"""The key ring: every key idsys holds, by purpose and key id.

Each purpose has its own keys so that a leak or a rotation of one never touches another: the
key-encryption keys that wrap applicants' data keys, the blind-index key, the audit-chain key, the
key that seals staff TOTP secrets, and the card-signing keys.

Providers only load and store key material; the ring performs the operations (MAC, seal, open).
An HSM provider (PKCS#11) would implement the same operations without ever exporting material,
which is why callers ask the ring to *do* things rather than asking it for bytes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ec import (
    SECP256R1,
    EllipticCurvePrivateKey,
    derive_private_key,
    generate_private_key,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from idsys.crypto import primitives

FORMAT = "idsys-keyring/1"


class KeyPurpose(StrEnum):
    KEK = "kek"
    BLIND_INDEX = "blind-index"
    AUDIT = "audit"
    TOTP = "totp"
    SIGNING = "signing"


class KeyState(StrEnum):
    ACTIVE = "active"  # used for new work; exactly one per purpose
    PREVIOUS = "previous"  # still opens and verifies what it made, until retired


class KeyRingError(RuntimeError):
    """The key ring is missing, unreadable or inconsistent; idsys must not run without it."""


class UnknownKeyError(KeyRingError):
    """A stored value names a key id that is not (or no longer) in the ring."""


@dataclass(frozen=True)
class KeyEntry:
    kid: str
    purpose: KeyPurpose
    state: KeyState
    alg: str
    created: str
    material: bytes

    def public_dict(self) -> dict[str, str]:
        """Everything but the material, for listings and logs."""
        return {
            "kid": self.kid,
            "purpose": self.purpose.value,
            "state": self.state.value,
            "alg": self.alg,
            "created": self.created,
        }


SYMMETRIC_ALG = "HS256/A256GCM"
DEFAULT_ALGS: dict[KeyPurpose, str] = {
    KeyPurpose.KEK: SYMMETRIC_ALG,
    KeyPurpose.BLIND_INDEX: SYMMETRIC_ALG,
    KeyPurpose.AUDIT: SYMMETRIC_ALG,
    KeyPurpose.TOTP: SYMMETRIC_ALG,
    KeyPurpose.SIGNING: "EdDSA",
}
SIGNING_ALGS = ("EdDSA", "ES256")
_KID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_key(
    purpose: KeyPurpose, alg: str | None = None, *, now: datetime | None = None
) -> KeyEntry:
    """Generate a fresh active key for ``purpose`` with a new, unique key id."""
    alg = alg or DEFAULT_ALGS[purpose]
    if purpose is KeyPurpose.SIGNING:
        if alg == "EdDSA":
            material = primitives.random_bytes(32)  # an Ed25519 private key is 32 random bytes
        elif alg == "ES256":
            scalar = generate_private_key(SECP256R1()).private_numbers().private_value
            material = scalar.to_bytes(32, "big")
        else:
            raise KeyRingError(f"signing algorithm {alg!r} is not supported; use EdDSA or ES256")
    else:
        material = primitives.random_bytes(32)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d")
    if purpose is KeyPurpose.SIGNING:
        # Printed inside every QR: kept short so a 40-character name fits QR version 10.
        kid = "s" + "".join(_KID_ALPHABET[primitives.random_below(32)] for _ in range(6))
    else:
        kid = f"{purpose.value}-{stamp}-{primitives.random_token(6)}"
    created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return KeyEntry(kid, purpose, KeyState.ACTIVE, alg, created, material)


def _encode(entries: Iterable[KeyEntry]) -> str:
    keys = [
        {**e.public_dict(), "material": base64.urlsafe_b64encode(e.material).decode()}
        for e in entries
    ]
    return json.dumps({"format": FORMAT, "keys": keys}, indent=2) + "\n"


def _decode(text: str, source: str) -> list[KeyEntry]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyRingError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise KeyRingError(f"{source}: not an idsys key ring (expected format {FORMAT!r})")
    raw_keys = data.get("keys")
    if not isinstance(raw_keys, list):
        raise KeyRingError(f"{source}: 'keys' must be a list")
    entries = []
    for index, raw in enumerate(raw_keys):
        entries.append(_decode_entry(raw, f"{source}: keys[{index}]"))
    return entries


def _decode_entry(raw: Any, where: str) -> KeyEntry:
    if not isinstance(raw, dict):
        raise KeyRingError(f"{where}: must be an object")
    try:
        purpose = KeyPurpose(raw["purpose"])
        state = KeyState(raw["state"])
        material = base64.urlsafe_b64decode(str(raw["material"]).encode())
        entry = KeyEntry(
            kid=str(raw["kid"]),
            purpose=purpose,
            state=state,
            alg=str(raw.get("alg") or DEFAULT_ALGS[purpose]),
            created=str(raw.get("created", "")),
            material=material,
        )
    except KeyError as exc:
        raise KeyRingError(f"{where}: missing field {exc.args[0]!r}") from None
    except ValueError as exc:
        raise KeyRingError(f"{where}: {exc}") from None
    if len(entry.material) != 32:
        raise KeyRingError(f"{where} ({entry.kid}): key material must be 32 bytes")
    if entry.purpose is KeyPurpose.SIGNING and entry.alg not in SIGNING_ALGS:
        raise KeyRingError(f"{where} ({entry.kid}): unsupported signing algorithm {entry.alg!r}")
    return entry


class KeyProvider(Protocol):
    """Loads and stores key entries. ``description`` names the source in error messages."""

    description: str
    writable: bool

    def load(self) -> list[KeyEntry]: ...

    def store(self, entries: list[KeyEntry]) -> None: ...

    def fingerprint(self) -> tuple[int, int] | None:
        """Changes when the stored ring changes (None: it never changes under us)."""


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` atomically to ``path`` with mode 0600, so no other account can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class FileKeyProvider:
    """A JSON key ring on disk, readable only by the service account."""

    writable = True

    def __init__(self, path: Path, *, strict_permissions: bool) -> None:
        self.path = path
        self.strict_permissions = strict_permissions
        self.description = f"key file {path}"

    def exists(self) -> bool:
        return self.path.exists()

    def fingerprint(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def load(self) -> list[KeyEntry]:
        try:
            info = self.path.stat()
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyRingError(
                f"{self.description} does not exist. idsys will not run without its keys "
                "(and never falls back to plaintext)."
            ) from None
        except OSError as exc:
            raise KeyRingError(f"{self.description} cannot be read: {exc.strerror}.") from None
        if self.strict_permissions and stat.S_IMODE(info.st_mode) & 0o077:
            raise KeyRingError(
                f"{self.description} is readable by other accounts "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run chmod 600 on it."
            )
        return _decode(text, self.description)

    def store(self, entries: list[KeyEntry]) -> None:
        write_private_file(self.path, _encode(entries))


class EnvKeyProvider:
    """The key ring as JSON in an environment variable, for platforms that inject secrets."""

    writable = False

    def __init__(self, text: str, variable: str = "IDSYS_KEYS") -> None:
        self.text = text
        self.description = f"environment variable {variable}"

    def load(self) -> list[KeyEntry]:
        return _decode(self.text, self.description)

    def fingerprint(self) -> tuple[int, int] | None:
        return None

    def store(self, entries: list[KeyEntry]) -> None:
        raise KeyRingError(
            f"the key ring in the {self.description} is read-only: rotate a copy of it with the "
            "file provider (IDSYS_KEY_FILE) and deploy the result through your secret store."
        )


def export_ring(entries: Iterable[KeyEntry]) -> str:
    """The ring as JSON text, for moving it into a secret store (it contains private keys)."""
    return _encode(entries)


class KeyRing:
    """All keys, by purpose; performs the keyed operations so callers never hold key bytes."""

    def __init__(self, provider: KeyProvider, entries: list[KeyEntry]) -> None:
        self.provider = provider
        self._entries = list(entries)
        self._fingerprint = provider.fingerprint()
        self._public_cache: dict[str, Any] | None = None
        self._check()

    @classmethod
    def open(
        cls, provider: KeyProvider, *, generate_missing: bool, required: Iterable[KeyPurpose]
    ) -> KeyRing:
        """Load the ring; in development create missing keys, elsewhere refuse to start."""
        if generate_missing and isinstance(provider, FileKeyProvider) and not provider.exists():
            entries: list[KeyEntry] = []
        else:
            entries = provider.load()
        missing = [p for p in required if not any(e.purpose is p for e in entries)]
        if missing and generate_missing:
            entries.extend(new_key(p) for p in missing)
            provider.store(entries)
        elif missing:
            names = ", ".join(p.value for p in missing)
            raise KeyRingError(
                f"{provider.description} has no key for: {names}. Add them "
                "(`python -m idsys.crypto init-keyring PATH` makes a complete ring), then start."
            )
        return cls(provider, entries)

    def _check(self) -> None:
        seen: set[str] = set()
        for entry in self._entries:
            if entry.kid in seen:
                raise KeyRingError(f"{self.provider.description}: key id {entry.kid} appears twice")
            seen.add(entry.kid)
        for purpose in KeyPurpose:
            active = [
                e for e in self._entries if e.purpose is purpose and e.state is KeyState.ACTIVE
            ]
            if len(active) > 1:
                raise KeyRingError(
                    f"{self.provider.description}: {len(active)} active {purpose.value} keys; "
                    "exactly one may be active"
                )

    def refresh(self) -> None:
        """Reload when another process (a rotation command) changed the stored ring.

        Without this a long-running worker would keep wrapping new data keys under a KEK that
        a rotation has since replaced, and could even use one after it was retired.
        """
        current = self.provider.fingerprint()
        if current is not None and current != self._fingerprint:
            self._entries = self.provider.load()
            self._fingerprint = current
            self._public_cache = None
            self._check()

    @property
    def entries(self) -> tuple[KeyEntry, ...]:
        self.refresh()
        return tuple(self._entries)

    def active(self, purpose: KeyPurpose) -> KeyEntry:
        self.refresh()
        for entry in self._entries:
            if entry.purpose is purpose and entry.state is KeyState.ACTIVE:
                return entry
        raise KeyRingError(f"{self.provider.description} has no active {purpose.value} key")

    def get(self, purpose: KeyPurpose, kid: str) -> KeyEntry:
        self.refresh()
        for entry in self._entries:
            if entry.kid == kid and entry.purpose is purpose:
                return entry
        raise UnknownKeyError(f"no {purpose.value} key with id {kid!r} in the key ring")

    def of_purpose(self, purpose: KeyPurpose) -> list[KeyEntry]:
        self.refresh()
        return [e for e in self._entries if e.purpose is purpose]

    # -- operations --------------------------------------------------------------------------

    def mac(self, purpose: KeyPurpose, data: bytes, kid: str | None = None) -> tuple[str, bytes]:
        """HMAC-SHA256 of ``data`` under the active (or the named) key of ``purpose``."""
        entry = self.get(purpose, kid) if kid else self.active(purpose)
        return entry.kid, primitives.hmac_sha256(entry.material, data)

    def seal(self, purpose: KeyPurpose, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """AES-256-GCM encrypt under the active key; ``aad`` binds the ciphertext to its place."""
        entry = self.active(purpose)
        return entry.kid, primitives.aead_encrypt(entry.material, plaintext, aad)

    def open_sealed(self, purpose: KeyPurpose, kid: str, blob: bytes, aad: bytes) -> bytes:
        """Decrypt what :meth:`seal` made; raises DecryptionError if anything was changed."""
        return primitives.aead_decrypt(self.get(purpose, kid).material, blob, aad)

    def signing_key(self, kid: str | None = None) -> Ed25519PrivateKey | EllipticCurvePrivateKey:
        """The private signing key object (active, or named) for COSE signing."""
        entry = self.get(KeyPurpose.SIGNING, kid) if kid else self.active(KeyPurpose.SIGNING)
        if entry.alg == "ES256":
            return derive_private_key(int.from_bytes(entry.material, "big"), SECP256R1())
        return Ed25519PrivateKey.from_private_bytes(entry.material)

    def verification_keys(self) -> dict[str, Any]:
        """Public keys of every signing key still in the ring, by key id (cached until the
        ring changes: verifying a card should not re-derive them each time)."""
        self.refresh()
        if self._public_cache is None:
            self._public_cache = {
                e.kid: self.signing_key(e.kid).public_key()
                for e in self.of_purpose(KeyPurpose.SIGNING)
            }
        return self._public_cache

    # -- rotation ----------------------------------------------------------------------------

    def rotate(self, purpose: KeyPurpose, alg: str | None = None) -> KeyEntry:
        """Make a new active key for ``purpose``; the old one stays ``previous`` until retired."""
        fresh = new_key(purpose, alg or self.active(purpose).alg)
        self._entries = [
            replace(e, state=KeyState.PREVIOUS) if e.purpose is purpose else e
            for e in self._entries
        ]
        self._entries.append(fresh)
        self._check()
        self.provider.store(self._entries)
        self._fingerprint = self.provider.fingerprint()
        self._public_cache = None
        return fresh

    def retire(self, purpose: KeyPurpose, kid: str) -> None:
        """Remove a previous key for good; whatever it alone protects becomes unreadable."""
        entry = self.get(purpose, kid)
        if entry.state is KeyState.ACTIVE:
            raise KeyRingError(f"{kid} is the active {purpose.value} key; rotate before retiring")
        self._entries = [e for e in self._entries if e.kid != kid]
        self.provider.store(self._entries)
        self._fingerprint = self.provider.fingerprint()
        self._public_cache = None


def ensure_secret_file(path: Path) -> str:
    """Return the secret stored at ``path``, generating a new random one (mode 0600) if absent."""
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) < 32:
            raise KeyRingError(f"{path} holds a secret shorter than 32 characters; delete it")
        return secret
    secret = primitives.random_token(48)
    write_private_file(path, secret + "\n")
    return secret
