"""Card PDFs: a CR80 card (front and back) from an already decided, already signed `CardFace`.

This module only draws. Everything it prints arrives in the `CardFace`: the labels already
translated (two languages, printed "Name / Nombre"), the dates already chosen, the QR text
already signed by `idsys.crypto`. That keeps it free of Flask, the database, translations and
keys, so the same input always gives the same bytes (the PDF is written in reportlab's
invariant mode) and a batch can be re-printed identically.

Layouts (`LAYOUTS`):

* ``card_printer``: every page is one card side, 85.60 x 53.98 mm, front then back, for a duplex
  card printer (each card two pages).
* ``sheet_letter`` / ``sheet_a4``: 8 cards per sheet (2 columns x 4 rows, 6.35 mm gutters) with
  crop marks in the outer margins and a 1 mm bleed on the coloured band. Each sheet of fronts is
  followed by its sheet of backs with the columns mirrored, so that printing duplex with
  "flip on long edge" (the usual default) puts every back behind its own front.

Print notes: text and QR modules are pure black (0, 0, 0), which card printers lay down with the
sharp resin K panel; the QR is vector squares whose size is a whole number of 300 dpi dots with a
quiet zone of 4 modules; the photo is cropped (never stretched) to the photo box and resampled to
at most 300 dpi so a batch stays small whatever camera took it.

Long names shrink, then wrap onto two lines, and never overflow their box: a name that cannot fit
at the minimum legible size raises `TextDoesNotFitError`, and `check_face` / `name_fits` let the
approval and intake steps find that out before a batch is printed.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import IO, Final, Literal, NamedTuple, TypeAlias

import qrcode
from PIL import Image, ImageOps
from qrcode.constants import ERROR_CORRECT_M
from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor, black, white
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from idsys.cards import fonts
from idsys.cards.fonts import BOLD, REGULAR, FontStack, UnsupportedCharactersError

# reportlab wraps every stream in ASCII85 by default, a relic of 7-bit mail transports: it makes
# PDFs 25% larger and was the single largest cost of a batch (pure Python without rl-accel).
# Cards are the only reportlab users in the process, so the setting is changed process-wide.
rl_config.useA85 = 0

__all__ = [
    "BACK_TEXT_BOX",
    "CARDS_PER_SHEET",
    "CARD_HEIGHT",
    "CARD_WIDTH",
    "FRONT_NAME_BOX",
    "LAYOUTS",
    "OPTIONAL_LABELS",
    "PHOTO_BOX",
    "QR_BOX",
    "REQUIRED_LABELS",
    "SHEET_SIZES",
    "Box",
    "CardFace",
    "CardRenderError",
    "Fitted",
    "Gender",
    "Labels",
    "Layout",
    "PhotoError",
    "Progress",
    "QrTooDenseError",
    "TextDoesNotFitError",
    "UnsupportedCharactersError",
    "check_face",
    "fit_name",
    "name_fits",
    "qr_matrix",
    "qr_module_size",
    "render_batch",
    "render_batch_to",
    "render_card",
    "sheet_slots",
]

Gender: TypeAlias = Literal["F", "M", "X"]
Layout: TypeAlias = Literal["card_printer", "sheet_letter", "sheet_a4"]
Labels: TypeAlias = Mapping[str, tuple[str, str]]
Progress: TypeAlias = Callable[[int, int], None]

LAYOUTS: Final[tuple[Layout, ...]] = ("card_printer", "sheet_letter", "sheet_a4")

_MM: Final = 72 / 25.4
CARD_WIDTH: Final = 85.60 * _MM
"""CR80 (ISO/IEC 7810 ID-1) width in PDF points: 242.65."""
CARD_HEIGHT: Final = 53.98 * _MM
"""CR80 height in PDF points: 153.01."""

SHEET_SIZES: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {"sheet_letter": (612.0, 792.0), "sheet_a4": (210 * _MM, 297 * _MM)}
)
_SHEET_COLUMNS: Final = 2
_SHEET_ROWS: Final = 4
CARDS_PER_SHEET: Final = _SHEET_COLUMNS * _SHEET_ROWS
_GUTTER: Final = 0.25 * 72
_BLEED: Final = 1.0 * _MM
_CROP_OFFSET: Final = 3.0
_CROP_LENGTH: Final = 12.0

REQUIRED_LABELS: Final = frozenset(
    {
        "name",
        "dob",
        "gender",
        "card_number",
        "issued",
        "expires",
        "does_not_expire",
        "veteran",
        "emergency_contact",
        "address",
    }
)
"""Label keys every caller supplies (even for fields a given card leaves out), so a missing
translation shows up on the first card rather than on the first veteran's."""
OPTIONAL_LABELS: Final = frozenset({"card_title", "scan_to_verify"})

# One 300 dpi printer dot. Card printers are 300 (some 600) dpi: QR modules that are a whole
# number of dots print evenly instead of alternating between two widths.
_DOT: Final = 72 / 300
_MIN_QR_MODULE: Final = 4 * _DOT  # 0.34 mm: below this phone cameras start to miss
_QR_QUIET_ZONE: Final = 4
_PHOTO_DPI: Final = 300  # card printers' native resolution; lets JPEG decoding downscale for free

# Vertical metrics as fractions of the font size, covering the bundled fonts' tallest accents
# (Vietnamese stacked marks on capitals) and deepest descenders.
_ASCENT: Final = 0.98
_DESCENT: Final = 0.26
_LEADING: Final = 1.12

_NAME_MAX: Final = 12.0
_NAME_ONE_LINE_FLOOR: Final = 8.5
_NAME_MIN: Final = 6.0
_LABEL_MAX: Final = 5.5
_LABEL_MIN: Final = 4.0
_VALUE_MAX: Final = 8.5
_VALUE_MIN: Final = 5.5

_BAND_COLOR: Final = HexColor("#1F3A5F")
_LABEL_COLOR: Final = HexColor("#4A4A4A")
_INK: Final = black


class Box(NamedTuple):
    """A rectangle in points, origin at the card's bottom-left corner."""

    x: float
    y: float
    width: float
    height: float

    @property
    def top(self) -> float:
        return self.y + self.height

    @property
    def right(self) -> float:
        return self.x + self.width


def _snap(value: float) -> float:
    """Round to the 300 dpi dot grid, so QR module edges fall on printer dots."""
    return round(value / _DOT) * _DOT


_MARGIN: Final = 8.0  # ~2.8 mm: card printers do not guarantee placement closer to the edge
_BAND_HEIGHT: Final = 26.0
PHOTO_BOX: Final = Box(_MARGIN, CARD_HEIGHT - _BAND_HEIGHT - 6.0 - 96.0, 72.0, 96.0)
"""Front photo, 3:4 like a passport photo."""
_VETERAN_BOX: Final = Box(_MARGIN, _MARGIN, PHOTO_BOX.width, PHOTO_BOX.y - 4.0 - _MARGIN)
_COLUMN_X: Final = PHOTO_BOX.right + 8.0
_COLUMN_WIDTH: Final = CARD_WIDTH - _MARGIN - _COLUMN_X
FRONT_NAME_BOX: Final = Box(_COLUMN_X, 82.0, _COLUMN_WIDTH, 30.0)
"""Everything the name draws stays inside this box, whatever its length or script."""
_NAME_LABEL_BASELINE: Final = FRONT_NAME_BOX.top + 2.5

QR_BOX: Final = Box(_snap(CARD_WIDTH - 6.0 - 118.0), _snap(CARD_HEIGHT - 6.0 - 118.0), 118.0, 118.0)
"""Back QR including its quiet zone: nothing else is drawn here."""
BACK_TEXT_BOX: Final = Box(_MARGIN, _MARGIN, QR_BOX.x - 4.0 - _MARGIN, CARD_HEIGHT - 2 * _MARGIN)


class CardRenderError(Exception):
    """The card cannot be printed as asked; the message says what to change."""


class TextDoesNotFitError(CardRenderError):
    """Text is too long for its place on the card even at the smallest legible size."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(f"{field} is too long to print on the card")


class PhotoError(CardRenderError):
    """The photo is not a readable JPEG."""


class QrTooDenseError(CardRenderError):
    """The QR text needs modules smaller than a phone camera reliably reads at card size."""


@dataclass(frozen=True, slots=True)
class CardFace:
    """Everything printed on one card, decided and translated by the caller.

    `expiry_date` None prints the "does_not_expire" label; `gender` None prints no gender at all
    (label included); empty `address_lines` (confidential address) prints no address block;
    `emergency_contact` None prints none. `labels` maps each key of REQUIRED_LABELS (and
    optionally OPTIONAL_LABELS) to its text in the card's two languages. `date_format` must be
    numeric (e.g. "%m/%d/%Y"): month names would need translating. Personal fields are left out
    of repr() so a stray log line shows the card number only.
    """

    card_number: str
    full_name: str = field(repr=False)
    date_of_birth: date = field(repr=False)
    issue_date: date = field(repr=False)
    expiry_date: date | None = field(repr=False)
    photo_jpeg: bytes = field(repr=False)
    qr_text: str = field(repr=False)
    city_name: str = field(repr=False)
    labels: Labels = field(repr=False)
    gender: Gender | None = field(default=None, repr=False)
    veteran: bool = field(default=False, repr=False)
    emergency_contact: str | None = field(default=None, repr=False)
    address_lines: tuple[str, ...] = field(default=(), repr=False)
    date_format: str = field(default="%Y-%m-%d", repr=False)

    def __post_init__(self) -> None:
        for name in ("card_number", "full_name", "qr_text", "city_name"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string")
        for name in ("date_of_birth", "issue_date", "expiry_date"):
            value = getattr(self, name)
            if value is None and name == "expiry_date":
                continue
            # datetime is a subclass of date; a timestamp here would be a caller bug.
            if not isinstance(value, date) or isinstance(value, datetime):
                raise ValueError(f"{name} must be a date")
        if self.expiry_date is not None and self.expiry_date < self.issue_date:
            raise ValueError("expiry_date is before issue_date")
        if self.gender not in (None, "F", "M", "X"):
            raise ValueError("gender must be 'F', 'M', 'X' or None")
        if not isinstance(self.photo_jpeg, bytes) or not self.photo_jpeg.startswith(b"\xff\xd8"):
            raise ValueError("photo_jpeg must be JPEG bytes")
        if self.emergency_contact is not None and not isinstance(self.emergency_contact, str):
            raise ValueError("emergency_contact must be a string or None")
        lines = tuple(self.address_lines)
        if not all(isinstance(line, str) for line in lines):
            raise ValueError("address_lines must be strings")
        object.__setattr__(self, "address_lines", tuple(line for line in lines if line.strip()))
        sample = date(2001, 2, 3).strftime(self.date_format)
        if any(ch.isalpha() for ch in sample):
            raise ValueError("date_format must be numeric (month names would need translating)")
        object.__setattr__(self, "labels", _checked_labels(self.labels))


def _checked_labels(labels: Labels) -> Labels:
    keys = set(labels)
    missing = REQUIRED_LABELS - keys
    unknown = keys - REQUIRED_LABELS - OPTIONAL_LABELS
    if missing or unknown:
        raise ValueError(
            f"labels: missing {sorted(missing) or 'none'}, unknown {sorted(unknown) or 'none'}"
        )
    copy: dict[str, tuple[str, str]] = {}
    for key, pair in labels.items():
        if (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not all(isinstance(part, str) for part in pair)
            or not pair[0].strip()
        ):
            raise ValueError(f"labels[{key!r}] must be a (first language, second language) pair")
        copy[key] = pair
    return MappingProxyType(copy)


def _bilingual(pair: tuple[str, str]) -> str:
    first, second = pair[0].strip(), pair[1].strip()
    return f"{first} / {second}" if second and second != first else first


# --- fitting text ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fitted:
    """Text broken into lines and the size they are drawn at."""

    lines: tuple[str, ...]
    size: float

    def height(self) -> float:
        return (_ASCENT + _DESCENT + (len(self.lines) - 1) * _LEADING) * self.size


def _floor_size(size: float) -> float:
    """Sizes in quarter points: enough steps, and reproducible across platforms."""
    return math.floor(size * 4 + 1e-9) / 4


def _unit_width(text: str, stack: FontStack) -> float:
    return fonts.string_width(text, stack, 1.0)


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch) in {"Mn", "Me"}


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in {"W", "F"}


def _word_breaks(text: str) -> list[int]:
    """Where a line may start: after spaces, after a hyphen, and between CJK characters.

    A small subset of UAX #14 that covers personal names and addresses.
    """
    breaks: list[int] = []
    for i in range(1, len(text)):
        before, ch = text[i - 1], text[i]
        if ch.isspace() or _is_mark(ch):
            continue
        if before.isspace() or before in "-\u2010" or _is_wide(before) or _is_wide(ch):
            breaks.append(i)
    return breaks


def _char_breaks(text: str) -> list[int]:
    """Last resort for an unbreakable word: any place that does not split a mark from its base."""
    return [i for i in range(1, len(text)) if not _is_mark(text[i]) and not text[i].isspace()]


def _split(text: str, at: int) -> tuple[str, str]:
    return text[:at].rstrip(), text[at:].lstrip()


def _best_two_lines(
    text: str, stack: FontStack, width: float, breaks: list[int]
) -> tuple[tuple[str, str], float] | None:
    """The break that lets two lines be drawn largest (the most balanced one)."""
    best: tuple[tuple[str, str], float] | None = None
    for at in breaks:
        first, second = _split(text, at)
        if not first or not second:
            continue
        widest = max(_unit_width(first, stack), _unit_width(second, stack))
        size = width / widest if widest else math.inf
        if best is None or size > best[1]:
            best = ((first, second), size)
    return best


def fit_name(full_name: str, width: float = FRONT_NAME_BOX.width) -> Fitted:
    """Lay out a name: one line down to 8.5 pt, else two lines (largest that fits), min 6 pt.

    Raises TextDoesNotFitError when even two lines at 6 pt are not enough, and
    UnsupportedCharactersError for characters the fonts cannot print.
    """
    text = " ".join(fonts.display_form(full_name).split())
    _require_drawable(text, "full_name")
    available = width - 0.5  # synthetic bold strokes reach a little past the advance width
    one_line_max = _NAME_MAX
    two_line_max = FRONT_NAME_BOX.height / (_ASCENT + _DESCENT + _LEADING)
    unit = _unit_width(text, BOLD)
    one = _floor_size(min(one_line_max, available / unit if unit else one_line_max))
    if one >= _NAME_ONE_LINE_FLOOR:
        return Fitted((text,), one)
    for breaks in (_word_breaks(text), _char_breaks(text)):
        best = _best_two_lines(text, BOLD, available, breaks)
        if best is not None:
            two = _floor_size(min(two_line_max, best[1]))
            if two >= _NAME_MIN and two >= one:
                return Fitted(best[0], two)
    if one >= _NAME_MIN:
        return Fitted((text,), one)
    raise TextDoesNotFitError("full_name")


def name_fits(full_name: str) -> bool:
    """For the intake form: True when the name prints on the card (fonts and length)."""
    try:
        fit_name(full_name)
    except (TextDoesNotFitError, UnsupportedCharactersError):
        return False
    return True


def _fit_line(
    text: str, stack: FontStack, width: float, max_size: float, min_size: float, field: str
) -> Fitted:
    unit = _unit_width(text, stack)
    size = _floor_size(min(max_size, width / unit if unit else max_size))
    if size < min_size:
        raise TextDoesNotFitError(field)
    return Fitted((text,), size)


def _wrap_greedy(text: str, stack: FontStack, size: float, width: float) -> list[str] | None:
    lines: list[str] = []
    rest = text
    while rest:
        if _unit_width(rest, stack) * size <= width:
            lines.append(rest)
            break
        chosen: tuple[str, str] | None = None
        for breaks in (_word_breaks(rest), _char_breaks(rest)):
            for at in reversed(breaks):
                first, second = _split(rest, at)
                if first and _unit_width(first, stack) * size <= width:
                    chosen = (first, second)
                    break
            if chosen is not None:
                break
        if chosen is None:
            return None
        lines.append(chosen[0])
        rest = chosen[1]
    return lines


def _fit_block(
    paragraphs: Sequence[str],
    stack: FontStack,
    box: tuple[float, float],
    sizes: tuple[float, float],
    field: str,
    max_lines: int | None = None,
) -> Fitted:
    """Fit paragraphs into a box: unwrapped down to 1.5 pt below `max`, else wrapped, to `min`.

    A slightly smaller address on one line reads better than one broken before "5C".
    """
    width, height = box
    max_size, min_size = sizes
    no_wrap_floor = max(min_size, max_size - 1.5)
    for wrap in (False, True):
        size = max_size
        while size >= (min_size if wrap else no_wrap_floor) - 1e-9:
            lines: list[str] = []
            for paragraph in paragraphs:
                if wrap:
                    wrapped = _wrap_greedy(paragraph, stack, size, width)
                elif _unit_width(paragraph, stack) * size <= width:
                    wrapped = [paragraph]
                else:
                    wrapped = None
                if wrapped is None:
                    lines = []
                    break
                lines.extend(wrapped)
            if lines and (max_lines is None or len(lines) <= max_lines):
                fitted = Fitted(tuple(lines), size)
                if fitted.height() <= height + 1e-9:
                    return fitted
            size -= 0.25
    raise TextDoesNotFitError(field)


def _require_drawable(text: str, field: str) -> None:
    bad = fonts.unsupported_characters(text)
    if bad:
        raise UnsupportedCharactersError(bad, field)


# --- planning: every text decision, made before anything is drawn ---------------------------


class _Text(NamedTuple):
    x: float
    y: float  # baseline
    text: str
    stack: FontStack
    size: float
    color: Color
    anchor: Literal["start", "middle", "end"] = "start"


def _label(labels: Labels, key: str) -> str:
    text = " ".join(fonts.display_form(_bilingual(labels[key])).split())
    _require_drawable(text, f"labels[{key!r}]")
    return text


def _field(
    out: list[_Text],
    labels: Labels,
    key: str,
    value: str,
    x: float,
    width: float,
    baseline: float,
    *,
    value_stack: FontStack = REGULAR,
    room: float = 13.0,
) -> None:
    """A small grey label over its value, both shrunk to the column width if needed.

    A value too long for one line (a translated "does not expire") wraps onto two smaller lines
    within `room` points below the label.
    """
    label = _label(labels, key)
    fitted = _fit_line(label, REGULAR, width, _LABEL_MAX, _LABEL_MIN, f"labels[{key!r}]")
    out.append(_Text(x, baseline, label, REGULAR, fitted.size, _LABEL_COLOR))
    _require_drawable(value, key)
    try:
        fitted = _fit_line(value, value_stack, width, _VALUE_MAX, _VALUE_MIN, key)
    except TextDoesNotFitError:
        fitted = _fit_block([value], value_stack, (width, room), (_VALUE_MAX, 4.5), key, 2)
        _lines(out, fitted, x, baseline - 2.0, value_stack)
        return
    out.append(_Text(x, baseline - 8.5, value, value_stack, fitted.size, _INK))


def _lines(out: list[_Text], fitted: Fitted, x: float, top: float, stack: FontStack) -> float:
    """Append the lines of a block whose glyphs start at `top`; return where the block ends."""
    baseline = top - _ASCENT * fitted.size
    for line in fitted.lines:
        out.append(_Text(x, baseline, line, stack, fitted.size, _INK))
        baseline -= _LEADING * fitted.size
    return top - fitted.height()


def _plan_front(face: CardFace) -> list[_Text]:
    labels = face.labels
    out: list[_Text] = []
    # Band: city name, and the card title on the right when given.
    city = " ".join(fonts.display_form(face.city_name).split())
    _require_drawable(city, "city_name")
    band_width = CARD_WIDTH - 2 * _MARGIN
    baseline = CARD_HEIGHT - _BAND_HEIGHT / 2 - 3.5
    if "card_title" in labels:
        title = _label(labels, "card_title")
        title_fit = _fit_line(title, REGULAR, band_width * 0.45, 6.5, 4.0, "labels['card_title']")
        title_width = _unit_width(title, REGULAR) * title_fit.size
        out.append(
            _Text(CARD_WIDTH - _MARGIN, baseline, title, REGULAR, title_fit.size, white, "end")
        )
        band_width -= title_width + 8.0
    city_fit = _fit_line(city, BOLD, band_width, 10.5, 6.0, "city_name")
    out.append(_Text(_MARGIN, baseline, city, BOLD, city_fit.size, white))

    # Name.
    name_label = _label(labels, "name")
    fitted = _fit_line(name_label, REGULAR, _COLUMN_WIDTH, _LABEL_MAX, _LABEL_MIN, "labels['name']")
    out.append(
        _Text(_COLUMN_X, _NAME_LABEL_BASELINE, name_label, REGULAR, fitted.size, _LABEL_COLOR)
    )
    _lines(out, fit_name(face.full_name), _COLUMN_X, FRONT_NAME_BOX.top, BOLD)

    # Fields: date of birth | gender; card number; issued | expires.
    fmt = face.date_format
    dob_width = _COLUMN_WIDTH if face.gender is None else _COLUMN_WIDTH * 0.64
    _field(out, labels, "dob", face.date_of_birth.strftime(fmt), _COLUMN_X, dob_width, 74.0)
    if face.gender is not None:
        x = _COLUMN_X + _COLUMN_WIDTH * 0.68
        _field(out, labels, "gender", face.gender, x, _COLUMN_X + _COLUMN_WIDTH - x, 74.0)
    _field(
        out,
        labels,
        "card_number",
        face.card_number,
        _COLUMN_X,
        _COLUMN_WIDTH,
        53.0,
        value_stack=BOLD,
    )
    half = _COLUMN_WIDTH / 2 - 3.0
    _field(out, labels, "issued", face.issue_date.strftime(fmt), _COLUMN_X, half, 32.0, room=19.0)
    expiry = (
        face.expiry_date.strftime(fmt)
        if face.expiry_date is not None
        else _label(labels, "does_not_expire")
    )
    _field(out, labels, "expires", expiry, _COLUMN_X + half + 6.0, half, 32.0, room=19.0)

    if face.veteran:
        text = _label(labels, "veteran")
        box = _VETERAN_BOX
        fitted = _fit_line(text, BOLD, box.width - 6.0, 7.0, 4.0, "labels['veteran']")
        baseline = box.y + box.height / 2 - 0.36 * fitted.size
        out.append(_Text(box.x + box.width / 2, baseline, text, BOLD, fitted.size, white, "middle"))
    return out


def _plan_back(face: CardFace) -> list[_Text]:
    labels = face.labels
    box = BACK_TEXT_BOX
    out: list[_Text] = []
    city = " ".join(fonts.display_form(face.city_name).split())
    fitted = _fit_line(city, BOLD, box.width, 8.0, 5.0, "city_name")
    out.append(_Text(box.x, box.top - _ASCENT * fitted.size, city, BOLD, fitted.size, _INK))
    cursor = box.top - fitted.height() - 5.0

    # Card number, small at the bottom: label over the number.
    number_label = _label(labels, "card_number")
    label_fit = _fit_line(
        number_label, REGULAR, box.width, 5.0, _LABEL_MIN, "labels['card_number']"
    )
    out.append(_Text(box.x, box.y + 9.5, number_label, REGULAR, label_fit.size, _LABEL_COLOR))
    number_fit = _fit_line(face.card_number, BOLD, box.width, 7.0, 5.0, "card_number")
    out.append(_Text(box.x, box.y + 2.0, face.card_number, BOLD, number_fit.size, _INK))
    floor = box.y + 9.5 + 5.0 + 4.0

    blocks: list[tuple[str, list[str], int | None]] = []
    if face.emergency_contact is not None and face.emergency_contact.strip():
        blocks.append(("emergency_contact", [face.emergency_contact], 2))
    if face.address_lines:
        blocks.append(("address", list(face.address_lines), None))
    for key, paragraphs, max_lines in blocks:
        label = _label(labels, key)
        label_fit = _fit_line(label, REGULAR, box.width, 5.0, _LABEL_MIN, f"labels[{key!r}]")
        out.append(
            _Text(
                box.x,
                cursor - _ASCENT * label_fit.size,
                label,
                REGULAR,
                label_fit.size,
                _LABEL_COLOR,
            )
        )
        cursor -= label_fit.height() + 1.0
        texts = [" ".join(fonts.display_form(p).split()) for p in paragraphs]
        for text in texts:
            _require_drawable(text, key)
        # The emergency contact gets at most two lines; the address takes what is left.
        height = cursor - floor
        if max_lines is not None:
            height = min(height, (_ASCENT + _DESCENT + _LEADING) * 7.0)
        fitted = _fit_block(texts, REGULAR, (box.width, height), (7.0, 5.0), key, max_lines)
        cursor = _lines(out, fitted, box.x, cursor, REGULAR) - 4.0

    if "scan_to_verify" in labels:
        text = _label(labels, "scan_to_verify")
        fitted = _fit_line(text, REGULAR, QR_BOX.width, 5.5, 4.0, "labels['scan_to_verify']")
        x = QR_BOX.x + QR_BOX.width / 2
        out.append(_Text(x, QR_BOX.y - 8.0, text, REGULAR, fitted.size, _LABEL_COLOR, "middle"))
    return out


def qr_matrix(text: str) -> list[list[bool]]:
    """QR modules (True = dark) at level M, no quiet zone, in the version `qr_version_for` gives."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    qr.add_data(text)
    qr.make(fit=True)
    return [[bool(module) for module in row] for row in qr.get_matrix()]


def qr_module_size(modules: int) -> float:
    """Printed size in points of one module of a QR `modules` wide: whole 300 dpi dots."""
    size = math.floor(QR_BOX.width / (modules + 2 * _QR_QUIET_ZONE) / _DOT) * _DOT
    if size < _MIN_QR_MODULE - 1e-9:
        raise QrTooDenseError(f"a {modules}-module QR does not fit the card legibly")
    return size


@dataclass(frozen=True, slots=True)
class _Plan:
    front: list[_Text]
    back: list[_Text]
    qr: list[list[bool]]


def _plan(face: CardFace) -> _Plan:
    qr = qr_matrix(face.qr_text)
    qr_module_size(len(qr))
    return _Plan(_plan_front(face), _plan_back(face), qr)


def check_face(face: CardFace) -> None:
    """Raise what rendering would raise (text, fonts, QR, photo), without drawing anything.

    For the approval step: a card that passes is known to print before it joins a batch.
    """
    _plan(face)
    try:
        with Image.open(io.BytesIO(face.photo_jpeg)) as image:
            if image.format != "JPEG":
                raise PhotoError("the photo is not a JPEG")
    except (OSError, Image.DecompressionBombError) as error:
        raise PhotoError("the photo cannot be read") from error


# --- drawing ----------------------------------------------------------------------------------


def _draw_text(canvas: Canvas, item: _Text) -> None:
    parts = fonts.runs(item.text, item.stack)
    x = item.x
    if item.anchor != "start":
        width = sum(float(pdfmetrics.stringWidth(run.text, run.font, item.size)) for run in parts)
        x -= width if item.anchor == "end" else width / 2
    canvas.setFillColor(item.color)
    canvas.setStrokeColor(item.color)
    canvas.setLineWidth(item.size * 0.04)
    text = canvas.beginText(x, item.y)
    for run in parts:
        text.setFont(run.font, item.size)
        text.setTextRenderMode(2 if run.synthetic_bold else 0)
        text.textOut(run.text)
    text.setTextRenderMode(0)
    canvas.drawText(text)


def _photo(jpeg: bytes) -> ImageReader:
    """Crop to the photo box's aspect (keeping the top, where the face is) and cap resolution.

    The result is re-encoded as JPEG, which reportlab embeds as-is (DCTDecode). EXIF rotation
    is applied, so a phone photo taken sideways prints upright.
    """
    target_w = round(PHOTO_BOX.width / 72 * _PHOTO_DPI)
    target_h = round(PHOTO_BOX.height / 72 * _PHOTO_DPI)
    try:
        with Image.open(io.BytesIO(jpeg)) as opened:
            if opened.format != "JPEG":
                raise PhotoError("the photo is not a JPEG")
            opened.draft("RGB", (target_w, target_h))  # fast DCT downscale of huge photos
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, Image.DecompressionBombError) as error:
        raise PhotoError("the photo cannot be read") from error
    aspect = PHOTO_BOX.width / PHOTO_BOX.height
    width, height = image.size
    if width / height > aspect:  # too wide: crop the sides equally
        crop_w = round(height * aspect)
        left = (width - crop_w) // 2
        image = image.crop((left, 0, left + crop_w, height))
    else:  # too tall: keep more of the top than the bottom
        crop_h = round(width / aspect)
        top = round((height - crop_h) * 0.3)
        image = image.crop((0, top, width, top + crop_h))
    if image.width > target_w:
        image = image.resize((target_w, target_h), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, optimize=False)
    buffer.seek(0)
    return ImageReader(buffer)


def _clip_to_card(canvas: Canvas, bleed: float) -> None:
    path = canvas.beginPath()
    path.rect(-bleed, -bleed, CARD_WIDTH + 2 * bleed, CARD_HEIGHT + 2 * bleed)
    canvas.clipPath(path, stroke=0, fill=0)


def _draw_front(canvas: Canvas, face: CardFace, plan: _Plan, bleed: float) -> None:
    canvas.saveState()
    _clip_to_card(canvas, bleed)
    canvas.setFillColor(_BAND_COLOR)
    canvas.rect(
        -bleed,
        CARD_HEIGHT - _BAND_HEIGHT,
        CARD_WIDTH + 2 * bleed,
        _BAND_HEIGHT + bleed,
        stroke=0,
        fill=1,
    )
    box = PHOTO_BOX
    canvas.drawImage(_photo(face.photo_jpeg), box.x, box.y, box.width, box.height)
    canvas.setStrokeColor(_LABEL_COLOR)
    canvas.setLineWidth(0.4)
    canvas.rect(box.x, box.y, box.width, box.height, stroke=1, fill=0)
    if face.veteran:
        vet = _VETERAN_BOX
        canvas.setFillColor(_BAND_COLOR)
        canvas.roundRect(vet.x, vet.y, vet.width, vet.height, 2.5, stroke=0, fill=1)
    for item in plan.front:
        _draw_text(canvas, item)
    canvas.restoreState()


def _qr_rects(matrix: list[list[bool]]) -> list[tuple[int, int, int, int]]:
    """Dark modules merged into rectangles (column, row, width, height, in modules).

    Horizontal runs that repeat on the following rows become one taller rectangle: a third as
    many path operations, and no hairline seams between rows in anti-aliased viewers.
    """
    rects: list[tuple[int, int, int, int]] = []
    open_runs: dict[tuple[int, int], int] = {}  # (first column, end column) -> first row
    for r, row in enumerate([*matrix, []]):
        runs: set[tuple[int, int]] = set()
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                runs.add((start, c))
            c += 1
        for run in [run for run in open_runs if run not in runs]:
            first_row = open_runs.pop(run)
            rects.append((run[0], first_row, run[1] - run[0], r - first_row))
        for run in runs:
            open_runs.setdefault(run, r)
    return rects


def _draw_qr(canvas: Canvas, matrix: list[list[bool]]) -> None:
    modules = len(matrix)
    module = qr_module_size(modules)
    total = module * (modules + 2 * _QR_QUIET_ZONE)
    x0 = _snap(QR_BOX.x + (QR_BOX.width - total) / 2)
    y0 = _snap(QR_BOX.y + (QR_BOX.height - total) / 2)
    canvas.setFillColor(white)
    canvas.rect(QR_BOX.x, QR_BOX.y, QR_BOX.width, QR_BOX.height, stroke=0, fill=1)
    top = y0 + total - _QR_QUIET_ZONE * module
    left = x0 + _QR_QUIET_ZONE * module
    # One path of "x y w h re" operators, written directly: building it through reportlab's
    # path object formats every number in pure Python and cost more than the rest of the card.
    operators = [
        f"{left + c * module:.3f} {top - (r + h) * module:.3f} {w * module:.3f} {h * module:.3f} re"
        for c, r, w, h in _qr_rects(matrix)
    ]
    canvas.setFillColor(_INK)
    canvas.addLiteral("\n".join([*operators, "f"]))


def _draw_back(canvas: Canvas, plan: _Plan, bleed: float) -> None:
    canvas.saveState()
    _clip_to_card(canvas, bleed)
    _draw_qr(canvas, plan.qr)
    for item in plan.back:
        _draw_text(canvas, item)
    canvas.restoreState()


def sheet_slots(layout: Layout) -> list[tuple[float, float]]:
    """Bottom-left corners of the card slots on a sheet, front order (rows top to bottom).

    The back of the card in slot i sits at the horizontally mirrored position: column
    `columns - 1 - col` of the same row (duplex, flip on long edge).
    """
    page_width, page_height = SHEET_SIZES[layout]
    grid_width = _SHEET_COLUMNS * CARD_WIDTH + (_SHEET_COLUMNS - 1) * _GUTTER
    grid_height = _SHEET_ROWS * CARD_HEIGHT + (_SHEET_ROWS - 1) * _GUTTER
    left = (page_width - grid_width) / 2
    top = (page_height + grid_height) / 2
    slots = []
    for row in range(_SHEET_ROWS):
        for col in range(_SHEET_COLUMNS):
            x = left + col * (CARD_WIDTH + _GUTTER)
            y = top - (row + 1) * CARD_HEIGHT - row * _GUTTER
            slots.append((_snap(x), _snap(y)))
    return slots


def _mirrored(index: int) -> int:
    row, col = divmod(index, _SHEET_COLUMNS)
    return row * _SHEET_COLUMNS + (_SHEET_COLUMNS - 1 - col)


def _draw_crop_marks(canvas: Canvas, layout: Layout) -> None:
    """Cut lines extended into the outer margins, clear of the bleed, for a guillotine."""
    slots = sheet_slots(layout)
    xs = sorted({x for x, _ in slots} | {x + CARD_WIDTH for x, _ in slots})
    ys = sorted({y for _, y in slots} | {y + CARD_HEIGHT for _, y in slots})
    grid_left, grid_right = xs[0] - _BLEED, xs[-1] + _BLEED
    grid_bottom, grid_top = ys[0] - _BLEED, ys[-1] + _BLEED
    near, far = _CROP_OFFSET, _CROP_OFFSET + _CROP_LENGTH
    canvas.saveState()
    canvas.setStrokeColor(black)
    canvas.setLineWidth(0.3)
    for x in xs:
        canvas.line(x, grid_top + near, x, grid_top + far)
        canvas.line(x, grid_bottom - near, x, grid_bottom - far)
    for y in ys:
        canvas.line(grid_left - near, y, grid_left - far, y)
        canvas.line(grid_right + near, y, grid_right + far, y)
    canvas.restoreState()


def _draw_sheet_pair(canvas: Canvas, layout: Layout, cards: list[tuple[CardFace, _Plan]]) -> None:
    slots = sheet_slots(layout)
    for index, (face, plan) in enumerate(cards):
        canvas.saveState()
        canvas.translate(*slots[index])
        _draw_front(canvas, face, plan, _BLEED)
        canvas.restoreState()
    _draw_crop_marks(canvas, layout)
    canvas.showPage()
    for index, (_face, plan) in enumerate(cards):
        canvas.saveState()
        canvas.translate(*slots[_mirrored(index)])
        _draw_back(canvas, plan, _BLEED)
        canvas.restoreState()
    _draw_crop_marks(canvas, layout)
    canvas.showPage()


def render_batch_to(
    fileobj: IO[bytes],
    faces: Iterable[CardFace],
    layout: Layout = "card_printer",
    progress: Progress | None = None,
    *,
    total: int | None = None,
) -> int:
    """Write a batch PDF to `fileobj`; return the number of cards.

    `faces` may be a generator, so a large batch never needs every photo in memory at once
    (at most one sheet of cards is held). reportlab itself keeps the compressed pages until it
    writes the file at the end (about 25 kB a card); nothing is written if a card fails, so a caller
    writing to a temporary file can discard it. `progress(done, total)` is called after each card
    (card printer) or each sheet; `total` defaults to len(faces) when faces has a length.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if total is None and isinstance(faces, Sized):
        total = len(faces)
    if progress is not None and total is None:
        raise ValueError("progress needs the total number of cards")
    fonts.register_fonts()
    pagesize = (CARD_WIDTH, CARD_HEIGHT) if layout == "card_printer" else SHEET_SIZES[layout]
    canvas = Canvas(
        fileobj,
        pagesize=pagesize,
        invariant=1,
        pageCompression=1,
        initialFontName=REGULAR.fonts[0],  # no stray reference to an unembedded Helvetica
    )
    canvas.setTitle("Card batch")
    canvas.setAuthor("")
    canvas.setCreator("idsys")
    count = 0
    pending: list[tuple[CardFace, _Plan]] = []
    for face in faces:
        plan = _plan(face)
        count += 1
        if layout == "card_printer":
            _draw_front(canvas, face, plan, 0.0)
            canvas.showPage()
            _draw_back(canvas, plan, 0.0)
            canvas.showPage()
            if progress is not None and total is not None:
                progress(count, total)
            continue
        pending.append((face, plan))
        if len(pending) == CARDS_PER_SHEET:
            _draw_sheet_pair(canvas, layout, pending)
            pending = []
            if progress is not None and total is not None:
                progress(count, total)
    if pending:
        _draw_sheet_pair(canvas, layout, pending)
        if progress is not None and total is not None:
            progress(count, total)
    if count == 0:
        raise ValueError("a batch needs at least one card")
    canvas.save()
    return count


def render_batch(
    faces: Iterable[CardFace], layout: Layout = "card_printer", progress: Progress | None = None
) -> bytes:
    """A batch PDF as bytes; see `render_batch_to` for layouts and progress."""
    buffer = io.BytesIO()
    render_batch_to(buffer, faces, layout, progress)
    return buffer.getvalue()


def render_card(face: CardFace) -> bytes:
    """One card as a two-page CR80 PDF: front, then back."""
    return render_batch([face], "card_printer")
