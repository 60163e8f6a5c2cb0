"""Photos are re-encoded: metadata stripped, limits enforced, bombs refused with a message."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from idsys.applications.photos import PhotoError, normalise_photo
from tests.conftest import photo_bytes


def test_metadata_is_stripped_and_size_bounded() -> None:
    original = photo_bytes((1200, 1600))
    assert b"CameraMakerZork" in original
    clean = normalise_photo(original)
    assert b"CameraMakerZork" not in clean and b"Exif" not in clean
    with Image.open(io.BytesIO(clean)) as image:
        assert image.format == "JPEG" and image.size == (600, 800)
        assert not image.getexif()


def test_png_is_accepted_and_becomes_jpeg() -> None:
    with Image.open(io.BytesIO(normalise_photo(photo_bytes(fmt="PNG", exif=False)))) as image:
        assert image.format == "JPEG"


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "No photo was received"),
        (b"GIF89a not really", "not a photo idsys can read"),
        (b"x" * (10 * 1024 * 1024 + 1), "larger than 10 MB"),
        (_png_header_only(50_000, 50_000), "refused as unsafe"),
        (_png_header_only(9_000, 9_000), "more pixels than any camera"),
        (photo_bytes((120, 160)), "too small"),
        (photo_bytes()[:400], "damaged or incomplete"),
    ],
    ids=["empty", "not-image", "too-large", "bomb", "huge-dimensions", "tiny", "truncated"],
)
def test_bad_photos_get_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(PhotoError, match=message):
        normalise_photo(data)


def test_gif_is_refused() -> None:
    out = io.BytesIO()
    Image.new("RGB", (300, 300)).save(out, format="GIF")
    with pytest.raises(PhotoError, match="JPEG, PNG or WebP"):
        normalise_photo(out.getvalue())
