"""Card numbers: 12 digits, 11 random and a Damm check digit.

Random, never sequential and never derived from anything about the person: a number reveals
neither when nor where a card was issued, nor how many cards exist. The check digit (Damm's
algorithm, which catches every single wrong digit and every swap of neighbouring digits) lets a
library clerk typing a number by hand find the mistake at once. Uniqueness is enforced by the
database; the issuer retries on the (one in a hundred billion) collision.
"""

from __future__ import annotations

from idsys.crypto import random_below

RANDOM_DIGITS = 11
LENGTH = RANDOM_DIGITS + 1

# Damm's totally anti-symmetric quasigroup of order 10 (H. M. Damm, 2004).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


class InvalidCardNumber(ValueError):
    """Not 12 digits, or the check digit shows a typing mistake."""


def _interim(digits: str) -> int:
    interim = 0
    for char in digits:
        interim = _DAMM[interim][ord(char) - 48]
    return interim


def new_card_number() -> str:
    # The first digit is never 0, so the number survives spreadsheets that strip leading zeros.
    body = str(1 + random_below(9)) + "".join(
        str(random_below(10)) for _ in range(RANDOM_DIGITS - 1)
    )
    return body + str(_interim(body))


def normalise(text: str) -> str:
    """Digits only (spaces and dashes dropped); raises InvalidCardNumber when malformed."""
    digits = "".join(ch for ch in text if ch not in " -")
    if len(digits) != LENGTH or not digits.isascii() or not digits.isdigit():
        raise InvalidCardNumber("A card number has 12 digits.")
    if _interim(digits) != 0:
        raise InvalidCardNumber("This card number has a typing mistake: check each digit.")
    return digits


def display(number: str) -> str:
    return f"{number[:4]} {number[4:8]} {number[8:]}"
