"""Check a card offline, from the QR text, the published key set and the signed status list alone.

This is what a partner's verifier does between syncs, and what anyone can run to convince
themselves that a card is ours: no server, no database, no account. It trusts only the JWK set
(`/.well-known/jwks.json`, saved to a file) and, for revocation, a status list signed by one of
those keys.

Command line::

    python -m idsys.verification.offline --jwks jwks.json --status-list status.cose 'NCF...'
    python -m idsys.verification.offline --jwks jwks.json --status-list status.cose -

With ``-`` the QR text is read as one line from standard input, as a keyboard-wedge 2D scanner
types it (scan, and the scanner's Enter ends the line). Quote the text on a command line: Base45
uses spaces and characters such as ``$``, ``*`` and ``%``. ``--json`` prints a machine-readable
result instead of the human one. Example output::

    VALID: Authentic card, not expired, not revoked.
      card number    NYC-000123
      name           Nguyễn Thị Minh Khai
      date of birth  1990-01-02
      gender         F
      issued         2025-03-01 09:30 UTC by https://id.example.org
      expires        2030-03-02 05:00 UTC
      signing key    signing-20250301-Ab3x
      status list    sequence 42, issued 2026-01-01 06:00 UTC

Exit status: 0 valid; 1 not valid (expired, revoked or invalid); 2 usage or file errors (an
unreadable file, a JWK set that is not JSON or holds no signing key, a status list that is
refused). A refused status list stops the check instead of degrading to "not checked": whoever
passed it wanted revocation checked, and a list that fails its signature means the sync is broken
or tampered with. Without ``--status-list``, or with a list past its next update, the verdict is
still given, with a warning that revocation could not be (fully) checked.

Verdict rules: a QR that does not verify under the key set is ``invalid`` (malformed, unknown
key or bad signature) and shows no personal data. An authentic card on the status list is
``revoked`` (with the coarse public reason), even when it has also expired, because that is the
more important thing for the person at the counter to know; otherwise an authentic card past its
expiry is ``expired``; otherwise ``valid``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TextIO, TypeAlias

from idsys.crypto.claim169 import (
    DEFAULT_MAX_TEXT_LEN,
    BadSignatureError,
    CardClaims,
    Claim169Error,
    MalformedError,
    UnknownKeyIdError,
    VerifiedCard,
    decode_and_verify,
)
from idsys.crypto.jwk import JWKError, parse_jwk_set
from idsys.crypto.statuslist import (
    DEFAULT_MAX_SIZE,
    Reason,
    StatusList,
    StatusListError,
    verify_status_list,
)

__all__ = [
    "InvalidReason",
    "OfflineResult",
    "RevocationCheck",
    "Verdict",
    "check",
    "main",
]

Verdict: TypeAlias = Literal["valid", "expired", "revoked", "invalid"]
InvalidReason: TypeAlias = Literal["malformed", "unknown_key", "bad_signature"]
RevocationCheck: TypeAlias = Literal["checked", "stale", "missing"]
"""checked: against a current list; stale: against a list past its next update; missing: none."""

EXIT_VALID: Final = 0
EXIT_NOT_VALID: Final = 1
EXIT_USAGE: Final = 2
_PROG: Final = "python -m idsys.verification.offline"
_MAX_JWKS_FILE: Final = 64 * 1024  # parse_jwk_set refuses larger sets anyway


@dataclass(frozen=True, slots=True)
class OfflineResult:
    """The verdict on one scanned QR, with what was (and was not) known when it was reached.

    ``claims`` and the card fields are set only when the QR is authentic; for ``invalid`` they
    are None, so nothing read from a forged code can be shown as if it were ours. ``reason`` is
    the public revocation reason for ``revoked`` and the failure kind for ``invalid``.
    ``warnings`` are sentences for the person at the counter (missing or stale status list).
    """

    result: Verdict
    reason: Reason | InvalidReason | None
    detail: str
    claims: CardClaims | None
    issuer: str | None
    issued_at: datetime | None
    expires_at: datetime | None
    kid: str | None
    revocation: RevocationCheck
    status_list_sequence: int | None
    status_list_issued_at: datetime | None
    status_list_next_update: datetime | None
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True only for ``valid``: the one answer that lets a partner accept the card."""
        return self.result == "valid"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for ``--json`` and for callers that pass the result on."""
        card: dict[str, str | None] | None = None
        if self.claims is not None:
            card = {
                "card_number": self.claims.card_number,
                "full_name": self.claims.full_name,
                "date_of_birth": self.claims.date_of_birth.isoformat(),
                "gender": self.claims.gender,
            }
        return {
            "result": self.result,
            "reason": self.reason,
            "detail": self.detail,
            "card": card,
            "issuer": self.issuer,
            "issued_at": _iso(self.issued_at),
            "expires_at": _iso(self.expires_at),
            "kid": self.kid,
            "revocation": {
                "status": self.revocation,
                "list_sequence": self.status_list_sequence,
                "list_issued_at": _iso(self.status_list_issued_at),
                "list_next_update": _iso(self.status_list_next_update),
            },
            "warnings": list(self.warnings),
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _human_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def check(
    qr_text: str,
    jwks: Mapping[str, Any],
    status_list: bytes | None,
    now: datetime | None = None,
) -> OfflineResult:
    """Verify a scanned QR text against a JWK set and (optionally) a signed status list.

    ``jwks`` is the JWK set document as published (``{"keys": [...]}``, parsed JSON).
    ``status_list`` has no default on purpose: a caller must say ``None`` to skip revocation, and
    the result then carries a warning. Raises `JWKError` for a key set that cannot be trusted or
    holds no signing key, and `StatusListError` for a status list that is refused (tampered,
    unknown key, malformed, too large): both are set-up faults, not facts about the card, and
    must not be turned into a card verdict. Problems with the QR itself never raise; they are
    the ``invalid`` verdict.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    keys = parse_jwk_set(jwks)
    if not keys:
        raise JWKError("the JWK set holds no card-signing key (Ed25519 or P-256)")

    listing: StatusList | None = None
    if status_list is not None:
        listing = verify_status_list(status_list, keys, now=now)
    warnings: list[str] = []
    if listing is None:
        revocation: RevocationCheck = "missing"
        warnings.append("Revocation could not be checked: no status list was given.")
    elif listing.stale:
        revocation = "stale"
        warnings.append(
            f"The status list is stale since {_human_time(listing.next_update)} (issued "
            f"{_human_time(listing.issued_at)}, sequence {listing.sequence}): cards revoked "
            "after it was issued are not known. Fetch a new list."
        )
    else:
        revocation = "checked"

    def verdict(
        result: Verdict,
        reason: Reason | InvalidReason | None,
        detail: str,
        card: VerifiedCard | None,
    ) -> OfflineResult:
        return OfflineResult(
            result=result,
            reason=reason,
            detail=detail,
            claims=None if card is None else card.claims,
            issuer=None if card is None else card.issuer,
            issued_at=None if card is None else card.issued_at,
            expires_at=None if card is None else card.expires_at,
            kid=None if card is None else card.kid,
            revocation=revocation,
            status_list_sequence=None if listing is None else listing.sequence,
            status_list_issued_at=None if listing is None else listing.issued_at,
            status_list_next_update=None if listing is None else listing.next_update,
            warnings=tuple(warnings),
        )

    try:
        card = decode_and_verify(qr_text, keys, now=now)
    except Claim169Error as exc:
        return verdict(*_invalid(exc), None)

    if listing is not None and listing.issuer != card.issuer:
        warnings.append(
            f"The status list was issued by {listing.issuer!r}, the card by {card.issuer!r}; "
            "both are signed by the same trusted keys, so the list was applied."
        )
    revoked_for = None if listing is None else listing.reason_for(card.claims.card_number)
    if revoked_for is not None:
        return verdict(
            "revoked",
            revoked_for,
            f"Authentic card, but revoked ({revoked_for}). Do not accept it.",
            card,
        )
    if card.expired and card.expires_at is not None:
        detail = f"Authentic card, but expired since {_human_time(card.expires_at)}."
        return verdict("expired", None, detail, card)
    detail = {
        "checked": "Authentic card, not expired, not revoked.",
        "stale": "Authentic card, not expired, not on the (stale) status list.",
        "missing": "Authentic card, not expired; revocation not checked.",
    }[revocation]
    return verdict("valid", None, detail, card)


def _invalid(exc: Claim169Error) -> tuple[Verdict, InvalidReason, str]:
    if isinstance(exc, UnknownKeyIdError):
        return (
            "invalid",
            "unknown_key",
            (
                f"Not accepted: signed with key {exc.kid!r}, which is not in the key set "
                "(a forgery, another issuer, or a key set that needs updating)."
            ),
        )
    if isinstance(exc, BadSignatureError):
        return "invalid", "bad_signature", f"Not accepted: the signature does not verify ({exc})."
    if isinstance(exc, MalformedError):
        return "invalid", "malformed", f"Not a card QR code of this system ({exc})."
    return "invalid", "malformed", f"Not accepted ({exc})."


# --- command line --------------------------------------------------------------------------------


class _UsageError(Exception):
    """A fault in how the tool was called or in its input files: exit 2 with this message."""


def _read_file(path: Path, what: str, limit: int) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise _UsageError(f"{what} file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise _UsageError(f"{what} file {str(path)!r} is a directory") from None
    except OSError as exc:
        raise _UsageError(f"cannot read {what} file {str(path)!r}: {exc.strerror}") from None
    if len(data) > limit:
        raise _UsageError(f"{what} file {str(path)!r} is larger than {limit} bytes")
    return data


def _load_jwks(path: Path) -> Mapping[str, Any]:
    data = _read_file(path, "JWK set", _MAX_JWKS_FILE)
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _UsageError(f"JWK set file {str(path)!r} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _UsageError(
            f"JWK set file {str(path)!r} is not valid JSON: {exc.msg} "
            f"at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(document, dict):
        raise _UsageError(f"JWK set file {str(path)!r} must hold a JSON object with 'keys'")
    return document


def _read_qr(argument: str, stdin: TextIO) -> str:
    # One line, as a wedge scanner types it; the cap keeps a runaway pipe from being slurped.
    text = stdin.readline(DEFAULT_MAX_TEXT_LEN + 3) if argument == "-" else argument
    if not text.strip("\r\n"):
        raise _UsageError("no QR text given" + (" on standard input" if argument == "-" else ""))
    return text


def _print_human(result: OfflineResult, out: TextIO) -> None:
    out.write(f"{result.result.upper()}: {result.detail}\n")
    rows: list[tuple[str, str]] = []
    if result.claims is not None:
        claims = result.claims
        rows += [
            ("card number", claims.card_number),
            ("name", claims.full_name),
            ("date of birth", claims.date_of_birth.isoformat()),
        ]
        if claims.gender is not None:
            rows.append(("gender", claims.gender))
    if result.issued_at is not None:
        rows.append(("issued", f"{_human_time(result.issued_at)} by {result.issuer}"))
    if result.claims is not None:
        expiry = "never" if result.expires_at is None else _human_time(result.expires_at)
        rows.append(("expires", expiry))
        rows.append(("signing key", str(result.kid)))
    if result.status_list_sequence is not None and result.status_list_issued_at is not None:
        rows.append(
            (
                "status list",
                f"sequence {result.status_list_sequence}, issued "
                f"{_human_time(result.status_list_issued_at)}",
            )
        )
    for label, value in rows:
        out.write(f"  {label:<14} {value}\n")
    for warning in result.warnings:
        out.write(f"WARNING: {warning}\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Check an idsys card QR offline against a JWK set and a signed status list.",
        epilog="Exit status: 0 valid, 1 expired/revoked/invalid, 2 usage or file error.",
    )
    parser.add_argument("--jwks", required=True, type=Path, help="the JWK set file (JSON)")
    parser.add_argument(
        "--status-list", type=Path, help="the signed status list file (.cose); optional"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("qr_text", metavar="QR_TEXT", help="the QR text, or - to read one line")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    stdin = sys.stdin if stdin is None else stdin
    if stdout is None:
        stdout = sys.stdout
        if isinstance(stdout, io.TextIOWrapper):
            # Names are in every script; a terminal that cannot show one must not crash the check.
            stdout.reconfigure(errors="backslashreplace")
    stderr = sys.stderr if stderr is None else stderr
    args = _parser().parse_args(argv)  # exits 2 with argparse's message on bad usage
    try:
        jwks = _load_jwks(args.jwks)
        status = None
        if args.status_list is not None:
            status = _read_file(args.status_list, "status list", DEFAULT_MAX_SIZE)
        qr_text = _read_qr(args.qr_text, stdin)
        result = check(qr_text, jwks, status)
    except _UsageError as exc:
        stderr.write(f"{_PROG}: error: {exc}\n")
        return EXIT_USAGE
    except JWKError as exc:
        stderr.write(f"{_PROG}: error: JWK set file {str(args.jwks)!r} refused: {exc}\n")
        return EXIT_USAGE
    except StatusListError as exc:
        stderr.write(
            f"{_PROG}: error: status list file {str(args.status_list)!r} refused: {exc}. "
            "Revocation cannot be checked with it: fetch the list again, or run without "
            "--status-list to check the card alone.\n"
        )
        return EXIT_USAGE
    if args.json:
        json.dump(result.to_dict(), stdout, ensure_ascii=False, indent=2)
        stdout.write("\n")
    else:
        _print_human(result, stdout)
    return EXIT_VALID if result.ok else EXIT_NOT_VALID


if __name__ == "__main__":
    sys.exit(main())
