"""Card production speed: cards per second for a batch PDF, and QR versions by name length.

Run from the repository root:

    .venv/bin/python bench/bench_cards.py            # 500 cards, card_printer and sheet_letter
    .venv/bin/python bench/bench_cards.py --cards 100

Each card has its own photo (600 x 800 JPEG, camera-like noise) and its own signed QR, made
before the clock starts: the figure is the PDF rendering alone (layout, photo crop and resample,
QR, font subsetting, writing the file). The QR table shows the version (`qr_version_for`) of a
real signed payload for names of 10, 25 and 40 characters; a card's QR must stay at version 10
or below for a 40-character name, so its modules stay large at card size.
"""

from __future__ import annotations

import argparse
import io
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

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

NAMES = [
    "Nguyễn Thị Minh Khai",
    "José Ñúñez García",
    "Анна Кузнецова",
    "Ελένη Παπαδοπούλου",
    "王秀英",
    "María Guadalupe Fernández de la Concepción Rodríguez-Santos",
]

_HANZI = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
)
NAME_LENGTHS = {
    "latin": {
        10: "Ana Flores",
        25: "Maria Fernanda Oliveira S",
        40: "Aleksandra Konstantinopolska-Wisniewska.",
    },
    "vietnamese": {
        10: "Lê Thị Hoa",
        25: "Nguyễn Thị Minh Khai Trần",
        40: "Nguyễn Thị Minh Khai Trần Văn Bảo Lê Hoa",
    },
    # Distinct characters, so that compression does not flatter the figure.
    "chinese": {n: _HANZI[:n] for n in (10, 25, 40)},
}

# The issuer URL and key id travel in every QR, so their length moves the QR version: the one the
# tests use, and a longer city URL.
ISSUERS = ("https://id.example.org", "https://id.springfield.example")
KID = "s7kq2m9"  # the shape of the key ring's signing key ids: "s" and six base-32 characters


def _photos(count: int, seed: int) -> list[bytes]:
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    noise = Image.effect_noise((600, 800), 40).convert("RGB")
    photos = []
    for i in range(count):
        base = Image.new("RGB", (600, 800), (rng.randrange(150, 230), 200, 220))
        draw = ImageDraw.Draw(base)
        draw.ellipse((180, 120 + i % 40, 420, 440), fill=(225, 185, 150))
        draw.rectangle((110, 480, 490, 800), fill=(rng.randrange(20, 90), 60, 120))
        image = Image.blend(base, noise, 0.15)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


def _sign(names: list[str], numbers: list[str], issuer: str = ISSUERS[0]) -> list[str]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from idsys.crypto.claim169 import CardClaims, encode

    key = Ed25519PrivateKey.generate()
    return [
        encode(
            CardClaims(number, name, date(1990, 1, 2), "F"),
            issuer=issuer,
            issued_at=datetime(2025, 3, 1, tzinfo=UTC),
            expires_at=datetime(2030, 3, 1, tzinfo=UTC),
            private_key=key,
            kid=KID,
        )
        for name, number in zip(names, numbers, strict=True)
    ]


def _faces(count: int) -> list[Any]:
    from idsys.cards.pdf import CardFace

    photos = _photos(count, seed=1)
    names = [NAMES[i % len(NAMES)] for i in range(count)]
    numbers = [f"SPR-{i:04d}-{i * 7919 % 10000:04d}-{i % 10}" for i in range(count)]
    texts = _sign(names, numbers)
    template = CardFace(
        card_number="x",
        full_name="x",
        date_of_birth=date(1990, 1, 2),
        issue_date=date(2025, 3, 1),
        expiry_date=date(2030, 3, 1),
        photo_jpeg=photos[0],
        qr_text="x",
        city_name="City of Springfield",
        labels=LABELS,
        gender="F",
        veteran=False,
        emergency_contact="Trần Văn Bảo +1 555 0100",
        address_lines=("1234 Evergreen Terrace, Apt 5C", "Springfield, IL 62704"),
    )
    return [
        replace(
            template,
            card_number=numbers[i],
            full_name=names[i],
            photo_jpeg=photos[i],
            qr_text=texts[i],
            veteran=i % 9 == 0,
            gender=None if i % 5 == 0 else "F",
            address_lines=() if i % 7 == 0 else template.address_lines,
        )
        for i in range(count)
    ]


def _bench_batch(faces: list[Any], layout: str) -> tuple[float, int]:
    from idsys.cards.pdf import render_batch_to

    def stream() -> Iterator[Any]:
        yield from faces

    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        render_batch_to(out, stream(), layout, total=len(faces))  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
        size = out.tell()
    return elapsed, size


def _qr_table() -> list[tuple[str, int, list[tuple[int, int, int]]]]:
    """Per script and name length: (QR text length, version, printed dots per module) by issuer."""
    from idsys.cards.pdf import qr_module_size
    from idsys.crypto.claim169 import qr_version_for

    rows = []
    for script, by_length in NAME_LENGTHS.items():
        for length, name in by_length.items():
            assert len(name) == length, (script, length, len(name))
            cells = []
            for issuer in ISSUERS:
                from idsys.cards.numbers import new_card_number

                (text,) = _sign([name], [new_card_number()], issuer)
                version = qr_version_for(text)
                dots = round(qr_module_size(17 + 4 * version) * 300 / 72)
                cells.append((len(text), version, dots))
            rows.append((script, length, cells))
    return rows


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=500)
    parser.add_argument("--layouts", nargs="+", default=["card_printer", "sheet_letter"])
    args = parser.parse_args()

    from idsys.cards.fonts import register_fonts

    start = time.perf_counter()
    register_fonts()
    print(f"fonts loaded in {time.perf_counter() - start:.2f} s (once per process)")
    faces = _faces(args.cards)
    print(f"\n{args.cards}-card batch PDF")
    print(f"{'layout':<14} {'seconds':>8} {'cards/s':>8} {'PDF MB':>7} {'kB/card':>8}")
    for layout in args.layouts:
        elapsed, size = _bench_batch(faces, layout)
        print(
            f"{layout:<14} {elapsed:>8.2f} {args.cards / elapsed:>8.1f} "
            f"{size / 1e6:>7.1f} {size / 1e3 / args.cards:>8.1f}"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mb:.0f} MB (includes the {args.cards} test photos)")

    print(
        f"\nQR version (level M) of a signed card payload by name length (kid {KID!r}, "
        "12-digit card number)"
    )
    print("cells: QR text length / version / 300 dpi dots per module on the card")
    print(f"{'script':<11} {'chars':>5}  " + "  ".join(f"{issuer:<30}" for issuer in ISSUERS))
    over = []
    for script, length, cells in _qr_table():
        text = "  ".join(f"{n:>4} / v{v:<2} / {d} dots{'':<13}" for n, v, d in cells)
        print(f"{script:<11} {length:>5}  {text}")
        over += [(script, length, v) for _, v, _ in cells if length == 40 and v > 10]
    for script, length, version in over:
        print(f"NOTE: {script} {length}-character name needs QR version {version} (> 10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
