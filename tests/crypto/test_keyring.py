"""The key ring: providers, purposes kept apart, sealing, rotation and retirement."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.hashes import SHA256

from idsys.crypto import (
    DecryptionError,
    EnvKeyProvider,
    FileKeyProvider,
    KeyPurpose,
    KeyRing,
    KeyRingError,
    KeyState,
    UnknownKeyError,
)
from idsys.crypto.keyring import export_ring

ALL = tuple(KeyPurpose)


def _ring(path: Path) -> KeyRing:
    return KeyRing.open(
        FileKeyProvider(path, strict_permissions=True), generate_missing=True, required=ALL
    )


def test_generated_ring_is_owner_only_with_one_key_per_purpose(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = _ring(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(e.purpose.value for e in ring.entries) == sorted(p.value for p in KeyPurpose)
    assert len({e.material for e in ring.entries}) == len(ring.entries)  # no key reused
    assert all(
        e.kid.startswith("s" if e.purpose is KeyPurpose.SIGNING else e.purpose.value + "-")
        for e in ring.entries
    )


def test_reopening_keeps_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = _ring(path)
    second = _ring(path)
    assert [e.material for e in first.entries] == [e.material for e in second.entries]


def test_env_provider_reads_the_same_format(tmp_path: Path) -> None:
    ring = _ring(tmp_path / "keyring.json")
    text = export_ring(ring.entries)
    from_env = KeyRing.open(EnvKeyProvider(text), generate_missing=False, required=ALL)
    kid, sealed = ring.seal(KeyPurpose.TOTP, b"secret", b"aad")
    assert from_env.open_sealed(KeyPurpose.TOTP, kid, sealed, b"aad") == b"secret"
    with pytest.raises(KeyRingError, match="read-only"):
        from_env.rotate(KeyPurpose.AUDIT)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "not an idsys key ring"),
        ('{"format": "idsys-keyring/1", "keys": {}}', "'keys' must be a list"),
        ('{"format": "idsys-keyring/1", "keys": [{"purpose": "kek"}]}', "missing field"),
        (
            '{"format": "idsys-keyring/1", "keys": [{"kid": "a", "purpose": "nope", "state": '
            '"active", "material": "AAAA"}]}',
            "'nope' is not a valid KeyPurpose",
        ),
        (
            '{"format": "idsys-keyring/1", "keys": [{"kid": "a", "purpose": "kek", "state": '
            '"active", "material": "AAAA"}]}',
            "must be 32 bytes",
        ),
    ],
)
def test_broken_rings_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=message):
        KeyRing.open(EnvKeyProvider(text), generate_missing=False, required=ALL)


def test_sealed_data_is_bound_to_its_place(tmp_path: Path) -> None:
    ring = _ring(tmp_path / "keyring.json")
    kid, sealed = ring.seal(KeyPurpose.TOTP, b"secret", b"staff-totp|1")
    with pytest.raises(DecryptionError):
        ring.open_sealed(KeyPurpose.TOTP, kid, sealed, b"staff-totp|2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptionError):
        ring.open_sealed(KeyPurpose.TOTP, kid, tampered, b"staff-totp|1")
    with pytest.raises(UnknownKeyError):
        ring.open_sealed(KeyPurpose.KEK, kid, sealed, b"staff-totp|1")  # other purpose


def test_rotation_keeps_old_keys_working_until_retired(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = _ring(path)
    old_kid, sealed = ring.seal(KeyPurpose.TOTP, b"secret", b"x")
    new = ring.rotate(KeyPurpose.TOTP)
    assert new.kid != old_kid
    assert ring.active(KeyPurpose.TOTP).kid == new.kid
    reopened = _ring(path)
    assert reopened.get(KeyPurpose.TOTP, old_kid).state is KeyState.PREVIOUS
    assert reopened.open_sealed(KeyPurpose.TOTP, old_kid, sealed, b"x") == b"secret"
    with pytest.raises(KeyRingError, match="rotate before retiring"):
        reopened.retire(KeyPurpose.TOTP, new.kid)
    reopened.retire(KeyPurpose.TOTP, old_kid)
    with pytest.raises(UnknownKeyError):
        _ring(path).open_sealed(KeyPurpose.TOTP, old_kid, sealed, b"x")


def test_two_active_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    _ring(path)
    data = json.loads(path.read_text())
    extra = dict(data["keys"][0], kid="kek-extra")
    data["keys"].append(extra)
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    with pytest.raises(KeyRingError, match="exactly one may be active"):
        _ring(path)


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_signing_keys_load_as_private_key_objects(tmp_path: Path, alg: str) -> None:
    ring = _ring(tmp_path / "keyring.json")
    entry = ring.rotate(KeyPurpose.SIGNING, alg)
    assert entry.alg == alg
    key = ring.signing_key()
    if alg == "EdDSA":
        assert isinstance(key, Ed25519PrivateKey)
        key.public_key().verify(key.sign(b"card"), b"card")
    else:
        assert isinstance(key, EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"
        signature = key.sign(b"card", ECDSA(SHA256()))
        key.public_key().verify(signature, b"card", ECDSA(SHA256()))
    # The same bytes load to the same key: nothing random is re-derived on each start.
    assert ring.signing_key(entry.kid).public_key() == key.public_key()
