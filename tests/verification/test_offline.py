"""Offline card checks: `check` called directly, and the command line run as a real process.

Keys are generated here, QR texts signed with the real encoder, key sets built with `jwk_set` and
status lists with `sign_status_list`: what a partner would download, byte for byte.
"""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from idsys.crypto.base45 import ALPHABET
from idsys.crypto.claim169 import CardClaims, PrivateKey, encode
from idsys.crypto.jwk import JWKError, jwk_set
from idsys.crypto.statuslist import (
    PUBLIC_REASONS,
    BadStatusListSignatureError,
    MalformedStatusListError,
    StatusListRollbackError,
    StatusListTooLargeError,
    UnknownStatusListKeyError,
    sign_status_list,
)
from idsys.verification.offline import OfflineResult, check, main

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://id.example.org"
ISSUED = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
EXPIRES = datetime(2030, 3, 2, 5, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LIST_ISSUED = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)
LIST_NEXT = datetime(2026, 1, 2, 6, 0, tzinfo=UTC)
KID = "signing-2025-03"
NAME = "Nguyễn Thị Minh Khai"
CARD = CardClaims("SPR-0001-2345-6", NAME, date(1990, 1, 2), "F")


@pytest.fixture(scope="module")
def key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def jwks(key: ed25519.Ed25519PrivateKey) -> dict[str, Any]:
    return jwk_set({KID: key.public_key()})


def qr(
    private_key: PrivateKey,
    claims: CardClaims = CARD,
    *,
    kid: str = KID,
    expires_at: datetime | None = EXPIRES,
) -> str:
    return encode(
        claims,
        issuer=ISSUER,
        issued_at=ISSUED,
        expires_at=expires_at,
        private_key=private_key,
        kid=kid,
    )


def status_list(
    private_key: PrivateKey,
    entries: Sequence[tuple[str, str]] = (),
    *,
    kid: str = KID,
    issuer: str = ISSUER,
    issued_at: datetime = LIST_ISSUED,
    next_update: datetime = LIST_NEXT,
) -> bytes:
    return sign_status_list(
        entries,
        issuer=issuer,
        issued_at=issued_at,
        next_update=next_update,
        sequence=7,
        private_key=private_key,
        kid=kid,
    )


def run_cli(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The tool as a partner runs it: a separate process, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "idsys.verification.offline", *map(str, args)],
        cwd=ROOT,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


@pytest.fixture
def files(tmp_path: Path, key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> dict[str, Path]:
    jwks_path = tmp_path / "jwks.json"
    jwks_path.write_text(json.dumps(jwks), encoding="utf-8")
    list_path = tmp_path / "status.cose"
    list_path.write_bytes(
        status_list(key, [("SPR-9999", "stolen")], next_update=datetime.now(UTC) + timedelta(1))
    )
    return {"jwks": jwks_path, "list": list_path}


# --- check(): verdicts ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_valid(algorithm: str) -> None:
    signer: PrivateKey = (
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "EdDSA"
        else ec.generate_private_key(ec.SECP256R1())
    )
    keys = jwk_set({KID: signer.public_key()})
    result = check(qr(signer), keys, status_list(signer, [("SPR-9999", "lost")]), now=NOW)
    assert result == OfflineResult(
        result="valid",
        reason=None,
        detail="Authentic card, not expired, not revoked.",
        claims=CARD,
        issuer=ISSUER,
        issued_at=ISSUED,
        expires_at=EXPIRES,
        kid=KID,
        revocation="checked",
        status_list_sequence=7,
        status_list_issued_at=LIST_ISSUED,
        status_list_next_update=LIST_NEXT,
        warnings=(),
    )
    assert result.ok


def test_expired(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    result = check(qr(key), jwks, status_list(key), now=EXPIRES)
    assert (result.result, result.reason, result.ok) == ("expired", None, False)
    assert result.claims == CARD  # authentic, so the partner may see who it was issued to
    assert "expired since 2030-03-02 05:00 UTC" in result.detail


def test_card_without_expiry_stays_valid(
    key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]
) -> None:
    result = check(qr(key, expires_at=None), jwks, status_list(key), now=NOW)
    assert result.result == "valid"
    assert result.expires_at is None


@pytest.mark.parametrize("reason", PUBLIC_REASONS)
def test_revoked_with_each_public_reason(
    key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any], reason: str
) -> None:
    listing = status_list(key, [("SPR-0000", "lost"), (CARD.card_number, reason)])
    result = check(qr(key), jwks, listing, now=NOW)
    assert (result.result, result.reason, result.ok) == ("revoked", reason, False)
    assert result.claims == CARD
    assert f"revoked ({reason})" in result.detail


def test_revoked_wins_over_expired(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    listing = status_list(key, [(CARD.card_number, "stolen")], next_update=EXPIRES + timedelta(1))
    result = check(qr(key), jwks, listing, now=EXPIRES + timedelta(hours=1))
    assert (result.result, result.reason) == ("revoked", "stolen")


def test_card_number_must_match_exactly(
    key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]
) -> None:
    listing = status_list(key, [(CARD.card_number.lower(), "lost"), ("SPR-0001-2345", "lost")])
    assert check(qr(key), jwks, listing, now=NOW).result == "valid"


def test_unknown_kid(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    stranger = ed25519.Ed25519PrivateKey.generate()
    result = check(qr(stranger, kid="somebody-else"), jwks, status_list(key), now=NOW)
    assert (result.result, result.reason) == ("invalid", "unknown_key")
    assert "'somebody-else'" in result.detail
    assert (result.claims, result.issuer, result.kid) == (None, None, None)


def test_right_kid_wrong_key(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    forger = ed25519.Ed25519PrivateKey.generate()
    result = check(qr(forger), jwks, status_list(key), now=NOW)
    assert (result.result, result.reason, result.claims) == ("invalid", "bad_signature", None)


def test_tampered_qr_one_character(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    text = qr(key)
    for position in range(0, len(text), 3):
        replacement = ALPHABET[(ALPHABET.index(text[position]) + 1) % len(ALPHABET)]
        tampered = text[:position] + replacement + text[position + 1 :]
        result = check(tampered, jwks, status_list(key), now=NOW)
        assert result.result == "invalid", position
        assert result.reason in ("malformed", "bad_signature")
        assert result.claims is None


@pytest.mark.parametrize("text", ["", "hello", "%%%", "A" * 4000, "SPR-0001-2345-6"])
def test_garbage_qr_text(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any], text: str) -> None:
    result = check(text, jwks, None, now=NOW)
    assert (result.result, result.reason, result.claims) == ("invalid", "malformed", None)


def test_rotated_keys(key: ed25519.Ed25519PrivateKey) -> None:
    """A card signed before rotation stays valid while the old key is still published."""
    new = ec.generate_private_key(ec.SECP256R1())
    both = jwk_set([("signing-2026-01", new.public_key()), (KID, key.public_key())])
    listing = status_list(new, kid="signing-2026-01")
    old_card = check(qr(key), both, listing, now=NOW)
    assert (old_card.result, old_card.kid) == ("valid", KID)
    assert check(qr(new, kid="signing-2026-01"), both, listing, now=NOW).result == "valid"

    retired = jwk_set({"signing-2026-01": new.public_key()})
    after = check(qr(key), retired, listing, now=NOW)
    assert (after.result, after.reason) == ("invalid", "unknown_key")


def test_trailing_scanner_newline(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    assert check(qr(key) + "\r\n", jwks, status_list(key), now=NOW).result == "valid"


# --- check(): the status list --------------------------------------------------------------------


def test_missing_list_warns(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    result = check(qr(key), jwks, None, now=NOW)
    assert (result.result, result.revocation) == ("valid", "missing")
    assert result.warnings == ("Revocation could not be checked: no status list was given.",)
    assert result.status_list_sequence is None


def test_stale_list_warns(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    result = check(qr(key), jwks, status_list(key), now=LIST_NEXT + timedelta(hours=3))
    assert (result.result, result.revocation) == ("valid", "stale")
    (warning,) = result.warnings
    assert "stale since 2026-01-02 06:00 UTC" in warning
    assert "issued 2026-01-01 06:00 UTC" in warning


def test_stale_list_still_revokes(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    listing = status_list(key, [(CARD.card_number, "lost")])
    result = check(qr(key), jwks, listing, now=LIST_NEXT + timedelta(days=30))
    assert (result.result, result.reason, result.revocation) == ("revoked", "lost", "stale")


def test_list_from_unknown_key_refused(
    key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]
) -> None:
    stranger = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(UnknownStatusListKeyError, match="'elsewhere'"):
        check(qr(key), jwks, status_list(stranger, kid="elsewhere"), now=NOW)


def test_list_signed_by_another_key_under_our_kid_refused(
    key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]
) -> None:
    forger = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(BadStatusListSignatureError, match="does not verify"):
        check(qr(key), jwks, status_list(forger), now=NOW)


def test_tampered_list_refused(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    listing = bytearray(status_list(key, [(CARD.card_number, "stolen")]))
    at = bytes(listing).index(CARD.card_number.encode())
    listing[at] ^= 0x01  # the card number no longer matches: an attempt to un-revoke
    with pytest.raises(BadStatusListSignatureError):
        check(qr(key), jwks, bytes(listing), now=NOW)


@pytest.mark.parametrize("data", [b"", b"\x00" * 100, b"\xd2\x9b" + b"\xff" * 8, b"{}"])
def test_garbage_list_refused(
    key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any], data: bytes
) -> None:
    with pytest.raises(MalformedStatusListError):
        check(qr(key), jwks, data, now=NOW)


def test_huge_list_refused(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    with pytest.raises(StatusListTooLargeError):
        check(qr(key), jwks, bytes(17 * 1024 * 1024), now=NOW)


@pytest.mark.parametrize("entries", [[], [(CARD.card_number, "lost")]])
def test_another_issuers_list_is_not_applied(
    key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any], entries: list[tuple[str, str]]
) -> None:
    """Card numbers are each issuer's own: another issuer's list (even one signed by a key in
    the set) can neither clear a card nor revoke it."""
    listing = status_list(key, entries, issuer="https://other.example.org")
    result = check(qr(key), jwks, listing, now=NOW)
    assert (result.result, result.revocation, result.exit_status) == ("valid", "missing", 3)
    (warning,) = result.warnings
    assert "status list was issued by 'https://other.example.org'" in warning
    assert result.status_list_sequence is None


def test_expected_issuer(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    mine = check(qr(key), jwks, status_list(key), now=NOW, issuer=ISSUER)
    assert (mine.result, mine.exit_status) == ("valid", 0)
    other = check(qr(key), jwks, status_list(key), now=NOW, issuer="https://id.other.example")
    assert (other.result, other.reason, other.claims, other.exit_status) == (
        "invalid",
        "other_issuer",
        None,
        1,
    )
    assert NAME not in other.detail


def test_older_list_refused_with_min_sequence(
    key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]
) -> None:
    """A list older than the last one accepted may be replayed to hide a revocation."""
    listing = status_list(key)  # sequence 7
    assert check(qr(key), jwks, listing, now=NOW, min_sequence=7).revocation == "checked"
    with pytest.raises(StatusListRollbackError):
        check(qr(key), jwks, listing, now=NOW, min_sequence=8)


def test_issue_times_after_the_device_clock_warn(
    key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]
) -> None:
    early = ISSUED - timedelta(minutes=10)
    result = check(qr(key), jwks, None, now=early)
    assert result.result == "valid"
    clock = result.warnings[0]
    assert clock.startswith("The card says it was issued at 2025-03-01 09:30 UTC")
    assert "check the device's clock" in clock
    listing = status_list(key, issued_at=NOW + timedelta(hours=1), next_update=LIST_NEXT)
    (warning,) = check(qr(key), jwks, listing, now=NOW).warnings
    assert warning.startswith("The status list says it was issued at 2026-01-01 13:00 UTC")
    within_skew = check(qr(key), jwks, None, now=ISSUED - timedelta(minutes=4))
    assert not any("clock" in warning for warning in within_skew.warnings)


# --- check(): set-up faults ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [{}, {"keys": "x"}, {"keys": []}, {"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}],
)
def test_unusable_jwks_raises(key: ed25519.Ed25519PrivateKey, document: Any) -> None:
    with pytest.raises(JWKError):
        check(qr(key), document, None, now=NOW)


def test_private_jwk_raises(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    leaked = {"keys": [{**jwks["keys"][0], "d": "AAAA"}]}
    with pytest.raises(JWKError, match="private"):
        check(qr(key), leaked, None, now=NOW)


def test_naive_now_refused(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="timezone"):
        check(qr(key), jwks, None, now=datetime(2026, 1, 1))  # noqa: DTZ001


def test_to_dict(key: ed25519.Ed25519PrivateKey, jwks: dict[str, Any]) -> None:
    listing = status_list(key, [(CARD.card_number, "superseded")])
    assert check(qr(key), jwks, listing, now=NOW).to_dict() == {
        "result": "revoked",
        "reason": "superseded",
        "detail": "Authentic card, but revoked (superseded). Do not accept it.",
        "card": {
            "card_number": CARD.card_number,
            "full_name": NAME,
            "date_of_birth": "1990-01-02",
            "gender": "F",
        },
        "issuer": ISSUER,
        "issued_at": "2025-03-01T09:30:00Z",
        "expires_at": "2030-03-02T05:00:00Z",
        "kid": KID,
        "revocation": {
            "status": "checked",
            "list_sequence": 7,
            "list_issued_at": "2026-01-01T06:00:00Z",
            "list_next_update": "2026-01-02T06:00:00Z",
        },
        "warnings": [],
    }


# --- the command line ----------------------------------------------------------------------------


def test_cli_valid(key: ed25519.Ed25519PrivateKey, files: dict[str, Path]) -> None:
    done = run_cli("--jwks", files["jwks"], "--status-list", files["list"], qr(key))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("VALID: Authentic card, not expired, not revoked.\n")
    assert NAME in done.stdout
    assert "SPR-0001-2345-6" in done.stdout
    assert "1990-01-02" in done.stdout
    assert "WARNING" not in done.stdout
    assert done.stderr == ""


def test_cli_reads_one_line_from_stdin(
    key: ed25519.Ed25519PrivateKey, files: dict[str, Path]
) -> None:
    """As a keyboard-wedge scanner types it: the text, then Enter; later lines are not read."""
    done = run_cli(
        "--jwks", files["jwks"], "--status-list", files["list"], "-",
        stdin=qr(key) + "\r\nnext scan\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("VALID:")


def test_cli_empty_stdin(files: dict[str, Path]) -> None:
    done = run_cli("--jwks", files["jwks"], "-", stdin="\n")
    assert done.returncode == 2
    assert "no QR text given on standard input" in done.stderr


def test_cli_json(key: ed25519.Ed25519PrivateKey, files: dict[str, Path]) -> None:
    done = run_cli("--jwks", files["jwks"], "--json", qr(key))
    assert done.returncode == 3, done.stderr  # valid, but revocation not checked
    output = json.loads(done.stdout)
    assert output["result"] == "valid"
    assert output["card"]["full_name"] == NAME
    assert output["revocation"]["status"] == "missing"
    assert output["warnings"] == ["Revocation could not be checked: no status list was given."]


def test_cli_missing_list_warns(key: ed25519.Ed25519PrivateKey, files: dict[str, Path]) -> None:
    done = run_cli("--jwks", files["jwks"], qr(key))
    assert done.returncode == 3
    assert done.stdout.startswith("VALID: Authentic card, not expired; revocation not checked.")
    assert "WARNING: Revocation could not be checked" in done.stdout


def test_cli_stale_list_warns(
    key: ed25519.Ed25519PrivateKey, files: dict[str, Path], tmp_path: Path
) -> None:
    stale = tmp_path / "stale.cose"
    now = datetime.now(UTC).replace(microsecond=0)
    since = now - timedelta(days=2)
    stale.write_bytes(status_list(key, issued_at=now - timedelta(days=3), next_update=since))
    done = run_cli("--jwks", files["jwks"], "--status-list", stale, qr(key, expires_at=None))
    assert done.returncode == 3
    expected = since.strftime("%Y-%m-%d %H:%M UTC")
    assert f"WARNING: The status list is stale since {expected}" in done.stdout


def test_cli_revoked(
    key: ed25519.Ed25519PrivateKey, files: dict[str, Path], tmp_path: Path
) -> None:
    revoked = tmp_path / "revoked.cose"
    future = datetime.now(UTC) + timedelta(days=1)
    revoked.write_bytes(
        status_list(key, [(CARD.card_number, "stolen")], issued_at=NOW, next_update=future)
    )
    done = run_cli("--jwks", files["jwks"], "--status-list", revoked, "--json", qr(key))
    assert done.returncode == 1
    output = json.loads(done.stdout)
    assert (output["result"], output["reason"]) == ("revoked", "stolen")


def test_cli_expired(key: ed25519.Ed25519PrivateKey, files: dict[str, Path]) -> None:
    long_ago = qr(key, expires_at=datetime(2025, 3, 2, tzinfo=UTC))
    done = run_cli("--jwks", files["jwks"], "--status-list", files["list"], long_ago)
    assert done.returncode == 1
    assert done.stdout.startswith("EXPIRED: Authentic card, but expired since 2025-03-02")


def test_cli_invalid_shows_no_personal_data(
    key: ed25519.Ed25519PrivateKey, files: dict[str, Path]
) -> None:
    forged = qr(ed25519.Ed25519PrivateKey.generate())
    done = run_cli("--jwks", files["jwks"], "--status-list", files["list"], forged)
    assert done.returncode == 1
    assert done.stdout.startswith("INVALID: Not accepted: the signature does not verify")
    assert NAME not in done.stdout
    assert CARD.card_number not in done.stdout


def test_cli_tampered_qr(key: ed25519.Ed25519PrivateKey, files: dict[str, Path]) -> None:
    text = qr(key)
    middle = len(text) // 2
    swapped = ALPHABET[(ALPHABET.index(text[middle]) + 7) % len(ALPHABET)]
    done = run_cli("--jwks", files["jwks"], text[:middle] + swapped + text[middle + 1 :])
    assert done.returncode == 1
    assert done.stdout.startswith("INVALID:")


def test_cli_unknown_kid(files: dict[str, Path]) -> None:
    stranger = qr(ed25519.Ed25519PrivateKey.generate(), kid="not-ours")
    done = run_cli("--jwks", files["jwks"], "--json", stranger)
    assert done.returncode == 1
    output = json.loads(done.stdout)
    assert (output["result"], output["reason"], output["card"]) == ("invalid", "unknown_key", None)


def test_cli_list_from_unknown_key(
    key: ed25519.Ed25519PrivateKey, files: dict[str, Path], tmp_path: Path
) -> None:
    foreign = tmp_path / "foreign.cose"
    foreign.write_bytes(status_list(ed25519.Ed25519PrivateKey.generate(), kid="elsewhere"))
    done = run_cli("--jwks", files["jwks"], "--status-list", foreign, qr(key))
    assert done.returncode == 2
    assert "refused: status list signed by unknown key id 'elsewhere'" in done.stderr
    assert "download the key set again from its /.well-known/jwks.json" in done.stderr
    assert done.stdout == ""


def test_cli_tampered_list(
    key: ed25519.Ed25519PrivateKey, files: dict[str, Path], tmp_path: Path
) -> None:
    data = bytearray(files["list"].read_bytes())
    data[data.index(b"SPR-9999") + 4] ^= 0x01
    tampered = tmp_path / "tampered.cose"
    tampered.write_bytes(bytes(data))
    done = run_cli("--jwks", files["jwks"], "--status-list", tampered, qr(key))
    assert done.returncode == 2
    assert "status list signature does not verify" in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not cbor at all", "refused"),
        (b"", "refused"),
        (None, "larger than 16777216 bytes"),
    ],
)
def test_cli_garbage_or_huge_list(
    key: ed25519.Ed25519PrivateKey,
    files: dict[str, Path],
    tmp_path: Path,
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / "list.cose"
    if content is None:
        with path.open("wb") as handle:
            handle.truncate(1 << 30)  # a sparse gigabyte: must be refused without being read
    else:
        path.write_bytes(content)
    done = run_cli("--jwks", files["jwks"], "--status-list", path, qr(key))
    assert done.returncode == 2
    assert message in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"keys": [', "is not valid JSON: Expecting value at line 1, column 11"),
        ("[]", "must hold a JSON object"),
        ('{"keys": []}', "no card-signing key"),
        ('{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "short"}]}', "refused: JWK member"),
        ("\udcff", "not UTF-8"),
        ("[" * 20_000 + "]" * 20_000, "is not a JWK set"),
        ('{"keys": [], "n": ' + "9" * 5000 + "}", "is not a JWK set"),
    ],
)
def test_cli_bad_jwks_file(
    key: ed25519.Ed25519PrivateKey, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    done = run_cli("--jwks", path, qr(key))
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def test_cli_issuer_and_min_sequence(
    key: ed25519.Ed25519PrivateKey, files: dict[str, Path]
) -> None:
    listed = ["--jwks", files["jwks"], "--status-list", files["list"]]
    assert run_cli(*listed, "--issuer", ISSUER, qr(key)).returncode == 0
    other = run_cli(*listed, "--issuer", "https://id.other.example", qr(key))
    assert other.returncode == 1
    assert other.stdout.startswith("INVALID: Not accepted: issued by 'https://id.example.org'")
    replayed = run_cli(*listed, "--min-sequence", "8", qr(key))
    assert replayed.returncode == 2
    assert "sequence 7 is older than the 8 already seen" in replayed.stderr
    assert "Fetch the list again from the issuer" in replayed.stderr


def test_cli_stdin_that_is_not_text(files: dict[str, Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "idsys.verification.offline", "--jwks", str(files["jwks"]), "-"],
        cwd=ROOT,
        input=b"\xff\xfe\n",
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert b"standard input is not text" in done.stderr


def test_cli_unreadable_files(key: ed25519.Ed25519PrivateKey, files: dict[str, Path]) -> None:
    missing = run_cli("--jwks", files["jwks"].with_name("nope.json"), qr(key))
    assert missing.returncode == 2
    assert "JWK set file" in missing.stderr
    assert "does not exist" in missing.stderr
    directory = run_cli("--jwks", files["jwks"], "--status-list", files["jwks"].parent, qr(key))
    assert directory.returncode == 2
    assert "is a directory" in directory.stderr


def test_cli_survives_a_terminal_that_cannot_show_the_name(
    key: ed25519.Ed25519PrivateKey, files: dict[str, Path]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "idsys.verification.offline", "--jwks", str(files["jwks"]), qr(key)],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert b"Nguy\\u1ec5n" in done.stdout


def test_main_in_process(key: ed25519.Ed25519PrivateKey, files: dict[str, Path]) -> None:
    """The same entry point, called as a function, for embedding in a partner's own tooling."""
    out, err = io.StringIO(), io.StringIO()
    status = main(
        ["--jwks", str(files["jwks"]), "--json", "-"],
        stdin=io.StringIO(qr(key) + "\n"),
        stdout=out,
        stderr=err,
    )
    assert (status, err.getvalue()) == (3, "")  # no status list given
    assert json.loads(out.getvalue())["card"]["card_number"] == CARD.card_number


def test_cli_usage_errors() -> None:
    nothing = run_cli()
    assert nothing.returncode == 2
    assert "--jwks" in nothing.stderr
    help_text = run_cli("--help")
    assert help_text.returncode == 0
    assert "Exit status" in help_text.stdout


# --- no server, no database ----------------------------------------------------------------------


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", ["idsys/verification/offline.py", "idsys/crypto/statuslist.py"])
def test_offline_code_imports_no_web_or_database_library(module: str) -> None:
    assert not _top_level_imports(ROOT / module) & {"flask", "werkzeug", "sqlalchemy", "alembic"}


def test_running_the_tool_loads_no_flask() -> None:
    snippet = (
        "import sys, idsys.verification.offline; "
        "print(sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
