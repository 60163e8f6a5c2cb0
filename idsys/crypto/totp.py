"""TOTP second factor (RFC 6238) with replay protection."""

from __future__ import annotations

import time

import pyotp

from idsys.crypto.primitives import constant_time_equal

STEP_SECONDS = 30


def new_totp_secret() -> str:
    """A fresh base32 TOTP secret (160 bits, as authenticator apps expect)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI that an authenticator app reads from the enrolment QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def current_code(secret: str, at: float | None = None) -> str:
    """The code an authenticator shows now (used by tests and by the enrolment self-check)."""
    return pyotp.TOTP(secret).at(at if at is not None else time.time())


def accept_code(
    secret: str, code: str, last_step: int | None, at: float | None = None
) -> int | None:
    """Return the time step the code belongs to, or None when wrong or already used.

    One step of clock drift either way is tolerated; a step at or before ``last_step`` is refused
    so that a code seen over a clerk's shoulder cannot be replayed within its window.
    """
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    now = at if at is not None else time.time()
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if constant_time_equal(totp.at(step * STEP_SECONDS), code):
            if last_step is not None and step <= last_step:
                return None
            return step
    return None
