"""Check a card offline, from the QR text, the published key set and the signed status list alone.

This is what a partner's verifier does between syncs, and what anyone can run to convince
themselves that a card is ours: no server, no database, no account. It trusts only the JWK set
(`/.well-known/jwks.json`, saved to a file) and, for revocation, a status list signed by one of
those keys.

Command line::

    python -m idsys.verification.offline --jwks jwks.json --status-list status.cose \
        --issuer https://id.example.org 'NCF...'
    python -m idsys.verification.offline --jwks jwks.json --status-list status.cose \
        --issuer https://id.example.org --min-sequence 41 -

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

Exit status: 0 valid, and checked against a current status list; 3 authentic and not expired,
but revocation not (fully) checked: no status list, a list past its next update, or a list of
another issuer (the warning says which); 1 not valid (expired, revoked or invalid); 2 usage or
file errors (an unreadable file, a JWK set that is not JSON or holds no signing key, a status
list that is refused). A script that must not accept a card it could not check against a
current list accepts 0 only. A refused status list stops the check instead of degrading to "not
checked": whoever passed it wanted revocation checked, and a list that fails its signature, or
is older than ``--min-sequence`` (the sequence of the last list this verifier accepted: an
older one may be replayed to hide a revocation), means the sync is broken or tampered with.

``--issuer`` names the issuer the card must come from; without it, any card signed by a key in
the set is accepted, which is right only when the set holds one city's keys. A status list is
applied only to cards of its own issuer: another issuer's list cannot say whether this card was
revoked.

Verdict rules: a QR that does not verify under the key set, or comes from another issuer than
``--issuer``, is ``invalid`` (malformed, unknown key, bad signature, other issuer) and shows no
personal data. An authentic card on the status list is ``revoked`` (with the coarse public
reason); otherwise an authentic card past its expiry is ``expired``; otherwise ``valid``. (The
server leaves expired cards off the list, so a revoked card that has also expired shows as
``expired``: not valid either way.)
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    StatusListRollbackError,
    UnknownStatusListKeyError,
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
InvalidReason: TypeAlias = Literal["malformed", "unknown_key", "bad_signature", "other_issuer"]
RevocationCheck: TypeAlias = Literal["checked", "stale", "missing"]
"""checked: against a current list; stale: against a list past its next update; missing: none,
or only another issuer's."""

EXIT_VALID: Final = 0
EXIT_NOT_VALID: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNCHECKED: Final = 3
# A device clock this far behind a card's or a list's issue time makes expiry and staleness
# unreliable; within it, clocks merely disagree.
CLOCK_SKEW: Final = timedelta(minutes=5)
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

    @property
    def exit_status(self) -> int:
        """The command line's exit status for this result (see the module docstring)."""
        if not self.ok:
            return EXIT_NOT_VALID
        return EXIT_VALID if self.revocation == "checked" else EXIT_UNCHECKED

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
    *,
    issuer: str | None = None,
    min_sequence: int | None = None,
) -> OfflineResult:
    """Verify a scanned QR text against a JWK set and (optionally) a signed status list.

    ``jwks`` is the JWK set document as published (``{"keys": [...]}``, parsed JSON).
    ``status_list`` has no default on purpose: a caller must say ``None`` to skip revocation, and
    the result then carries a warning. ``issuer``, when given, is the only issuer whose cards
    are accepted; ``min_sequence`` is the sequence of the last status list this verifier
    accepted (an older one is refused as a possible replay). Raises `JWKError` for a key set that
    cannot be trusted or holds no signing key, and `StatusListError` for a status list that is
    refused (tampered, unknown key, malformed, too large, older than ``min_sequence``): both are
    set-up faults, not facts about the card, and must not be turned into a card verdict.
    Problems with the QR itself never raise; they are the ``invalid`` verdict.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    keys = parse_jwk_set(jwks)
    if not keys:
        raise JWKError("the JWK set holds no card-signing key (Ed25519 or P-256)")

    listing: StatusList | None = None
    warnings: list[str] = []
    if status_list is not None:
        listing = verify_status_list(status_list, keys, now=now, min_sequence=min_sequence)
        if listing.issued_at > now + CLOCK_SKEW:
            warnings.append(_clock_warning("status list", listing.issued_at, now))
    try:
        card = decode_and_verify(qr_text, keys, now=now)
    except Claim169Error as exc:
        return _verdict(*_invalid(exc), None, listing, warnings)
    if issuer is not None and card.issuer != issuer:
        detail = (
            f"Not accepted: issued by {card.issuer!r}, not by {issuer!r}, the issuer this "
            "check is for (its key is in the key set, but cards of other issuers are not "
            "accepted here)."
        )
        return _verdict("invalid", "other_issuer", detail, None, listing, warnings)

    if card.issued_at > now + CLOCK_SKEW:
        warnings.append(_clock_warning("card", card.issued_at, now))
    listing, caveat = _applicable(listing, card)
    if caveat is not None:
        warnings.append(caveat)
    revoked_for = None if listing is None else listing.reason_for(card.claims.card_number)
    if revoked_for is not None:
        detail = f"Authentic card, but revoked ({revoked_for}). Do not accept it."
        return _verdict("revoked", revoked_for, detail, card, listing, warnings)
    if card.expired and card.expires_at is not None:
        detail = f"Authentic card, but expired since {_human_time(card.expires_at)}."
        return _verdict("expired", None, detail, card, listing, warnings)
    detail = {
        "checked": "Authentic card, not expired, not revoked.",
        "stale": "Authentic card, not expired, not on the (stale) status list.",
        "missing": "Authentic card, not expired; revocation not checked.",
    }[_revocation(listing)]
    return _verdict("valid", None, detail, card, listing, warnings)


def _applicable(
    listing: StatusList | None, card: VerifiedCard
) -> tuple[StatusList | None, str | None]:
    """The status list that can speak for ``card`` (None: none), and what the person at the
    counter must know about it: none given, another issuer's, or stale."""
    if listing is None:
        return None, "Revocation could not be checked: no status list was given."
    if listing.issuer != card.issuer:
        # Card numbers are the issuer's own: another issuer's list can neither clear nor
        # revoke this card.
        return None, (
            f"Revocation could not be checked: the status list was issued by "
            f"{listing.issuer!r}, the card by {card.issuer!r}. Fetch the card issuer's list."
        )
    if listing.stale:
        return listing, (
            f"The status list is stale since {_human_time(listing.next_update)} (issued "
            f"{_human_time(listing.issued_at)}, sequence {listing.sequence}): cards revoked "
            "after it was issued are not known. Fetch a new list."
        )
    return listing, None


def _revocation(listing: StatusList | None) -> RevocationCheck:
    """How far revocation was checked, with the list that applies to the card (None: none)."""
    if listing is None:
        return "missing"
    return "stale" if listing.stale else "checked"


def _verdict(
    result: Verdict,
    reason: Reason | InvalidReason | None,
    detail: str,
    card: VerifiedCard | None,
    listing: StatusList | None,
    warnings: list[str],
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
        revocation=_revocation(listing),
        status_list_sequence=None if listing is None else listing.sequence,
        status_list_issued_at=None if listing is None else listing.issued_at,
        status_list_next_update=None if listing is None else listing.next_update,
        warnings=tuple(warnings),
    )


def _clock_warning(what: str, issued_at: datetime, now: datetime) -> str:
    return (
        f"The {what} says it was issued at {_human_time(issued_at)}, after this device's time "
        f"({_human_time(now)}): check the device's clock; expiry and staleness are judged by it."
    )


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
    except (ValueError, RecursionError):
        # Valid JSON a key set never holds: numbers past Python's digit limit, deep nesting.
        raise _UsageError(f"JWK set file {str(path)!r} is not a JWK set") from None
    if not isinstance(document, dict):
        raise _UsageError(f"JWK set file {str(path)!r} must hold a JSON object with 'keys'")
    return document


def _read_qr(argument: str, stdin: TextIO) -> str:
    text = _read_line(stdin) if argument == "-" else argument
    if not text.strip("\r\n"):
        raise _UsageError("no QR text given" + (" on standard input" if argument == "-" else ""))
    return text


def _read_line(stdin: TextIO) -> str:
    """One line, as a wedge scanner types it; the cap keeps a runaway pipe from being slurped.
    Read as bytes where there are any, so that what the locale would decode wrongly, or fail
    on, is judged here: a QR text is ASCII."""
    raw = getattr(stdin, "buffer", None)
    if raw is None:
        return stdin.readline(DEFAULT_MAX_TEXT_LEN + 3)
    line: bytes = raw.readline(DEFAULT_MAX_TEXT_LEN + 3)
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise _UsageError("standard input is not text (a QR text is plain characters)") from None


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
        epilog=(
            "Exit status: 0 valid (checked against a current status list); 3 authentic and not "
            "expired, but revocation not checked (no list, a stale list, another issuer's "
            "list); 1 expired, revoked or invalid; 2 usage or file error."
        ),
    )
    parser.add_argument("--jwks", required=True, type=Path, help="the JWK set file (JSON)")
    parser.add_argument(
        "--status-list", type=Path, help="the signed status list file (.cose); optional"
    )
    parser.add_argument(
        "--issuer",
        help="the issuer cards must name, e.g. https://id.example.org (recommended; needed when "
        "the key set holds more than one issuer's keys)",
    )
    parser.add_argument(
        "--min-sequence",
        type=int,
        metavar="N",
        help="refuse a status list older than sequence N (the last one you accepted), which "
        "may be replayed to hide a revocation",
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
        result = check(qr_text, jwks, status, issuer=args.issuer, min_sequence=args.min_sequence)
    except _UsageError as exc:
        stderr.write(f"{_PROG}: error: {exc}\n")
        return EXIT_USAGE
    except JWKError as exc:
        stderr.write(f"{_PROG}: error: JWK set file {str(args.jwks)!r} refused: {exc}\n")
        return EXIT_USAGE
    except StatusListError as exc:
        stderr.write(
            f"{_PROG}: error: status list file {str(args.status_list)!r} refused: {exc}. "
            f"{_what_to_do(exc)}\n"
        )
        return EXIT_USAGE
    if args.json:
        json.dump(result.to_dict(), stdout, ensure_ascii=False, indent=2)
        stdout.write("\n")
    else:
        _print_human(result, stdout)
    return result.exit_status


def _what_to_do(refused: StatusListError) -> str:
    if isinstance(refused, UnknownStatusListKeyError):
        return (
            "The issuer may have rotated its keys: download the key set again from its "
            "/.well-known/jwks.json, then the list."
        )
    if isinstance(refused, StatusListRollbackError):
        return "Fetch the list again from the issuer; do not use this file."
    return "Fetch the list again; until then revocation cannot be checked with this file."


if __name__ == "__main__":
    sys.exit(main())
