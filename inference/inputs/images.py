"""Image inputs: a base64 data URI (as Backprop took them) or raw base64.

Checked before anything is queued: the byte size before decoding, a real
image format, and the pixel count read from the header alone, so a
decompression bomb is refused without being decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import re

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from .errors import InputError

ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp",
                   "BMP": "image/bmp"}
_DATA_URI = re.compile(r"^data:(?P<mime>[\w/+.-]+)?(;[\w=.-]+)*;base64,(?P<data>.*)$", re.S)


def image_limits() -> tuple[int, int]:
    return settings.MAX_IMAGE_BYTES, settings.MAX_IMAGE_PIXELS


def clean_image(value: object, label: str = "image") -> str:
    """Validate an image given as a data URI or base64; returns a normalised data URI."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(label, "must be an image: a base64 data URI (data:image/png;base64,...) or a file upload")
    match = _DATA_URI.match(value.strip())
    payload = match.group("data") if match else value.strip()
    max_bytes, max_pixels = image_limits()
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise InputError(label, f"at most {max_bytes // 1_000_000} MB (got about {len(payload) * 3 // 4 / 1e6:.1f} MB)")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(label, "is not valid base64") from exc
    return image_bytes_to_data_uri(raw, label)


def image_bytes_to_data_uri(raw: bytes, label: str = "image") -> str:
    """Check raw image bytes (format, size, pixels) and return them as a data URI."""
    max_bytes, max_pixels = image_limits()
    if len(raw) > max_bytes:
        raise InputError(label, f"at most {max_bytes // 1_000_000} MB (got {len(raw) / 1e6:.1f} MB)")
    try:
        with Image.open(io.BytesIO(raw)) as img:  # reads the header only
            fmt = img.format
            width, height = img.size
    except Image.DecompressionBombError as exc:  # Pillow's own, far higher limit, from the header alone
        raise InputError(label, f"at most {max_pixels:,} pixels (this image declares far more)") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(label, "is not an image in a supported format (JPEG, PNG, GIF, WebP, BMP)") from exc
    if fmt not in ALLOWED_FORMATS:
        raise InputError(label, f"format {fmt} is not supported (JPEG, PNG, GIF, WebP, BMP)")
    if width * height > max_pixels:
        raise InputError(label, f"at most {max_pixels:,} pixels (got {width}x{height})")
    if width < 1 or height < 1:
        raise InputError(label, "has no pixels")
    return f"data:{ALLOWED_FORMATS[fmt]};base64,{base64.b64encode(raw).decode()}"


def decode_image(data_uri: str) -> Image.Image:
    """A cleaned data URI as an RGB ``PIL.Image`` (worker side)."""
    payload = data_uri.split(",", 1)[1] if data_uri.startswith("data:") else data_uri
    with Image.open(io.BytesIO(base64.b64decode(payload))) as img:
        img.draft("RGB", (1024, 1024))  # JPEG: decode at a reduced scale when it is large
        return img.convert("RGB")
