"""Card PDFs checked with real tools: poppler (pdftoppm, pdftotext) rasterises and reads them,
zbar decodes the printed QR, and both our codec and the independent `claim169` package verify
what zbar read. Tests that need a missing tool skip, naming the Debian package to install.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import claim169 as independent
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image

from idsys.cards import pdf
from idsys.cards.fonts import BOLD, UnsupportedCharactersError, string_width
from idsys.cards.pdf import (
    CARD_HEIGHT,
    CARD_WIDTH,
    FRONT_NAME_BOX,
    PHOTO_BOX,
    QR_BOX,
    CardFace,
    PhotoError,
    QrTooDenseError,
    TextDoesNotFitError,
    check_face,
    fit_name,
    name_fits,
    qr_matrix,
    render_batch,
    render_batch_to,
    render_card,
    sheet_slots,
)
from idsys.crypto.claim169 import CardClaims, decode_and_verify, encode, qr_version_for

ISSUER = "https://id.example.org"
KID = "card-2025-01"
NOW = datetime(2026, 1, 1, tzinfo=UTC)

LABELS = {
    "name": ("Name", "Nombre"),
    "dob": ("Date of birth", "Fecha de nacimiento"),
    "gender": ("Sex", "Sexo"),
    "card_number": ("Card No.", "Núm. de tarjeta"),
    "issued": ("Issued", "Expedida"),
    "expires": ("Expires", "Vence"),
    "does_not_expire": ("Does not expire", "No vence"),
    "veteran": ("Veteran", "Veterano"),
    "emergency_contact": ("Emergency contact", "Contacto de emergencia"),
    "address": ("Address", "Dirección"),
    "card_title": ("Municipal ID", "Identificación municipal"),
    "scan_to_verify": ("Scan to verify", "Escanee para verificar"),
}

NAMES = {
    "latin": "José Ñúñez García",
    "vietnamese": "Nguyễn Thị Minh Khai",
    "greek": "Ελένη Παπαδοπούλου",
    "cyrillic": "Анна Кузнецова",
    "chinese": "王秀英",
    "korean": "김민준",
    "amharic": "አበበ ቢቂላ",
}

# 60 characters, realistic, with spaces and accents.
LONG_NAME = "María Guadalupe Fernández de la Concepción Rodríguez-Santos."
assert len(LONG_NAME) == 60


# --- helpers ----------------------------------------------------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        package = "zbar-tools" if name == "zbarimg" else "poppler-utils"
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return path


def _jpeg(image: Image.Image, **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92, **save)
    return buffer.getvalue()


def _portrait() -> bytes:
    image = Image.new("RGB", (300, 400), (200, 210, 230))
    image.paste((230, 190, 160), (90, 60, 210, 220))
    image.paste((40, 60, 120), (60, 240, 240, 400))
    return _jpeg(image)


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _qr_text(key: Ed25519PrivateKey, name: str, number: str = "SPR-0001-2345-6") -> str:
    claims = CardClaims(number, name, date(1990, 1, 2), "F")
    return encode(
        claims,
        issuer=ISSUER,
        issued_at=datetime(2025, 3, 1, tzinfo=UTC),
        expires_at=datetime(2030, 3, 1, tzinfo=UTC),
        private_key=key,
        kid=KID,
    )


FaceMaker = Callable[..., CardFace]


@pytest.fixture
def make_face(key: Ed25519PrivateKey) -> FaceMaker:
    photo = _portrait()

    def make(name: str = NAMES["vietnamese"], **overrides: Any) -> CardFace:
        number = overrides.get("card_number", "SPR-0001-2345-6")
        fields: dict[str, Any] = {
            "card_number": number,
            "full_name": name,
            "date_of_birth": date(1990, 1, 2),
            "issue_date": date(2025, 3, 1),
            "expiry_date": date(2030, 3, 1),
            "photo_jpeg": photo,
            "qr_text": _qr_text(key, name, number),
            "city_name": "City of Springfield",
            "labels": LABELS,
            "gender": "F",
            "veteran": False,
            "emergency_contact": "Trần Văn Bảo +1 555 0100",
            "address_lines": ("1234 Evergreen Terrace, Apt 5C", "Springfield, IL 62704"),
        }
        fields.update(overrides)
        return CardFace(**fields)

    return make


@pytest.fixture
def write_pdf(tmp_path: Path) -> Callable[[bytes], Path]:
    counter = iter(range(1_000_000))

    def write(data: bytes) -> Path:
        path = tmp_path / f"out{next(counter)}.pdf"
        path.write_bytes(data)
        return path

    return write


def _text(path: Path, page: int, *extra: str) -> str:
    result = subprocess.run(
        [_tool("pdftotext"), *extra, "-enc", "UTF-8", "-f", str(page), "-l", str(page), path, "-"],
        capture_output=True,
        check=True,
    )
    return unicodedata.normalize("NFC", result.stdout.decode("utf-8"))


def _raster(path: Path, page: int, dpi: int = 300) -> Image.Image:
    prefix = path.with_name(f"{path.stem}-p{page}-{dpi}")
    pages = ["-f", str(page), "-l", str(page)]
    subprocess.run(
        [_tool("pdftoppm"), "-r", str(dpi), *pages, "-png", "-singlefile", str(path), str(prefix)],
        check=True,
        capture_output=True,
    )
    with Image.open(prefix.with_suffix(".png")) as image:
        return image.convert("RGB")


def _zbar(png: Path) -> str:
    result = subprocess.run(
        [_tool("zbarimg"), "--quiet", "--raw", png], capture_output=True, check=True
    )
    return result.stdout.decode("ascii").rstrip("\n")


def _px(points: float, dpi: int) -> float:
    return points * dpi / 72


def _page_sizes(data: bytes) -> list[tuple[float, float]]:
    boxes = re.findall(rb"/MediaBox \[ *([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) *\]", data)
    return [(float(x1) - float(x0), float(y1) - float(y0)) for x0, y0, x1, y1 in boxes]


def _dark(pixel: tuple[int, int, int], threshold: int = 160) -> bool:
    return sum(pixel) / 3 < threshold


# --- page geometry ----------------------------------------------------------------------------


def test_card_is_exactly_cr80(make_face: FaceMaker) -> None:
    data = render_card(make_face())
    sizes = _page_sizes(data)
    assert len(sizes) == 2
    for width, height in sizes:
        assert width == pytest.approx(242.65, abs=0.1)
        assert height == pytest.approx(153.01, abs=0.1)
    width_mm, height_mm = CARD_WIDTH / 72 * 25.4, CARD_HEIGHT / 72 * 25.4
    assert (width_mm, height_mm) == pytest.approx((85.60, 53.98))


def test_pdfinfo_agrees_on_the_page_size(make_face: FaceMaker, write_pdf: Any) -> None:
    path = write_pdf(render_card(make_face()))
    out = subprocess.run(
        [_tool("pdfinfo"), "-box", path], capture_output=True, check=True, text=True
    ).stdout
    assert re.search(r"Pages:\s+2\b", out)
    numbers = re.search(r"MediaBox:\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out)
    assert numbers is not None
    assert float(numbers[3]) == pytest.approx(242.65, abs=0.1)
    assert float(numbers[4]) == pytest.approx(153.01, abs=0.1)


def test_same_input_gives_the_same_bytes(make_face: FaceMaker) -> None:
    face = make_face()
    assert render_card(face) == render_card(face)


# --- the QR -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [NAMES["vietnamese"], NAMES["chinese"], "Aleksandra Konstantinopolska-Wiśniewska"],
    ids=["vietnamese", "chinese", "forty-chars"],
)
def test_printed_qr_scans_to_the_signed_payload(
    make_face: FaceMaker, key: Ed25519PrivateKey, write_pdf: Any, name: str
) -> None:
    face = make_face(name)
    path = write_pdf(render_card(face))
    png = path.with_suffix(".png")
    _raster(path, 2).save(png)
    scanned = _zbar(png)
    assert scanned == face.qr_text
    card = decode_and_verify(scanned, {KID: key.public_key()}, now=NOW)
    assert card.claims.full_name == name
    assert card.claims.card_number == face.card_number
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    result = independent.decode_with_ed25519(scanned, raw)
    assert result.claim169.full_name == name
    assert result.claim169.id == face.card_number
    assert result.claim169.date_of_birth == "19900102"


def test_qr_is_the_version_the_codec_predicts(key: Ed25519PrivateKey) -> None:
    text = _qr_text(key, NAMES["vietnamese"])
    assert len(qr_matrix(text)) == 17 + 4 * qr_version_for(text)


def test_qr_has_a_quiet_zone_of_four_modules(make_face: FaceMaker, write_pdf: Any) -> None:
    dpi = 300
    face = make_face()
    image = _raster(write_pdf(render_card(face)), 2, dpi)
    height = image.height
    left, right = round(_px(QR_BOX.x, dpi)), round(_px(QR_BOX.right, dpi))
    top, bottom = height - round(_px(QR_BOX.top, dpi)), height - round(_px(QR_BOX.y, dpi))
    region = image.crop((left, top, right, bottom)).convert("L")
    dark = region.point(lambda value: 255 if value < 128 else 0)
    bbox = dark.getbbox()
    assert bbox is not None
    modules = len(qr_matrix(face.qr_text))
    symbol_px = bbox[2] - bbox[0]
    module_px = symbol_px / modules
    assert module_px >= 4  # at least four 300 dpi dots per module
    quiet = 4 * module_px - 1
    assert bbox[0] >= quiet and bbox[1] >= quiet
    assert region.width - bbox[2] >= quiet and region.height - bbox[3] >= quiet


def test_too_dense_a_qr_is_refused(make_face: FaceMaker) -> None:
    face = make_face(qr_text="A" * 3000)
    with pytest.raises(QrTooDenseError):
        check_face(face)


# --- names in every script --------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_pdftotext_reads_the_name_as_entered(
    make_face: FaceMaker, write_pdf: Any, name: str
) -> None:
    path = write_pdf(render_card(make_face(name)))
    assert unicodedata.normalize("NFC", name) in _text(path, 1)


def test_decomposed_input_prints_the_same_name(make_face: FaceMaker, write_pdf: Any) -> None:
    decomposed = unicodedata.normalize("NFD", NAMES["latin"])
    assert decomposed != NAMES["latin"]
    path = write_pdf(render_card(make_face(decomposed)))
    assert NAMES["latin"] in _text(path, 1)


def test_unprintable_name_is_refused_before_drawing(make_face: FaceMaker) -> None:
    face = make_face("Anna \U000f0000")
    with pytest.raises(UnsupportedCharactersError) as caught:
        render_card(face)
    assert caught.value.field == "full_name"
    assert "U+F0000" in str(caught.value)
    assert not name_fits("Anna \U000f0000")


# --- long names -------------------------------------------------------------------------------


def test_sixty_character_name_wraps_inside_its_box(make_face: FaceMaker, write_pdf: Any) -> None:
    fitted = fit_name(LONG_NAME)
    assert len(fitted.lines) == 2
    assert fitted.size >= 6.0
    for line in fitted.lines:
        assert string_width(line, BOLD, fitted.size) <= FRONT_NAME_BOX.width
    assert fitted.height() <= FRONT_NAME_BOX.height

    # Pixels: everything that changes between a short and the long name lies inside the box.
    dpi = 150
    short = _raster(write_pdf(render_card(make_face("Al"))), 1, dpi)
    long = _raster(write_pdf(render_card(make_face(LONG_NAME))), 1, dpi)
    changed: list[tuple[int, int]] = []
    short_px, long_px = short.load(), long.load()
    assert short_px is not None and long_px is not None
    for y in range(long.height):
        for x in range(long.width):
            a, b = short_px[x, y], long_px[x, y]
            if isinstance(a, tuple) and isinstance(b, tuple) and a != b and _dark(b):
                changed.append((x, y))
    assert changed, "the long name drew nothing"
    box_left = _px(FRONT_NAME_BOX.x, dpi) - 1
    box_right = _px(FRONT_NAME_BOX.right, dpi) + 1
    box_top = long.height - _px(FRONT_NAME_BOX.top, dpi) - 1
    box_bottom = long.height - _px(FRONT_NAME_BOX.y, dpi) + 1
    outside = [
        (x, y)
        for x, y in changed
        if not (box_left <= x <= box_right and box_top <= y <= box_bottom)
    ]
    assert outside == []
    rows = sorted({y for _, y in changed})
    assert rows[-1] - rows[0] > _px(fitted.size * 1.5, dpi), "expected two lines of text"


def test_unbreakable_name_is_split_between_characters() -> None:
    word = "Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaft"
    fitted = fit_name(word)
    assert "".join(fitted.lines) == word
    assert all(
        string_width(line, BOLD, fitted.size) <= FRONT_NAME_BOX.width for line in fitted.lines
    )


def test_short_name_stays_on_one_large_line() -> None:
    fitted = fit_name(NAMES["chinese"])
    assert fitted.lines == (NAMES["chinese"],)
    assert fitted.size == 12.0


def test_name_too_long_for_two_lines_is_refused(make_face: FaceMaker) -> None:
    name = " ".join(["Bartholomew"] * 20)
    assert not name_fits(name)
    with pytest.raises(TextDoesNotFitError) as caught:
        render_card(make_face(name, qr_text="QRTEXT"))
    assert caught.value.field == "full_name"


# --- optional fields --------------------------------------------------------------------------


def test_confidential_address_is_not_printed(make_face: FaceMaker, write_pdf: Any) -> None:
    with_address = _text(write_pdf(render_card(make_face())), 2)
    assert "1234 Evergreen Terrace, Apt 5C" in with_address
    assert "Address / Dirección" in with_address
    confidential = make_face(address_lines=())
    text = _text(write_pdf(render_card(confidential)), 2) + _text(
        write_pdf(render_card(confidential)), 1
    )
    assert "Evergreen" not in text
    assert "Address" not in text
    assert "Dirección" not in text


def test_gender_not_chosen_prints_no_gender_at_all(make_face: FaceMaker, write_pdf: Any) -> None:
    shown = _text(write_pdf(render_card(make_face(gender="X"))), 1)
    assert "Sex / Sexo" in shown
    assert re.search(r"^X$", shown, re.MULTILINE)
    hidden = _text(write_pdf(render_card(make_face(gender=None))), 1)
    assert "Sex" not in hidden
    assert "Sexo" not in hidden


def test_expiry_veteran_and_emergency_contact(make_face: FaceMaker, write_pdf: Any) -> None:
    path = write_pdf(render_card(make_face(expiry_date=None, veteran=True)))
    front, back = _text(path, 1), _text(path, 2)
    assert "Does not expire / No vence" in " ".join(front.split())
    assert "Veteran / Veterano" in front
    assert "Trần Văn Bảo +1 555 0100" in back
    assert "SPR-0001-2345-6" in back  # card number repeated on the back
    plain = write_pdf(render_card(make_face(veteran=False, emergency_contact=None)))
    assert "Veteran" not in _text(plain, 1)
    assert "Emergency" not in _text(plain, 2)


def test_single_language_labels_print_once(make_face: FaceMaker, write_pdf: Any) -> None:
    labels = {key: (english, "") for key, (english, _spanish) in LABELS.items()}
    front = _text(write_pdf(render_card(make_face(labels=labels))), 1)
    assert "Name\n" in front
    assert "Nombre" not in front


# --- the photo --------------------------------------------------------------------------------


def _photo_region(image: Image.Image, dpi: int) -> Image.Image:
    inset = 3  # stay clear of the photo's frame line
    return image.crop(
        (
            round(_px(PHOTO_BOX.x, dpi)) + inset,
            image.height - round(_px(PHOTO_BOX.top, dpi)) + inset,
            round(_px(PHOTO_BOX.right, dpi)) - inset,
            image.height - round(_px(PHOTO_BOX.y, dpi)) - inset,
        )
    )


def test_wide_photo_is_cropped_not_stretched(make_face: FaceMaker, write_pdf: Any) -> None:
    # Red | green | blue thirds of a 1200 x 450 photo: its 3:4 centre crop (x 431..769) is all
    # green, while a stretched photo would be two thirds red and blue.
    wide = Image.new("RGB", (1200, 450), (0, 170, 0))
    wide.paste((220, 0, 0), (0, 0, 400, 450))
    wide.paste((0, 0, 220), (800, 0, 1200, 450))
    image = _raster(write_pdf(render_card(make_face(photo_jpeg=_jpeg(wide)))), 1, 100)
    colors = _photo_region(image, 100).getcolors(maxcolors=100_000)
    assert colors is not None
    greenish = sum(n for n, (r, g, b) in colors if g > 120 and r < 80 and b < 80)
    assert greenish / sum(n for n, _ in colors) > 0.97


def test_exif_rotation_is_applied(make_face: FaceMaker, write_pdf: Any) -> None:
    # Stored sideways: left half red, right half blue, EXIF "rotate 90 clockwise" (6).
    sideways = Image.new("RGB", (400, 300), (0, 0, 220))
    sideways.paste((220, 0, 0), (0, 0, 200, 300))
    exif = Image.Exif()
    exif[0x0112] = 6
    face = make_face(photo_jpeg=_jpeg(sideways, exif=exif))
    region = _photo_region(_raster(write_pdf(render_card(face)), 1, 100), 100)
    top = region.getpixel((region.width // 2, 2))
    bottom = region.getpixel((region.width // 2, region.height - 3))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 150 and top[2] < 80  # red on top once upright
    assert bottom[2] > 150 and bottom[0] < 80


def test_unreadable_photo_is_a_photo_error(make_face: FaceMaker) -> None:
    face = make_face(photo_jpeg=b"\xff\xd8 not really a jpeg")
    with pytest.raises(PhotoError):
        render_card(face)
    with pytest.raises(PhotoError):
        check_face(face)


# --- input validation -------------------------------------------------------------------------


def test_repr_hides_personal_fields(make_face: FaceMaker) -> None:
    assert repr(make_face()) == "CardFace(card_number='SPR-0001-2345-6')"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"labels": {k: v for k, v in LABELS.items() if k != "dob"}}, "missing"),
        ({"labels": {**LABELS, "nationality": ("Nationality", "")}}, "unknown"),
        ({"labels": {**LABELS, "name": "Name"}}, "pair"),
        ({"date_of_birth": datetime(1990, 1, 2, tzinfo=UTC)}, "date"),
        ({"expiry_date": date(2020, 1, 1)}, "before"),
        ({"gender": "Q"}, "gender"),
        ({"photo_jpeg": b"\x89PNG\r\n"}, "JPEG"),
        ({"date_format": "%d %B %Y"}, "numeric"),
        ({"card_number": " "}, "card_number"),
    ],
)
def test_bad_input_is_refused(
    make_face: FaceMaker, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_face(**overrides)


def test_labels_cannot_be_changed_after_construction(make_face: FaceMaker) -> None:
    labels = dict(LABELS)
    face = make_face(labels=labels)
    labels["name"] = ("Changed", "")
    assert face.labels["name"] == ("Name", "Nombre")
    with pytest.raises(TypeError):
        face.labels["name"] = ("x", "y")  # type: ignore[index]


def test_too_long_label_translation_is_reported(make_face: FaceMaker) -> None:
    labels = {**LABELS, "issued": ("Issued on this day by the city", "Expedida en este día")}
    with pytest.raises(TextDoesNotFitError, match="issued"):
        check_face(make_face(labels=labels))


# --- batches ----------------------------------------------------------------------------------


def test_card_printer_batch_is_two_pages_per_card(make_face: FaceMaker) -> None:
    calls: list[tuple[int, int]] = []
    faces = [make_face(card_number=f"SPR-{i}") for i in range(3)]
    data = render_batch(faces, "card_printer", lambda done, total: calls.append((done, total)))
    sizes = _page_sizes(data)
    assert len(sizes) == 6
    assert all(size == pytest.approx((CARD_WIDTH, CARD_HEIGHT)) for size in sizes)
    assert calls == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize(
    ("layout", "size"),
    [("sheet_letter", (612.0, 792.0)), ("sheet_a4", (595.28, 841.89))],
)
def test_sheet_batch_pages_and_progress(make_face: FaceMaker, layout: Any, size: Any) -> None:
    calls: list[tuple[int, int]] = []
    faces = [make_face(card_number=f"SPR-{i}") for i in range(9)]
    data = render_batch(faces, layout, lambda done, total: calls.append((done, total)))
    sizes = _page_sizes(data)
    assert len(sizes) == 4  # 9 cards: two sheets, each a front page and a back page
    assert all(s == pytest.approx(size, abs=0.01) for s in sizes)
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})
    assert calls[-1] == (9, 9)


def test_sheet_has_crop_marks_clear_of_the_cards(make_face: FaceMaker, write_pdf: Any) -> None:
    dpi = 100
    path = write_pdf(render_batch([make_face()], "sheet_letter"))
    for page in (1, 2):
        image = _raster(path, page, dpi)
        slots = sheet_slots("sheet_letter")
        grid_top = max(y for _, y in slots) + CARD_HEIGHT
        grid_left = min(x for x, _ in slots)
        # A vertical mark above every cut line x; a horizontal one left of every cut line y.
        for x_pt in sorted({x for x, _ in slots} | {x + CARD_WIDTH for x, _ in slots}):
            x = round(_px(x_pt, dpi))
            column = [
                _dark(image.getpixel((dx, y)))  # type: ignore[arg-type]
                for dx in (x - 1, x, x + 1)
                for y in range(
                    image.height - round(_px(grid_top + 14, dpi)),
                    image.height - round(_px(grid_top + 8, dpi)),
                )
            ]
            assert any(column), f"no crop mark above x={x_pt:.1f} on page {page}"
        for y_pt in sorted({y for _, y in slots} | {y + CARD_HEIGHT for _, y in slots}):
            y = image.height - round(_px(y_pt, dpi))
            row = [
                _dark(image.getpixel((x, dy)))  # type: ignore[arg-type]
                for dy in (y - 1, y, y + 1)
                for x in range(round(_px(grid_left - 14, dpi)), round(_px(grid_left - 8, dpi)))
            ]
            assert any(row), f"no crop mark left of y={y_pt:.1f} on page {page}"


def _word_positions(path: Path, page: int) -> dict[str, tuple[float, float]]:
    html = _text(path, page, "-bbox")
    words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>([^<]+)</word>', html)
    return {word: (float(x), float(y)) for x, y, word in words}


def test_sheet_backs_are_mirrored_for_long_edge_duplex(
    make_face: FaceMaker, write_pdf: Any
) -> None:
    numbers = ["N-0000", "N-1111", "N-2222"]
    faces = [make_face(card_number=number) for number in numbers]
    path = write_pdf(render_batch(faces, "sheet_a4"))
    page_width, page_height = pdf.SHEET_SIZES["sheet_a4"]
    front, back = _word_positions(path, 1), _word_positions(path, 2)
    slots = sheet_slots("sheet_a4")
    for index, number in enumerate(numbers):
        row, col = divmod(index, 2)
        for where, expected_col in ((front, col), (back, 1 - col)):
            x, y = where[number]
            slot_x, slot_y = slots[row * 2 + expected_col]
            assert slot_x <= x <= slot_x + CARD_WIDTH
            top = page_height - (slot_y + CARD_HEIGHT)  # pdftotext measures y from the top
            assert top <= y <= top + CARD_HEIGHT
    # The back of the first card sits exactly behind its front when the sheet flips sideways.
    slot_x = slots[0][0]
    assert slots[1][0] == pytest.approx(page_width - slot_x - CARD_WIDTH, abs=0.25)


def test_streaming_from_a_generator(make_face: FaceMaker, tmp_path: Path) -> None:
    face = make_face()
    calls: list[tuple[int, int]] = []

    def faces() -> Iterator[CardFace]:
        for i in range(5):
            yield replace(face, card_number=f"SPR-{i}")

    target = tmp_path / "batch.pdf"
    with target.open("wb") as out:
        count = render_batch_to(
            out, faces(), "card_printer", lambda d, t: calls.append((d, t)), total=5
        )
    assert count == 5
    assert len(_page_sizes(target.read_bytes())) == 10
    assert calls[-1] == (5, 5)


def test_generator_with_progress_needs_a_total(make_face: FaceMaker) -> None:
    with pytest.raises(ValueError, match="total"):
        render_batch_to(io.BytesIO(), iter([make_face()]), "card_printer", lambda d, t: None)


def test_empty_batch_and_unknown_layout_are_refused(make_face: FaceMaker) -> None:
    out = io.BytesIO()
    with pytest.raises(ValueError, match="at least one"):
        render_batch_to(out, [], "sheet_letter")
    assert out.getvalue() == b""
    with pytest.raises(ValueError, match="layout"):
        render_batch([make_face()], "poster")  # type: ignore[arg-type]
