"""The images side of the loopback wire servers (tests/helpers/image_wire.py): the OpenAI Images
API, image inputs to both chat APIs and the vision verdicts, driven through the real openai and
anthropic SDKs (and raw HTTP where a body must be malformed)."""

from __future__ import annotations

import base64
import io
import json
import math
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from PIL import Image

from tests.helpers.image_wire import (
    draw_png,
    image_seed,
    image_size,
    png_size,
    prompt_digest,
    sniff_media_type,
)
from tests.helpers.wire_servers import ServerHandle, running_server

MODEL = "gpt-image-1-mini"
PROMPT = "a red cube to the left of a blue sphere"
SUFFIX = ' Respond "Yes" or "No".'
VERDICTS: dict[str, object] = {
    "Is there a cube?": "Yes",
    "Is the cube red?": "No",
    "red": 0.8,  # contained in "Is the cube red?" too, but shorter: the longer key wins there
    "Is the sphere blue?": 0.3,
    "Is the cube to the left of the sphere?": 0.7,
}


@pytest.fixture(autouse=True)
def _bypass_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx2 honours *_PROXY variables; loopback traffic must never go through a proxy.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server() as handle:
        yield handle


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """A server with a verdict script."""
    path = tmp_path_factory.mktemp("verdicts") / "verdicts.json"
    path.write_text(json.dumps(VERDICTS), "utf-8")
    with running_server(verdicts=path) as handle:
        yield handle


def openai_client(handle: ServerHandle, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=handle.base_url + "/v1", api_key="test-key", **kwargs)


def anthropic_client(handle: ServerHandle, **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=handle.base_url, api_key="test-key", **kwargs)


def post_raw(handle: ServerHandle, path: str, payload: object) -> tuple[int, dict[str, Any]]:
    """POST JSON with urllib (no SDK), returning the status and the decoded body."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        handle.base_url + path,
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def decoded(response: openai.types.ImagesResponse) -> list[bytes]:
    assert response.data is not None
    images = []
    for image in response.data:
        assert image.b64_json is not None
        images.append(base64.b64decode(image.b64_json))
    return images


def fake_png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming width x height, without any pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + crc


PNG = draw_png("a test picture", 60, 50)  # (60 * 50) // 750 = 4 image tokens


def data_url(data: bytes = PNG, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def vision_messages(question: str, url: str | None = None) -> Any:
    return [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": url or data_url(), "detail": "low"}},
                {"type": "text", "text": question + SUFFIX},
            ],
        }
    ]


def anthropic_vision(
    question: str, data: bytes = PNG, media_type: str = "image/png", source: Any = None
) -> Any:
    source = source or {
        "type": "base64",
        "media_type": media_type,
        "data": base64.b64encode(data).decode(),
    }
    return [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": source},
                {"type": "text", "text": question + SUFFIX},
            ],
        }
    ]


# --------------------------------------------------------------------------------------------
# PNGs
# --------------------------------------------------------------------------------------------


def test_draw_png_is_a_real_deterministic_png() -> None:
    data = draw_png("seed", 37, 21)
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes IDAT; PIL checks the chunk CRCs on the way
        assert image.format == "PNG"
        assert image.mode == "RGB"
        assert image.size == (37, 21)
        colours = {image.getpixel((x, y)) for x in range(37) for y in range(21)}
    assert 2 <= len(colours) <= 6  # a background and 3 to 5 rectangles
    assert draw_png("seed", 37, 21) == data
    assert draw_png("seed!", 37, 21) != data
    assert png_size(data) == (37, 21)
    assert sniff_media_type(data) == "image/png"
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(b"\xff\xd8\xff" + bytes(30))


def test_image_size_reads_each_format_header() -> None:
    images: dict[str, bytes] = {}
    for fmt in ("JPEG", "GIF", "WEBP"):
        buffer = io.BytesIO()
        Image.new("RGB", (23, 11), (200, 10, 10)).save(buffer, fmt)
        images[fmt] = buffer.getvalue()
    assert [sniff_media_type(images[f]) for f in ("JPEG", "GIF", "WEBP")] == [
        "image/jpeg",
        "image/gif",
        "image/webp",
    ]
    assert {f: image_size(data) for f, data in images.items()} == dict.fromkeys(images, (23, 11))
    assert image_size(b"not an image") is None


# --------------------------------------------------------------------------------------------
# The Images API
# --------------------------------------------------------------------------------------------


def test_images_generate_draws_pngs_of_the_asked_size(server: ServerHandle) -> None:
    with openai_client(server) as client:
        first = client.images.generate(
            model=MODEL, prompt=PROMPT, n=3, size="64x48", quality="low", output_format="png"
        )
        again = client.images.generate(
            model=MODEL, prompt=PROMPT, n=3, size="64x48", quality="low", output_format="png"
        )
        other_model = client.images.generate(model="dall-e-3", prompt=PROMPT, size="64x48")
        auto = client.images.generate(model=MODEL, prompt=PROMPT)

    images = decoded(first)
    assert len(images) == 3
    for index, data in enumerate(images):
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (64, 48))
        assert data == draw_png(image_seed(PROMPT, index, MODEL), 64, 48)
    assert len(set(images)) == 3  # distinct across n
    assert decoded(again) == images  # identical on repeat
    assert first.created == 0
    assert first.size == "64x48"
    assert first.output_format == "png"
    assert first.quality == "low"
    assert first.data is not None
    assert [image.revised_prompt for image in first.data] == [None] * 3  # gpt-image*
    assert first.usage is not None
    assert first.usage.input_tokens == len(PROMPT) // 4 + 1
    assert first.usage.input_tokens_details.text_tokens == first.usage.input_tokens
    assert first.usage.input_tokens_details.image_tokens == 0
    assert first.usage.output_tokens == 272 * 3
    assert first.usage.total_tokens == first.usage.input_tokens + 272 * 3

    assert other_model.data is not None
    assert other_model.data[0].revised_prompt == f"{PROMPT}, as drawn"
    assert decoded(other_model)[0] != images[0]  # the model is part of the seed
    assert auto.size == "1024x1024"
    assert png_size(decoded(auto)[0]) == (1024, 1024)
    assert auto.quality == "auto"  # type: ignore[comparison-overlap]  # what the server said


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"size": "8x8"}, "size"),
        ({"size": "4097x64"}, "size"),
        ({"size": "big"}, "size"),
        ({"n": 0}, "n"),
        ({"n": 11}, "n"),
        ({"n": True}, "n"),
        ({"output_format": "jpeg"}, "output_format"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"prompt": "x" * 32001}, "prompt"),
        ({"model": ""}, "model"),
        ({"response_format": "url"}, "response_format"),
    ],
)
def test_images_generate_validates_the_body(
    server: ServerHandle, change: dict[str, Any], param: str
) -> None:
    body = {"model": MODEL, "prompt": PROMPT, "n": 1, "size": "64x64", **change}
    body = {key: value for key, value in body.items() if value is not None}
    status, reply = post_raw(server, "/v1/images/generations", body)
    assert status == 400
    assert set(reply["error"]) == {"message", "type", "param", "code"}
    assert reply["error"]["type"] == "invalid_request_error"
    assert reply["error"]["param"] == param


def test_images_generate_accepts_the_size_bounds(server: ServerHandle) -> None:
    for size in ("16x16", "4096x16"):
        body = {"model": MODEL, "prompt": PROMPT, "size": size}
        status, reply = post_raw(server, "/v1/images/generations", body)
        assert status == 200, reply
        assert reply["size"] == size
        width, height = map(int, size.split("x"))
        assert png_size(base64.b64decode(reply["data"][0]["b64_json"])) == (width, height)


def test_images_generate_draws_png_only(server: ServerHandle) -> None:
    with openai_client(server) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model=MODEL, prompt=PROMPT, size="64x64", output_format="webp")
    assert "png only" in caught.value.message


def test_refused_prompts_get_the_safety_error_and_are_not_retried() -> None:
    with running_server() as handle:
        errors = []
        with openai_client(handle, max_retries=2) as client:
            for model in (MODEL, "dall-e-3"):
                with pytest.raises(openai.BadRequestError) as caught:
                    client.images.generate(model=model, prompt=f"{PROMPT} REFUSE", size="64x64")
                errors.append(caught.value)
        stats = handle.stats()

    assert [error.code for error in errors] == ["moderation_blocked", "content_policy_violation"]
    for error in errors:
        assert error.status_code == 400
        assert error.type == "image_generation_user_error"
        assert isinstance(error.body, dict)
        assert error.body["message"] == "Your request was rejected by the safety system."
        assert error.body["param"] is None
    assert stats["refusals"] == 2
    assert stats["requests"] == {"/v1/images/generations": 2}  # not retried
    assert stats["faults_total"] == 0
    assert stats["images_generated"] == 0
    assert stats["image_requests"] == 0
    assert stats["image_prompts"] == {}


def test_faults_reach_the_images_path_and_spare_refusals() -> None:
    with running_server(fault_rate=1.0, max_faults_in_a_row=2, fault_kinds=["rate_limit"]) as h:
        with openai_client(h, max_retries=2) as client:
            response = client.images.generate(model=MODEL, prompt=PROMPT, size="32x32")
            with pytest.raises(openai.BadRequestError):
                client.images.generate(model=MODEL, prompt="REFUSE this", size="32x32")
        stats = h.stats()

    assert png_size(decoded(response)[0]) == (32, 32)
    assert stats["faults"]["rate_limit"] == 2  # two 429s, then the forced success
    assert stats["requests"] == {"/v1/images/generations": 4}
    assert stats["statuses"] == {"429": 2, "200": 1, "400": 1}
    assert stats["image_requests"] == 1
    assert stats["refusals"] == 1


# --------------------------------------------------------------------------------------------
# Vision requests and verdicts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected", "p_yes"),
    [
        ("Is there a cube?", "Yes", 0.9),
        ("Is the cube red?", "No", 0.1),  # "red" (0.8) is contained too, but shorter
        ("Is the apple red?", "Yes", 0.8),  # only "red"
        ("Is the sphere blue?", "No", 0.3),
        ("Is the cube to the left of the sphere?", "Yes", 0.7),
        ("Is there a dog?", "Yes", 0.9),  # no key: Yes
    ],
)
def test_openai_vision_answers_from_the_verdicts(
    graded: ServerHandle, question: str, expected: str, p_yes: float
) -> None:
    with openai_client(graded) as client:
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=vision_messages(question),
            max_tokens=1,
            temperature=0,
            logprobs=True,
            top_logprobs=2,
        )
        plain = client.chat.completions.create(
            model="gpt-4o-mini", messages=vision_messages(question), max_tokens=1, temperature=0
        )

    choice = reply.choices[0]
    assert choice.message.content == expected
    assert choice.finish_reason == "stop"
    assert choice.logprobs is not None
    assert choice.logprobs.content is not None
    (token,) = choice.logprobs.content
    assert token.token == expected
    assert token.logprob == pytest.approx(math.log(p_yes if expected == "Yes" else 1 - p_yes))
    top = {alt.token: alt.logprob for alt in token.top_logprobs}
    assert top == pytest.approx({"Yes": math.log(p_yes), "No": math.log(1 - p_yes)})
    assert token.top_logprobs[0].token == expected  # the likelier first
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == len(question + SUFFIX) // 4 + (60 * 50) // 750
    assert reply.usage.completion_tokens == 1
    assert plain.choices[0].message.content == expected
    assert plain.choices[0].logprobs is None


def test_top_logprobs_one_and_text_only_requests(graded: ServerHandle) -> None:
    with openai_client(graded) as client:
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=vision_messages("Is the cube red?"),
            max_tokens=1,
            logprobs=True,
            top_logprobs=1,
        )
        text_only = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Is the cube red?" + SUFFIX}],
        )
    assert reply.choices[0].logprobs is not None
    assert reply.choices[0].logprobs.content is not None
    assert [alt.token for alt in reply.choices[0].logprobs.content[0].top_logprobs] == ["No"]
    # Without an image, a question gets the ordinary text reply, not a verdict.
    assert (text_only.choices[0].message.content or "").startswith("Answer: ")


def test_without_verdicts_every_vision_question_gets_yes(server: ServerHandle) -> None:
    with openai_client(server) as client, anthropic_client(server) as ant:
        from_openai = client.chat.completions.create(
            model="gpt-4o-mini", messages=vision_messages("Is the cube red?"), max_tokens=1
        )
        from_anthropic = ant.messages.create(
            model="claude-test", max_tokens=1, messages=anthropic_vision("Is the cube red?")
        )
    assert from_openai.choices[0].message.content == "Yes"
    block = from_anthropic.content[0]
    assert isinstance(block, anthropic.types.TextBlock)
    assert block.text == "Yes"


def test_a_bad_verdicts_file_stops_the_server_from_starting(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.json"
    path.write_text(json.dumps({"Is there a cube?": 1.5}), "utf-8")
    with pytest.raises(RuntimeError, match="did not start"), running_server(verdicts=path):
        pass


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        (vision_messages("Q?", data_url(PNG, "image/jpeg")), "not image/jpeg"),
        (vision_messages("Q?", data_url(PNG, "image/bmp")), "unsupported MIME type"),
        (vision_messages("Q?", "data:image/png;base64,@@@not base64@@@"), "does not decode"),
        (vision_messages("Q?", "https://example.com/cube.png"), "data URL"),
        (vision_messages("Q?", data_url(b"GIF89a" + bytes(20), "image/png")), "image/gif"),
        (
            [{"role": "system", "content": vision_messages("Q?")[0]["content"]}],
            "only allowed for messages with role 'user'",
        ),
    ],
    ids=["png-as-jpeg", "bmp", "bad-base64", "http-url", "gif-as-png", "system-image"],
)
def test_openai_refuses_bad_image_parts(server: ServerHandle, messages: Any, words: str) -> None:
    with openai_client(server) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=1)
    assert caught.value.type == "invalid_request_error"
    assert words in caught.value.message


def test_openai_accepts_each_allowed_format_and_refuses_over_20_mb(server: ServerHandle) -> None:
    with openai_client(server) as client:
        for fmt, media_type in (
            ("JPEG", "image/jpeg"),
            ("GIF", "image/gif"),
            ("WEBP", "image/webp"),
        ):
            buffer = io.BytesIO()
            Image.new("RGB", (75, 10), (0, 0, 255)).save(buffer, fmt)
            reply = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=vision_messages("Q?", data_url(buffer.getvalue(), media_type)),
                max_tokens=1,
            )
            assert reply.choices[0].message.content == "Yes"
            assert reply.usage is not None
            assert reply.usage.prompt_tokens == len("Q?" + SUFFIX) // 4 + 1  # 750 px: 1 token
        huge = b"\x89PNG\r\n\x1a\n" + bytes(20 * 1024 * 1024 - 7)
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=vision_messages("Q?", data_url(huge)), max_tokens=1
            )
    assert "20 MB" in caught.value.message


def test_anthropic_image_media_type_must_match_the_bytes(graded: ServerHandle) -> None:
    with anthropic_client(graded) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(
                model="claude-test",
                max_tokens=1,
                messages=anthropic_vision("Is the cube red?", media_type="image/jpeg"),
            )
        reply = client.messages.create(
            model="claude-test", max_tokens=1, messages=anthropic_vision("Is the cube red?")
        )
        other = client.messages.create(
            model="claude-test", max_tokens=5, messages=anthropic_vision("Is there a cube?")
        )

    assert caught.value.type == "invalid_request_error"
    assert caught.value.api_message is not None
    assert "Image does not match the provided media type image/jpeg" in caught.value.api_message
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "error"
    block = reply.content[0]
    assert isinstance(block, anthropic.types.TextBlock)
    assert block.text == "No"  # the longest key, "Is the cube red?", over "red"
    assert reply.stop_reason == "end_turn"
    assert reply.usage.input_tokens == len("Is the cube red?" + SUFFIX) // 4 + (60 * 50) // 750
    assert reply.usage.output_tokens == 1
    other_block = other.content[0]
    assert isinstance(other_block, anthropic.types.TextBlock)
    assert other_block.text == "Yes"


@pytest.mark.parametrize(
    ("data", "media_type", "source", "words"),
    [
        (fake_png_header(8001, 10), "image/png", None, "exceed max allowed size: 8000 pixels"),
        (fake_png_header(10, 9000), "image/png", None, "exceed max allowed size: 8000 pixels"),
        (b"\x89PNG\r\n\x1a\n" + bytes(5 * 1024 * 1024), "image/png", None, "exceeds 5 MB"),
        (PNG, "image/bmp", None, "media_type: Input should be"),
        (PNG, "image/png", {"type": "url", "url": "https://example.com/a.png"}, "base64"),
        (
            PNG,
            "image/png",
            {"type": "base64", "media_type": "image/png", "data": "%%%"},
            "not valid base64",
        ),
    ],
    ids=["too-wide", "too-tall", "over-5-mb", "bmp", "url-source", "bad-base64"],
)
def test_anthropic_refuses_bad_images(
    server: ServerHandle, data: bytes, media_type: str, source: Any, words: str
) -> None:
    with anthropic_client(server) as client, pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="claude-test",
            max_tokens=1,
            messages=anthropic_vision("Q?", data, media_type, source),
        )
    assert caught.value.type == "invalid_request_error"
    assert caught.value.api_message is not None
    assert words in caught.value.api_message


def test_anthropic_accepts_a_png_header_of_8000_pixels(server: ServerHandle) -> None:
    with anthropic_client(server) as client:
        reply = client.messages.create(
            model="claude-test",
            max_tokens=1,
            messages=anthropic_vision("Q?", fake_png_header(8000, 75)),
        )
    assert reply.usage.input_tokens == len("Q?" + SUFFIX) // 4 + 800  # 8000 * 75 // 750


# --------------------------------------------------------------------------------------------
# Stats
# --------------------------------------------------------------------------------------------


def test_stats_count_images_refusals_and_vision_requests() -> None:
    with running_server() as handle:
        before = handle.stats()
        with openai_client(handle) as client, anthropic_client(handle) as ant:
            for _ in range(2):
                client.images.generate(model=MODEL, prompt=PROMPT, n=2, size="16x16")
            client.images.generate(model=MODEL, prompt="a green cone", size="16x16")
            with pytest.raises(openai.BadRequestError):
                client.images.generate(model=MODEL, prompt="REFUSE", size="16x16")
            client.chat.completions.create(
                model="gpt-4o-mini", messages=vision_messages("Q?"), max_tokens=1
            )
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "no image"}]
            )
            for question in ("A?", "B?"):
                ant.messages.create(
                    model="claude-test", max_tokens=1, messages=anthropic_vision(question)
                )
        stats = handle.stats()

    assert before["images_generated"] == 0
    assert before["vision_requests"] == {"openai": 0, "anthropic": 0}
    assert stats["images_generated"] == 5
    assert stats["image_requests"] == 3
    assert stats["refusals"] == 1
    assert stats["client_errors"] == 1
    assert stats["vision_requests"] == {"openai": 1, "anthropic": 2}
    assert stats["image_prompts"] == {prompt_digest(PROMPT): 2, prompt_digest("a green cone"): 1}
    assert stats["requests"]["/v1/images/generations"] == 4
    assert stats["completed"] == 7  # 3 image requests, 2 OpenAI chats, 2 Anthropic
