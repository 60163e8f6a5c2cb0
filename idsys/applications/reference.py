"""Application reference numbers that residents can read over the phone.

Ten characters from Crockford's base-32 alphabet (no I, L, O or U, so nothing is mistaken for 1,
0 or V), nine of them random (45 bits: unguessable, and it says nothing about the person, the
office or the date) and one check character computed with the Damm algorithm over GF(32),
which catches every single mistyped character and every swap of two neighbouring characters
(Luhn mod 32 would miss some swaps, such as 0 and Z).
Shown as ``ABCD-EFGH-JK``; typed in any case, with or without dashes and spaces.
"""

from __future__ import annotations

from idsys.crypto import random_below

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
# What people type for the letters the alphabet leaves out.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
RANDOM_CHARS = 9


class InvalidReference(ValueError):
    """Not a well-formed reference (wrong length, unknown character, or check failed)."""


class MistypedReference(InvalidReference):
    """Well-formed, but the check character does not match: a typing mistake, not a miss.

    Saying so reveals nothing about any application (the check is arithmetic on the text), so
    forms can tell the person exactly what is wrong.
    """


_POLY = 0b100101  # x^5 + x^2 + 1, irreducible: GF(32)


def _gf_mul(a: int, b: int) -> int:
    result = 0
    while b:
        if b & 1:
            result ^= a
        b >>= 1
        a <<= 1
        if a & 0b100000:
            a ^= _POLY
    return result


def _damm(text: str) -> int:
    """Damm's quasigroup x*y = 2x + y over GF(32): weakly totally anti-symmetric because 2 != 1,
    which is exactly the property that detects all adjacent transpositions."""
    interim = 0
    for char in text:
        interim = _gf_mul(2, interim) ^ _VALUE[char]
    return interim


def _check_char(body: str) -> str:
    # The check character c makes the whole string reduce to 0: 2*interim + c = 0 in GF(32).
    return ALPHABET[_gf_mul(2, _damm(body))]


def new_reference() -> str:
    body = "".join(ALPHABET[random_below(len(ALPHABET))] for _ in range(RANDOM_CHARS))
    return body + _check_char(body)


def normalise(text: str) -> str:
    """Upper-case, drop dashes and spaces, map look-alike letters; raise if malformed."""
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_LOOKALIKES)
    if len(cleaned) != RANDOM_CHARS + 1 or any(c not in _VALUE for c in cleaned):
        raise InvalidReference("A reference number has 10 letters and digits, like ABCD-EFGH-JK.")
    if _damm(cleaned) != 0:
        raise MistypedReference("This reference number has a typing mistake: check each character.")
    return cleaned


def display(reference: str) -> str:
    return f"{reference[:4]}-{reference[4:8]}-{reference[8:]}"
