"""Name normalisation for duplicate detection, and ranking of near-matches.

The same person is often written differently at two counters: with or without accents, in
another case, with different spacing ("De la Cruz", "Delacruz"), with given and family names
swapped. Normalisation removes those differences before the blind index is computed; ranking
of the decrypted candidates then scores how close each really is.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from difflib import SequenceMatcher

# Letters that do not decompose into a base letter plus accent.
_FOLD = str.maketrans(
    {"ß": "ss", "æ": "ae", "ø": "o", "đ": "d", "ł": "l", "œ": "oe", "þ": "th", "ı": "i"}
)


def fold(text: str) -> str:
    """Case-fold, strip accents, keep only letters and digits (any script), split on the rest."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD))
    out = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        out.append(char if char.isalnum() else " ")
    return " ".join("".join(out).split())


def tokens(given: str, family: str) -> list[str]:
    return (fold(given) + " " + fold(family)).split()


def match_values(given: str, family: str, dob: date) -> dict[str, str]:
    """The normalised values to blind-index for one person.

    - ``ndob``: all name letters in a canonical order (sorted tokens, joined with no space) plus
      the date of birth: insensitive to accents, case, name order and most spacing;
    - ``cdob``: all letters run together in the given-family order plus the date of birth,
      catching spacing that splits one token ("Delacruz" / "De la Cruz");
    - ``fdob``: the same in family-given order;
    - ``name``: the canonical name alone, to catch a mistyped date of birth;
    - ``dob``: the date of birth alone, so near-miss spellings are still candidates.
    """
    parts = tokens(given, family)
    iso = dob.isoformat()
    given_run = fold(given).replace(" ", "")
    family_run = fold(family).replace(" ", "")
    return {
        "ndob": "".join(sorted(parts)) + "|" + iso,
        "cdob": given_run + family_run + "|" + iso,
        "fdob": family_run + given_run + "|" + iso,
        "name": "".join(sorted(parts)),
        "dob": iso,
    }


def similarity(a_given: str, a_family: str, b_given: str, b_family: str) -> float:
    """0..1: how alike two names are once folded, whatever their order."""
    a = sorted(tokens(a_given, a_family))
    b = sorted(tokens(b_given, b_family))
    joined = SequenceMatcher(None, "".join(a), "".join(b)).ratio()
    spaced = SequenceMatcher(None, " ".join(a), " ".join(b)).ratio()
    return max(joined, spaced)
