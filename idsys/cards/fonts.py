"""The fonts bundled for printing cards, per-character fallback, and what they can draw.

Names must print exactly as the holder spells them, in whatever script. No single font covers
Latin with Vietnamese diacritics, Greek, Cyrillic, Ethiopic and CJK, so text is split into runs and
each run is drawn in the first font of a stack that has its glyphs. reportlab embeds TrueType
(glyf) outlines only, hence the choice of TTF files in `static/fonts/` (provenance and licences in
`static/fonts/README.md`).

The intake form asks `unsupported_characters` / `can_render` before accepting a name, so a clerk
sees "this character cannot be printed" instead of a card with empty boxes. The answer comes from
the fonts' real character maps, plus two rules the fonts alone cannot express: reportlab places
glyphs left to right without a shaping engine, so right-to-left text (bidi class R or AL) and
scripts whose vowel signs must be reordered or joined (spacing combining marks, category Mc) would
print wrongly even where a glyph exists, and are refused until a shaping engine is added.

Text is drawn in Unicode normalisation form NFC: it is canonically equivalent to what was entered
(same name, same characters to a reader and to pdftotext), and it maps decomposed input such as
"e" + U+0308 onto the font's precomposed glyph instead of an overlaid mark.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Final, NamedTuple

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

__all__ = [
    "BOLD",
    "BUNDLED_FONTS",
    "FONT_DIR",
    "REGULAR",
    "FontStack",
    "Run",
    "UnsupportedCharactersError",
    "can_render",
    "describe",
    "display_form",
    "register_fonts",
    "runs",
    "string_width",
    "unsupported_characters",
]

FONT_DIR: Final = Path(__file__).resolve().parents[2] / "static" / "fonts"
"""Fonts live with the other static assets so that the web pages can use the same files."""

BUNDLED_FONTS: Final[dict[str, str]] = {
    # reportlab font name -> file in FONT_DIR
    "idsys-DejaVuSans": "DejaVuSans.ttf",
    "idsys-DejaVuSans-Bold": "DejaVuSans-Bold.ttf",
    "idsys-NotoSansEthiopic": "NotoSansEthiopic-Regular.ttf",
    "idsys-NotoSansEthiopic-Bold": "NotoSansEthiopic-Bold.ttf",
    "idsys-DroidSansFallback": "DroidSansFallback.ttf",
}

# Categories that are never drawable text on a card: controls, format characters (joiners, bidi
# controls, soft hyphen), surrogates, private use, unassigned, line and paragraph separators.
_NEVER_DRAWN: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Characters that need bidi reordering and, for Arabic-script letters, contextual joining.
_RIGHT_TO_LEFT: Final = frozenset({"R", "AL"})
# Characters that attach to the previous base and should stay in its font when it has them.
_MARKS: Final = frozenset({"Mn", "Me"})


@dataclass(frozen=True, slots=True)
class FontStack:
    """Fonts tried in order for each character; `synthetic_bold` ones are emboldened by stroking.

    The bold stack falls back to regular-weight fonts (DejaVu Sans Book has some glyphs the Bold
    lacks, and the CJK font has no bold), drawn with a thin outline so that a bold name does not
    visibly change weight in the middle.
    """

    name: str
    fonts: tuple[str, ...]
    synthetic_bold: frozenset[str] = frozenset()


REGULAR: Final = FontStack(
    "regular", ("idsys-DejaVuSans", "idsys-NotoSansEthiopic", "idsys-DroidSansFallback")
)
BOLD: Final = FontStack(
    "bold",
    (
        "idsys-DejaVuSans-Bold",
        "idsys-DejaVuSans",
        "idsys-NotoSansEthiopic-Bold",
        "idsys-NotoSansEthiopic",
        "idsys-DroidSansFallback",
    ),
    synthetic_bold=frozenset(
        {"idsys-DejaVuSans", "idsys-NotoSansEthiopic", "idsys-DroidSansFallback"}
    ),
)


class Run(NamedTuple):
    """A stretch of text drawn in one font."""

    font: str
    text: str
    synthetic_bold: bool


class UnsupportedCharactersError(ValueError):
    """Text holds characters the bundled fonts cannot print correctly.

    `field` names the card field (for the intake form's message); `characters` are distinct, in
    order of first appearance, in NFC form.
    """

    def __init__(self, characters: list[str], field: str | None = None) -> None:
        self.characters = tuple(characters)
        self.field = field
        listed = ", ".join(describe(ch) for ch in characters)
        where = f" in {field}" if field else ""
        super().__init__(f"cannot print these characters{where}: {listed}")


def describe(ch: str) -> str:
    """`U+2D5C TIFINAGH LETTER YAT`: unambiguous even when the character itself is invisible."""
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}"


def display_form(text: str) -> str:
    """The form in which text is measured and drawn (NFC; see the module docstring)."""
    return unicodedata.normalize("NFC", text)


@cache
def _loaded() -> dict[str, TTFont]:
    """Parse and register every bundled font once per process (the CJK font takes ~0.1 s)."""
    loaded: dict[str, TTFont] = {}
    for name, filename in BUNDLED_FONTS.items():
        font = TTFont(name, str(FONT_DIR / filename))
        pdfmetrics.registerFont(font)
        loaded[name] = font
    return loaded


def register_fonts() -> None:
    """Make the bundled fonts known to reportlab (idempotent; rendering calls it itself)."""
    _loaded()


@cache
def _cmap(font_name: str) -> frozenset[int]:
    """Code points the font maps to a real glyph (glyph 0 is .notdef, the empty box)."""
    face = _loaded()[font_name].face
    return frozenset(code for code, glyph in face.charToGlyph.items() if glyph)


def _stack_cmap(stack: FontStack) -> frozenset[int]:
    covered: set[int] = set()
    for name in stack.fonts:
        covered |= _cmap(name)
    return frozenset(covered)


@cache
def _covered() -> frozenset[int]:
    """What both stacks can draw, so a name never fails in bold after passing in regular."""
    return _stack_cmap(REGULAR) & _stack_cmap(BOLD)


@lru_cache(maxsize=8192)
def _drawable(ch: str) -> bool:
    if unicodedata.category(ch) in _NEVER_DRAWN or unicodedata.category(ch) == "Mc":
        return False
    if unicodedata.bidirectional(ch) in _RIGHT_TO_LEFT:
        return False
    return ord(ch) in _covered()


def unsupported_characters(text: str) -> list[str]:
    """Distinct characters of `text` (in NFC, first appearance first) that cannot be printed."""
    found: list[str] = []
    for ch in display_form(text):
        if ch not in found and not _drawable(ch):
            found.append(ch)
    return found


def can_render(text: str) -> bool:
    """True when every character of `text` prints correctly with the bundled fonts."""
    return not unsupported_characters(text)


def _font_for(ch: str, stack: FontStack, current: str | None) -> str | None:
    code = ord(ch)
    # Marks and spaces stay in the current font when it has them: a mark must sit on its base
    # glyph, and switching fonts for a space between two ideographs would only add runs.
    if (
        current is not None
        and (unicodedata.category(ch) in _MARKS or ch.isspace())
        and code in _cmap(current)
    ):
        return current
    for name in stack.fonts:
        if code in _cmap(name):
            return name
    return None


def runs(text: str, stack: FontStack) -> list[Run]:
    """Split `text` (already in display form) into runs, each in the first font that has it.

    Raises UnsupportedCharactersError for characters no font in the stack (or no correct
    rendering) covers, so that nothing is ever drawn as an empty box.
    """
    bad = unsupported_characters(text)
    if bad:
        raise UnsupportedCharactersError(bad)
    result: list[Run] = []
    current: str | None = None
    start = 0
    for index, ch in enumerate(text):
        font = _font_for(ch, stack, current)
        if font is None:  # covered by the union but not by this stack: a stack definition bug
            raise UnsupportedCharactersError([ch])
        if font != current:
            if current is not None:
                result.append(Run(current, text[start:index], current in stack.synthetic_bold))
            current, start = font, index
    if current is not None:
        result.append(Run(current, text[start:], current in stack.synthetic_bold))
    return result


def string_width(text: str, stack: FontStack, size: float) -> float:
    """Advance width in points of `text` drawn with `stack` at `size` points."""
    return sum(float(pdfmetrics.stringWidth(run.text, run.font, size)) for run in runs(text, stack))
