"""Images for the loopback wire servers (tests/helpers/wire_servers.py): ConceptMix on loopback.

- ``POST /v1/images/generations``: the OpenAI Images API. Each image is a real PNG (RGB, 8 bits)
  of the size asked, drawn from ``sha256(prompt | index within n | model)``: a background and a
  few solid rectangles, so the same body always gets the same bytes. A prompt holding
  :data:`REFUSE_MARKER` is refused as the real safety system refuses (a 400, not a fault).
- Image inputs: ``image_url`` parts with ``data:`` URLs in OpenAI chat messages, ``image``
  blocks with base64 sources in Anthropic messages, checked as the real APIs check them (an
  allowed media type, matching the bytes, under the size limits).
- Verdicts: a vision request (one holding an image) is a yes/no question to a grader. A
  ``--verdicts`` file maps question texts to "Yes", "No" or P(Yes); the longest key found in
  the request's text decides, and no key (or no file) means "Yes" with P(Yes) = 0.9.

Standard library only, like wire_servers.py, which runs it under any Python 3.11.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

IMAGES_PATH: Final = "/v1/images/generations"
REFUSE_MARKER: Final = "REFUSE"  # a prompt holding it is refused by the "safety system"
MEDIA_TYPES: Final = ("image/png", "image/jpeg", "image/webp", "image/gif")

MAX_PROMPT_CHARS: Final = 32000
MAX_IMAGES_PER_REQUEST: Final = 10
MIN_SIDE: Final = 16
MAX_SIDE: Final = 4096
AUTO_SIZE: Final = (1024, 1024)
OUTPUT_TOKENS_PER_IMAGE: Final = 272

OPENAI_MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024  # decoded
ANTHROPIC_MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024  # decoded
ANTHROPIC_MAX_IMAGE_SIDE: Final = 8000  # pixels, either side

YES: Final = "Yes"
NO: Final = "No"
DEFAULT_P_YES: Final = 0.9  # no key of the verdicts matches (or no --verdicts file)
P_CLIP: Final = 1e-6

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_DATA_URL: Final = re.compile(r"data:([^;,]*);base64,(.*)", re.DOTALL)
_SIZE: Final = re.compile(r"([0-9]{1,5})x([0-9]{1,5})")
_SAFETY_MESSAGE: Final = "Your request was rejected by the safety system."


# --------------------------------------------------------------------------------------------
# PNG
# --------------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def draw_png(seed_text: str, width: int, height: int) -> bytes:
    """A real PNG (RGB, 8 bits a channel) of width x height pixels drawn from sha256(seed_text):
    a background colour and 3 to 5 solid rectangles. The same arguments give the same bytes."""
    if width < 1 or height < 1:
        raise ValueError(f"a PNG needs at least one pixel a side, not {width}x{height}")
    digest = hashlib.sha256(seed_text.encode("utf-8")).digest()
    background = digest[0:3]
    rectangles: list[tuple[int, int, int, int, bytes]] = []
    for k in range(3 + digest[3] % 3):
        d = hashlib.sha256(f"{seed_text}#{k}".encode()).digest()
        x0, x1 = sorted((d[3] * width // 256, d[4] * width // 256))
        y0, y1 = sorted((d[5] * height // 256, d[6] * height // 256))
        x1, y1 = min(width, max(x1, x0 + 1)), min(height, max(y1, y0 + 1))
        rectangles.append((x0, y0, x1, y1, d[0:3]))
    rows: list[bytes] = []
    previous: tuple[int, ...] | None = None
    row = b""
    for y in range(height):
        covering = tuple(k for k, rect in enumerate(rectangles) if rect[1] <= y < rect[3])
        if covering != previous:  # rows only change where a rectangle starts or ends
            line = bytearray(background * width)
            for k in covering:
                x0, _, x1, _, colour = rectangles[k]
                line[x0 * 3 : x1 * 3] = colour * (x1 - x0)
            row, previous = b"\x00" + bytes(line), covering  # filter type 0 (None)
        rows.append(row)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB, no interlace
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR; ValueError when the bytes do not start a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG (no signature and IHDR chunk)")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def sniff_media_type(data: bytes) -> str | None:
    """The media type the magic bytes say (one of :data:`MEDIA_TYPES`), or None."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        return width, int.from_bytes(data[27:30], "little") + 1
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF or WEBP from its header, or None when unreadable."""
    media_type = sniff_media_type(data)
    try:
        if media_type == "image/png":
            return png_size(data)
        if media_type == "image/gif" and len(data) >= 10:
            width, height = struct.unpack("<HH", data[6:10])
            return int(width), int(height)
        if media_type == "image/jpeg":
            return _jpeg_size(data)
        if media_type == "image/webp":
            return _webp_size(data)
    except (ValueError, struct.error):
        return None
    return None


def image_tokens(data: bytes) -> int:
    """What an input image adds to the prompt tokens: (width * height) // 750, 85 if unsized."""
    size = image_size(data)
    return 85 if size is None else (size[0] * size[1]) // 750


# --------------------------------------------------------------------------------------------
# The Images API
# --------------------------------------------------------------------------------------------


def _openai_error(message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_size(size: object) -> tuple[int, int] | None:
    """(width, height) for "auto" or "WxH" with both sides in [16, 4096]; None otherwise."""
    if size == "auto":
        return AUTO_SIZE
    match = _SIZE.fullmatch(size) if isinstance(size, str) else None
    if match is None:
        return None
    width, height = int(match[1]), int(match[2])
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        return None
    return width, height


def check_generation(body: dict[str, Any]) -> dict[str, Any] | None:
    """The OpenAI error payload (status 400) for an invalid images.generate body, else None."""
    model, prompt = body.get("model"), body.get("prompt")
    if not isinstance(model, str) or not model:
        return _openai_error(
            "Invalid 'model': expected a non-empty string.", "invalid_value", "model"
        )
    if prompt is None:
        return _openai_error(
            "Missing required parameter: 'prompt'.", "missing_required_parameter", "prompt"
        )
    if not isinstance(prompt, str) or not prompt:
        return _openai_error(
            "Invalid 'prompt': expected a non-empty string.", "invalid_value", "prompt"
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        return _openai_error(
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{MAX_PROMPT_CHARS}, but got a string with length {len(prompt)} instead.",
            "string_above_max_length",
            "prompt",
        )
    n = body.get("n")
    if n is not None and (not _is_int(n) or not 1 <= n <= MAX_IMAGES_PER_REQUEST):
        return _openai_error(
            f"Invalid 'n': expected an integer from 1 to {MAX_IMAGES_PER_REQUEST}, got {n!r}.",
            "invalid_value",
            "n",
        )
    size = body.get("size")
    if size is not None and parse_size(size) is None:
        return _openai_error(
            f"Invalid 'size': {size!r}. Expected 'auto' or 'WIDTHxHEIGHT' with each side from "
            f"{MIN_SIDE} to {MAX_SIDE} pixels.",
            "invalid_value",
            "size",
        )
    output_format = body.get("output_format")
    if output_format is not None and output_format != "png":
        return _openai_error(
            f"Invalid 'output_format': {output_format!r}. This fake server draws png only.",
            "invalid_value",
            "output_format",
        )
    if body.get("response_format") == "url":
        return _openai_error(
            "Invalid 'response_format': 'url'. This fake server returns b64_json only.",
            "invalid_value",
            "response_format",
        )
    return None


def refusal(body: dict[str, Any]) -> dict[str, Any] | None:
    """The safety system's 400 payload when the (valid) body's prompt holds REFUSE, else None."""
    if REFUSE_MARKER not in str(body.get("prompt", "")):
        return None
    dall_e = str(body.get("model", "")).startswith("dall-e")
    code = "content_policy_violation" if dall_e else "moderation_blocked"
    return {
        "error": {
            "message": _SAFETY_MESSAGE,
            "type": "image_generation_user_error",
            "param": None,
            "code": code,
        }
    }


def prompt_digest(prompt: str) -> str:
    """sha256 (hex) of a prompt: its key in the ``image_prompts`` counter of /stats."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def image_seed(prompt: str, index: int, model: str) -> str:
    """The seed text draw_png is given for image `index` (0-based within n) of a request."""
    return f"{prompt}|{index}|{model}"


def generation_reply(body: dict[str, Any]) -> dict[str, Any]:
    """The 200 payload for a valid, unrefused images.generate body (check_generation first)."""
    model, prompt = str(body["model"]), str(body["prompt"])
    n = body.get("n") or 1
    size = parse_size(body.get("size") or "auto")
    assert size is not None, "check_generation first"
    width, height = size
    revised = None if model.startswith("gpt-image") else f"{prompt}, as drawn"
    data = [
        {
            "b64_json": base64.b64encode(
                draw_png(image_seed(prompt, index, model), width, height)
            ).decode("ascii"),
            "revised_prompt": revised,
        }
        for index in range(n)
    ]
    quality = body.get("quality")
    input_tokens = len(prompt) // 4 + 1
    output_tokens = OUTPUT_TOKENS_PER_IMAGE * n
    return {
        "created": 0,
        "data": data,
        "output_format": "png",
        "size": f"{width}x{height}",
        "quality": quality if isinstance(quality, str) else "auto",
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": input_tokens},
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    }


# --------------------------------------------------------------------------------------------
# Image inputs
# --------------------------------------------------------------------------------------------


def _decode(data: str) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _parts(message: object) -> list[Any]:
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, list) else []


def check_openai_images(messages: list[Any]) -> dict[str, Any] | None:
    """The OpenAI error payload (status 400) for a bad ``image_url`` part, else None."""
    for i, message in enumerate(messages):
        for j, part in enumerate(_parts(message)):
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            param = f"messages[{i}].content[{j}].image_url"
            if message.get("role") != "user":
                return _openai_error(
                    f"Invalid 'messages[{i}]'. Image URLs are only allowed for messages with "
                    f"role 'user', but this message with role {message.get('role')!r} "
                    "contains an image URL.",
                    "invalid_value",
                    f"messages[{i}]",
                )
            image_url = part.get("image_url")
            url = image_url.get("url") if isinstance(image_url, dict) else None
            if not isinstance(url, str):
                return _openai_error(
                    f"Missing required parameter: '{param}.url'.",
                    "missing_required_parameter",
                    f"{param}.url",
                )
            detail = image_url.get("detail") if isinstance(image_url, dict) else None
            if detail is not None and detail not in ("auto", "low", "high"):
                return _openai_error(
                    f"Invalid value: {detail!r}. Supported values are: 'auto', 'low', 'high'.",
                    "invalid_value",
                    f"{param}.detail",
                )
            error = _check_data_url(url, param)
            if error is not None:
                return error
    return None


def _check_data_url(url: str, param: str) -> dict[str, Any] | None:
    match = _DATA_URL.fullmatch(url)
    if match is None:
        return _openai_error(
            f"Invalid '{param}.url': expected a base64-encoded data URL "
            "('data:image/png;base64,...'); this fake server fetches no other URL.",
            "invalid_image_url",
            f"{param}.url",
        )
    media_type = match[1].lower()
    if media_type not in MEDIA_TYPES:
        return _openai_error(
            f"Invalid '{param}.url': unsupported MIME type {match[1]!r}; expected one of "
            f"{', '.join(MEDIA_TYPES)}.",
            "invalid_image_format",
            f"{param}.url",
        )
    data = _decode(match[2])
    if data is None:
        return _openai_error(
            f"Invalid '{param}.url': the base64 data does not decode.",
            "invalid_image_url",
            f"{param}.url",
        )
    if len(data) > OPENAI_MAX_IMAGE_BYTES:
        return _openai_error(
            f"Invalid '{param}.url': the image is {len(data)} bytes, over the "
            f"{OPENAI_MAX_IMAGE_BYTES} bytes (20 MB) allowed.",
            "image_too_large",
            f"{param}.url",
        )
    if sniff_media_type(data) != media_type:
        return _openai_error(
            f"Invalid '{param}.url': the image data is not {media_type} (its bytes say "
            f"{sniff_media_type(data) or 'no known image format'}).",
            "invalid_image_format",
            f"{param}.url",
        )
    return None


def check_anthropic_images(messages: list[Any]) -> str | None:
    """The message of Anthropic's 400 ``invalid_request_error`` for a bad image block, else
    None."""
    for i, message in enumerate(messages):
        for j, block in enumerate(_parts(message)):
            if not isinstance(block, dict) or block.get("type") != "image":
                continue
            where = f"messages.{i}.content.{j}.image"
            if message.get("role") != "user":
                return f"{where}: image blocks are only allowed in user messages"
            source = block.get("source")
            if not isinstance(source, dict):
                return f"{where}.source: Field required"
            if source.get("type") != "base64":
                return (
                    f"{where}.source.type: this fake server takes base64 image sources only, "
                    f"not {source.get('type')!r}"
                )
            media_type = source.get("media_type")
            if media_type not in MEDIA_TYPES:
                allowed = ", ".join(f"'{m}'" for m in ("image/jpeg", "image/png", "image/gif"))
                return (
                    f"{where}.source.base64.media_type: Input should be {allowed} or 'image/webp'"
                )
            encoded = source.get("data")
            data = _decode(encoded) if isinstance(encoded, str) else None
            if data is None:
                return f"{where}.source.base64.data: The image data is not valid base64"
            if len(data) > ANTHROPIC_MAX_IMAGE_BYTES:
                return (
                    f"{where}.source.base64: image exceeds 5 MB maximum: {len(data)} bytes > "
                    f"{ANTHROPIC_MAX_IMAGE_BYTES} bytes"
                )
            if sniff_media_type(data) != media_type:
                return (
                    f"{where}.source.base64.data: Image does not match the provided media type "
                    f"{media_type}"
                )
            size = image_size(data)
            if size is not None and max(size) > ANTHROPIC_MAX_IMAGE_SIDE:
                return (
                    f"{where}.source.base64.data: At least one of the image dimensions exceed "
                    f"max allowed size: {ANTHROPIC_MAX_IMAGE_SIDE} pixels"
                )
    return None


def openai_images(messages: list[Any]) -> list[bytes]:
    """The decoded images of the ``image_url`` parts (of messages check_openai_images passed)."""
    found = []
    for message in messages:
        for part in _parts(message):
            if isinstance(part, dict) and part.get("type") == "image_url":
                match = _DATA_URL.fullmatch(str(part["image_url"]["url"]))
                data = _decode(match[2]) if match else None
                if data is not None:
                    found.append(data)
    return found


def anthropic_images(messages: list[Any]) -> list[bytes]:
    """The decoded images of the ``image`` blocks (of messages check_anthropic_images passed)."""
    found = []
    for message in messages:
        for block in _parts(message):
            if isinstance(block, dict) and block.get("type") == "image":
                data = _decode(str(block["source"]["data"]))
                if data is not None:
                    found.append(data)
    return found


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------


def load_verdicts(path: Path) -> dict[str, float]:
    """A --verdicts file, {question text: "Yes" | "No" | P(Yes) in [0, 1]}, as {text: P(Yes)}
    ("Yes" is 0.9, "No" 0.1). ValueError when the file is not such an object."""
    raw = json.loads(path.read_text("utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a verdicts file holds a JSON object")
    verdicts: dict[str, float] = {}
    for key, value in raw.items():
        if value == YES:
            verdicts[key] = DEFAULT_P_YES
        elif value == NO:
            verdicts[key] = 1 - DEFAULT_P_YES
        elif isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
            verdicts[key] = float(value)
        else:
            raise ValueError(f"{path}: {key!r} maps to {value!r}, not 'Yes', 'No' or a p in [0, 1]")
    return verdicts


def p_yes(text: str, verdicts: Mapping[str, float]) -> float:
    """P(Yes) for a vision request with this text: the longest key contained in it decides
    (ties to the first in sorted order); no key contained means 0.9."""
    matches = [key for key in verdicts if key and key in text]
    if not matches:
        return DEFAULT_P_YES
    return verdicts[min(matches, key=lambda key: (-len(key), key))]


def answer(p: float) -> str:
    """The reply to a yes/no question with this P(Yes): "Yes" iff p >= 0.5."""
    return YES if p >= 0.5 else NO


def openai_logprobs(reply: str, p: float, top_logprobs: object) -> dict[str, Any]:
    """``choices[0].logprobs`` of a one-token Yes/No reply given P(Yes) = p (clipped into
    [1e-6, 1 - 1e-6]); ``top_logprobs`` alternatives (2 when not a positive integer), most
    likely first."""
    p = min(max(p, P_CLIP), 1 - P_CLIP)
    logprob = {YES: math.log(p), NO: math.log(1 - p)}
    count = 2
    if isinstance(top_logprobs, int) and not isinstance(top_logprobs, bool) and top_logprobs > 0:
        count = top_logprobs
    ranked = sorted((YES, NO), key=lambda token: -logprob[token])
    top = [{"token": t, "logprob": logprob[t], "bytes": None} for t in ranked][:count]
    token = {"token": reply, "logprob": logprob.get(reply, 0.0), "bytes": None}
    return {"content": [{**token, "top_logprobs": top}], "refusal": None}
