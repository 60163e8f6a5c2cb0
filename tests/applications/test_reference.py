"""Reference numbers: unguessable, readable aloud, and every single typo is caught."""

from __future__ import annotations

import pytest

from idsys.applications.reference import (
    ALPHABET,
    InvalidReference,
    display,
    new_reference,
    normalise,
)


def test_shape_and_randomness() -> None:
    refs = {new_reference() for _ in range(2000)}
    assert len(refs) == 2000
    assert all(len(r) == 10 and set(r) <= set(ALPHABET) for r in refs)
    assert all(normalise(r) == r for r in refs)
    assert len({r[0] for r in refs}) > 20  # not sequential: every position varies


@pytest.mark.parametrize("seed", range(40))
def test_every_single_substitution_is_caught(seed: int) -> None:
    reference = new_reference()
    for position in range(10):
        for char in ALPHABET:
            if char == reference[position]:
                continue
            typo = reference[:position] + char + reference[position + 1 :]
            with pytest.raises(InvalidReference):
                normalise(typo)


@pytest.mark.parametrize("seed", range(40))
def test_every_adjacent_swap_is_caught(seed: int) -> None:
    reference = new_reference()
    for position in range(9):
        a, b = reference[position], reference[position + 1]
        if a == b:
            continue
        swapped = reference[:position] + b + a + reference[position + 2 :]
        with pytest.raises(InvalidReference):
            normalise(swapped)


def test_typed_forms_are_accepted() -> None:
    reference = new_reference()
    shown = display(reference)
    assert shown.count("-") == 2
    assert normalise(shown.lower()) == reference
    assert normalise(" ".join(reference)) == reference


def test_look_alike_letters_are_read_as_digits() -> None:
    body = "0011ABCDE"
    from idsys.applications.reference import _check_char

    reference = body + _check_char(body)
    assert normalise("OoIl" + reference[4:]) == reference


@pytest.mark.parametrize("text", ["", "ABC", "ABCDEFGHJK12", "ABCD-EFGH-J*"])
def test_malformed(text: str) -> None:
    with pytest.raises(InvalidReference, match="10 letters and digits"):
        normalise(text)


def test_every_adjacent_swap_of_every_pair_is_caught() -> None:
    """Exhaustive: all 32 x 32 character pairs, at every position, check character included."""
    from idsys.applications.reference import _check_char

    for position in range(9):
        for a in ALPHABET:
            for b in ALPHABET:
                if a == b:
                    continue
                body = ("7K3M9QX2T" + "0")[:9]
                chars = list(body + "0")
                chars[position], chars[position + 1] = a, b
                body = "".join(chars[:9])
                reference = body + _check_char(body)
                if reference[position] != a or reference[position + 1] != b:
                    continue  # the pair landed on the check position with another value
                swapped = reference[:position] + b + a + reference[position + 2 :]
                with pytest.raises(InvalidReference):
                    normalise(swapped)
