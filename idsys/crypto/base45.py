"""Base45 (RFC 9285): the text layer of the card QR.

Base45 exists so that binary data fits the QR alphanumeric mode, which packs 5.5 bits per
character instead of 8. It is small enough to own outright rather than pin a rarely updated
package for it, and owning it lets the decoder be strict: scanners and the public API hand us
hostile text, so anything that is not exactly canonical Base45 is refused, never repaired.
"""

from __future__ import annotations

import struct

__all__ = ["ALPHABET", "Base45Error", "b45decode", "b45encode"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUES: dict[str, int] = {char: index for index, char in enumerate(ALPHABET)}


class Base45Error(ValueError):
    """Raised for text that is not valid Base45, so callers can tell it from other errors."""


def b45encode(data: bytes) -> str:
    """Encode bytes as Base45 text (two bytes become three characters, a last odd byte two)."""
    out: list[str] = []
    for start in range(0, len(data) - 1, 2):
        value = data[start] * 256 + data[start + 1]
        value, c = divmod(value, 45)
        e, d = divmod(value, 45)
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (ALPHABET[c], ALPHABET[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Decode Base45 text, refusing anything RFC 9285 says is invalid.

    Refused: characters outside the alphabet (lower case included: the QR alphanumeric mode has
    none), a length that leaves one character over, a triplet above 65535 and a final pair above
    255. Those last two matter: a lenient decoder would map several texts to the same bytes.
    """
    if len(text) % 3 == 1:
        raise Base45Error("Base45 text length leaves a single character over")
    try:
        values = [_VALUES[char] for char in text]
    except KeyError:
        raise Base45Error("character outside the Base45 alphabet") from None
    full = len(values) - len(values) % 3
    # Every request to the verification API decodes one QR: whole-list steps, not a loop of
    # small byte appends.
    triplet = iter(values[:full])
    words = [c + d * 45 + e * 2025 for c, d, e in zip(triplet, triplet, triplet, strict=True)]
    if words and max(words) > 0xFFFF:
        raise Base45Error("Base45 triplet encodes a value above 65535")
    out = struct.pack(f">{len(words)}H", *words)
    if full < len(values):
        c, d = values[full:]
        value = c + d * 45
        if value > 0xFF:
            raise Base45Error("Base45 final pair encodes a value above 255")
        out += bytes((value,))
    return out
