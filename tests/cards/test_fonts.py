"""Bundled fonts: what they can draw (from their real character maps), per-character fallback,
and that every font file ships with its licence and is TrueType (glyf), as reportlab needs.
"""

from __future__ import annotations

import struct
import unicodedata

import pytest
from reportlab.pdfbase.ttfonts import TTFont

from idsys.cards import fonts
from idsys.cards.fonts import (
    BOLD,
    BUNDLED_FONTS,
    FONT_DIR,
    REGULAR,
    UnsupportedCharactersError,
    can_render,
    runs,
    string_width,
    unsupported_characters,
)

SUPPORTED = {
    "latin": "José Ñúñez García",
    "vietnamese": "Nguyễn Thị Minh Khai",
    "greek": "Ελένη Παπαδοπούλου",
    "cyrillic": "Анна Кузнецова",
    "chinese": "王秀英",
    "japanese": "やまだ はなこ",
    "korean": "김민준",
    "amharic": "አበበ ቢቂላ",
    "armenian": "Անի Պետրոսյան",
    "georgian": "ნინო ბერიძე",
    "tifinagh": "ⵜⴰⵎⴰⵣⵉⵖⵜ",  # DejaVu Sans covers Tifinagh
    "irish": "Seán Ó Briain",
    "decomposed": "Zoe\u0308 O\u2019Brien",
}

UNSUPPORTED = {
    "private_use": ("Anna \U000f0000", ["\U000f0000"]),
    "ol_chiki": ("ᱚᱞ ᱪᱤᱠᱤ", ["ᱚ", "ᱞ", "ᱪ", "ᱤ", "ᱠ"]),
    "thai": ("สมชาย", ["ส", "ม", "ช", "า", "ย"]),
    "devanagari": ("देवी", ["द", "े", "व", "ी"]),
    # DejaVu has Arabic and Hebrew glyphs, but without a shaping engine they would print
    # unjoined and left to right: refused, not printed wrong.
    "arabic": ("فاطمة", ["ف", "ا", "ط", "م", "ة"]),
    "hebrew": ("שרה", ["ש", "ר", "ה"]),
    "control": ("Ana\tMaría", ["\t"]),
    "newline": ("Ana\nMaría", ["\n"]),
    "zero_width_joiner": ("Ana\u200dMaría", ["\u200d"]),
    "unassigned": ("Ana \U000e0080", ["\U000e0080"]),
}


@pytest.mark.parametrize("text", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_supported_scripts(text: str) -> None:
    assert can_render(text)
    assert unsupported_characters(text) == []
    assert string_width(text, REGULAR, 10) > 0
    assert string_width(text, BOLD, 10) > 0


@pytest.mark.parametrize(("text", "bad"), UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_unsupported_text(text: str, bad: list[str]) -> None:
    assert not can_render(text)
    assert unsupported_characters(text) == bad


def test_each_bad_character_is_listed_once_in_order() -> None:
    assert unsupported_characters("\U000f0001 a \U000f0000 \U000f0001") == [
        "\U000f0001",
        "\U000f0000",
    ]


def test_empty_text_is_renderable() -> None:
    assert can_render("")


def test_error_names_code_points_and_field() -> None:
    with pytest.raises(UnsupportedCharactersError) as caught:
        runs("ᱚ", REGULAR)
    error = caught.value
    assert error.characters == ("ᱚ",)
    assert "U+1C5A OL CHIKI LETTER LA" in str(error)
    assert isinstance(error, ValueError)  # form code may catch ValueError


def test_answers_come_from_the_font_files() -> None:
    """Re-read each font's cmap independently: a supported character is in the chosen font."""
    cmaps = {
        name: {
            code
            for code, glyph in TTFont(name, str(FONT_DIR / file)).face.charToGlyph.items()
            if glyph
        }
        for name, file in BUNDLED_FONTS.items()
    }
    for text in SUPPORTED.values():
        for stack in (REGULAR, BOLD):
            for run in runs(fonts.display_form(text), stack):
                assert run.font in stack.fonts
                assert all(ord(ch) in cmaps[run.font] for ch in run.text), (run, text)
    # And a character none of them maps is refused (no hard-coded script list decides this).
    union = set().union(*cmaps.values())
    assert 0x1C5A not in union and not can_render(chr(0x1C5A))
    assert 0x2D5C in union and can_render(chr(0x2D5C))


def test_both_stacks_draw_whatever_is_accepted() -> None:
    """Bold falls back to regular fonts, so text accepted once draws in either weight."""
    regular, bold = fonts._stack_cmap(REGULAR), fonts._stack_cmap(BOLD)
    assert fonts._covered() == regular & bold
    assert regular <= bold  # nothing the regular stack draws is lost in bold
    sample = "".join(chr(code) for code in sorted(fonts._covered()) if can_render(chr(code)))
    assert len(sample) > 30_000
    for stack in (REGULAR, BOLD):
        assert "".join(run.text for run in runs(sample, stack)) == sample


def test_runs_fall_back_per_character() -> None:
    parts = runs("Anna 王秀英 Ivanova", REGULAR)
    assert [(run.font, run.text) for run in parts] == [
        ("idsys-DejaVuSans", "Anna "),
        ("idsys-DroidSansFallback", "王秀英 "),
        ("idsys-DejaVuSans", "Ivanova"),
    ]
    bold = runs("Anna 王", BOLD)
    assert [(run.font, run.synthetic_bold) for run in bold] == [
        ("idsys-DejaVuSans-Bold", False),
        ("idsys-DroidSansFallback", True),  # no bold CJK font: emboldened by stroking
    ]


def test_drawn_text_is_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn")
    assert fonts.display_form(decomposed) == "Nguyễn"
    assert "".join(run.text for run in runs(fonts.display_form(decomposed), REGULAR)) == "Nguyễn"


def _table_tags(data: bytes) -> set[bytes]:
    (count,) = struct.unpack(">H", data[4:6])
    return {data[12 + 16 * i : 16 + 16 * i] for i in range(count)}


@pytest.mark.parametrize("filename", sorted(BUNDLED_FONTS.values()))
def test_font_files_are_truetype_with_licences(filename: str) -> None:
    data = (FONT_DIR / filename).read_bytes()
    assert data[:4] == b"\x00\x01\x00\x00", "reportlab embeds TrueType outlines only"
    tags = _table_tags(data)
    assert b"glyf" in tags and b"CFF " not in tags
    readme = (FONT_DIR / "README.md").read_text(encoding="utf-8")
    assert filename in readme
    licences = {path.name for path in (FONT_DIR / "LICENSES").iterdir()}
    family = filename.split("-", maxsplit=1)[0].removesuffix(".ttf")
    expected = {"DejaVuSans": "DejaVu", "DroidSansFallback": "DroidSansFallback"}.get(
        family, "Noto"
    )
    assert f"{expected}.copyright" in licences


def test_bundled_fonts_stay_small() -> None:
    total = sum(path.stat().st_size for path in FONT_DIR.rglob("*") if path.is_file())
    assert total < 25 * 1024 * 1024
