"""Applicant photos: re-encoded so that only pixels are kept.

Re-encoding strips EXIF (which can carry GPS position, device serials and capture time), ICC and
XMP metadata, and anything smuggled after the image data. Limits keep a hostile upload from
exhausting memory: a small file can declare billions of pixels (a decompression bomb).
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_INPUT_PIXELS = 40_000_000  # a 7,000 x 5,700 camera image; anything larger is refused
MIN_SIDE = 200
OUTPUT_BOX = (600, 800)  # enough for a 300-dpi print of the card photo area
JPEG_QUALITY = 88


class PhotoError(ValueError):
    """A photo that cannot be accepted; the message tells the clerk what to do."""


def normalise_photo(data: bytes) -> bytes:
    """Return a clean JPEG (RGB, upright, at most 600x800, no metadata) or raise PhotoError."""
    if not data:
        raise PhotoError("No photo was received. Take the photo again or choose a file.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise PhotoError("The photo file is larger than 10 MB. Use a smaller photo.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in {"JPEG", "PNG", "WEBP"}:
                    raise PhotoError("Use a JPEG, PNG or WebP photo.")
                width, height = image.size
                if width * height > MAX_INPUT_PIXELS:
                    raise PhotoError(
                        "The photo declares more pixels than any camera produces "
                        f"({width} x {height}); it was refused as unsafe."
                    )
                if min(width, height) < MIN_SIDE:
                    raise PhotoError(
                        f"The photo is too small ({width} x {height}); at least "
                        f"{MIN_SIDE} pixels on each side are needed for a printed card."
                    )
                image.load()
                upright = ImageOps.exif_transpose(image)
                rgb = upright.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoError(
            "The photo was refused as unsafe (it would expand to an enormous "
            "image). Take the photo again."
        ) from None
    except UnidentifiedImageError:
        raise PhotoError("This file is not a photo idsys can read. Use a JPEG or PNG.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, PhotoError):
            raise
        raise PhotoError("The photo file is damaged or incomplete. Take it again.") from None
    rgb.thumbnail(OUTPUT_BOX, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # A fresh image with no info dict: nothing but pixels is written.
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    clean.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()
