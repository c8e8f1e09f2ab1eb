"""What the vLLM backend hands `llm.chat` for messages holding images (vllm_engine.py, no vLLM
needed): each image part becomes an OpenAI image_url part with its bytes as a data URL, in
place, with its true media type; text stays as it is."""

from __future__ import annotations

import base64
import io

from PIL import Image

from skillmix.models import ChatMessage
from skillmix.models.images import image_part
from skillmix.models.vllm_engine import engine_messages


def picture(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format=fmt)
    return buffer.getvalue()


def test_image_parts_become_data_urls_in_place() -> None:
    png, jpeg = picture("PNG"), picture("JPEG")
    messages: list[ChatMessage] = [
        {"role": "system", "content": "Answer Yes or No."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Is it red?"},
                image_part(png),
                image_part(jpeg),
            ],
        },
    ]
    system, user = engine_messages(messages)
    assert system == {"role": "system", "content": "Answer Yes or No."}
    text, first, second = user["content"]
    assert text == {"type": "text", "text": "Is it red?"}
    for part, data, media in ((first, png, "image/png"), (second, jpeg, "image/jpeg")):
        assert part["type"] == "image_url"
        head, _, body = part["image_url"]["url"].partition(",")
        assert head == f"data:{media};base64" and base64.b64decode(body) == data
