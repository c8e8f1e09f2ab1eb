"""Image bytes as backends see them: the true media type from the magic bytes, the size,
and the message part that carries an image to a vision-language model."""

from __future__ import annotations

import base64
import hashlib
import io

from PIL import Image, UnidentifiedImageError

from skillmix.errors import BackendError
from skillmix.records import ImagePart

MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def media_type_of(data: bytes) -> str | None:
    """The media type the bytes really are (PNG, JPEG, GIF, WebP), or None."""
    for magic, media_type in MAGIC:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height), read from the header; unreadable bytes are a failed call."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise BackendError(f"not a readable image ({exc})") from None


def image_part(data: bytes) -> ImagePart:
    """An image for a message, labelled with its true media type."""
    media_type = media_type_of(data)
    if media_type is None:
        raise BackendError("not a PNG, JPEG, GIF or WebP image")
    return {
        "type": "image",
        "media_type": media_type,
        "sha256": hashlib.sha256(data).hexdigest(),
        "data": base64.b64encode(data).decode("ascii"),
    }


def parse_size(size: str) -> tuple[int, int] | None:
    """'1024x1536' -> (1024, 1536); None for 'auto' (the provider chooses)."""
    if size == "auto":
        return None
    width, _, height = size.partition("x")
    return int(width), int(height)
