"""Base45 against RFC 9285's own examples and an independent implementation."""

from __future__ import annotations

import os

import base45 as independent
import pytest

from idsys.crypto.base45 import ALPHABET, Base45Error, b45decode, b45encode

RFC_9285_VECTORS = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
]


@pytest.mark.parametrize(("raw", "text"), RFC_9285_VECTORS)
def test_rfc_9285_vectors(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


def test_rfc_9285_decode_example() -> None:
    assert b45decode("QED8WEX0") == b"ietf!"


def test_empty() -> None:
    assert b45encode(b"") == ""
    assert b45decode("") == b""


def test_extremes_round_trip() -> None:
    for raw in (b"\x00", b"\xff", b"\x00\x00", b"\xff\xff", b"\xff\xff\xff", bytes(range(256))):
        assert b45decode(b45encode(raw)) == raw
    assert b45encode(b"\xff\xff") == "FGW"  # the largest valid triplet (RFC 9285 §4)


@pytest.mark.parametrize("size", [1, 2, 3, 17, 100, 1000])
def test_matches_independent_implementation(size: int) -> None:
    for _ in range(20):
        raw = os.urandom(size)
        text = b45encode(raw)
        assert text == independent.b45encode(raw).decode("ascii")
        assert b45decode(text) == raw
        assert independent.b45decode(text) == raw


def test_output_uses_only_the_alphabet() -> None:
    assert set(b45encode(bytes(range(256)) * 4)) <= set(ALPHABET)


@pytest.mark.parametrize(
    "text",
    [
        "A",  # length leaves one character over
        "BB8A",
        "bb8",  # lower case is not in the alphabet
        "BB#",
        "BB\u00c9",
        "BB8\n",
        "GGW",  # 65536: one past the largest triplet
        "ZZZ",
        "V5",  # 256: one past the largest final pair
        "::",
        "BB8GGW",  # a bad triplet after a good one
    ],
)
def test_rejects_invalid_text(text: str) -> None:
    with pytest.raises(Base45Error):
        b45decode(text)


def test_largest_valid_values_accepted() -> None:
    assert b45decode("FGW") == b"\xff\xff"
    assert b45decode("U5") == b"\xff"
