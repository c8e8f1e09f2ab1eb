#!/usr/bin/env python3
"""Fake-but-real OpenAI and Anthropic HTTP servers on loopback, for tests and benchmarks.

One process serves both wire formats on one port of 127.0.0.1 (never any other address):

- ``POST /v1/chat/completions``: the OpenAI Chat Completions API (``chat.completion`` objects).
- ``POST /v1/messages``: the Anthropic Messages API (``message`` objects).
- ``POST /v1/images/generations``: the OpenAI Images API (real PNGs; tests/helpers/image_wire.py
  draws them and checks the images sent to the two chat APIs).
- ``GET /v1/models``: an OpenAI-style model list, handy for readiness polling.
- ``GET /stats``: JSON counters (requests per path, faults per kind, completed, ...).

Replies depend only on the request body: its canonical JSON (``json.dumps(body,
sort_keys=True)``) is hashed with sha256 and the digest seeds the words of the reply, so the
same request always gets the same answer, whatever its headers, its connection or the order
of arrival.

With ``--fault-rate R`` each API request may instead get a fault: a 429 with ``Retry-After``,
a 500, a 503 (OpenAI) or 529 (Anthropic), a slow reply, a connection reset without a reply, or
a 200 whose JSON body is cut in half. Whether request number ``n`` of a given body faults, and
how, depends only on ``(seed, body digest, n)``; after ``--max-faults-in-a-row`` faults for one
body the next attempt at that body always succeeds, so a client that retries gets through.

``--record FILE`` appends every valid API request body to FILE as a JSON line (what a client
really sent); ``--replies FILE`` names a JSON object mapping ``messages_digest(messages)`` to
the reply text an OpenAI request with those messages gets (a recorded conversation replayed).
``--verdicts FILE`` names a JSON object mapping question texts to "Yes", "No" or P(Yes): what a
request holding an image (a vision grader's yes/no question) is answered; see image_wire.py.
The model ``concept-writer`` answers skillmix's ConceptMix writing prompts; see
concept_writer.py.

Run it as a script (it prints ``READY <port>`` once listening)::

    python tests/helpers/wire_servers.py --port 0 --latency-ms 100 --fault-rate 0.3 --seed 1

or drive it from Python with :func:`start_server` / :func:`running_server`. The module uses the
standard library only, so it can run under any interpreter that has Python 3.11.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import http
import json
import os
import queue
import random
import socket
import struct
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

try:
    from tests.helpers import concept_writer, image_wire
    from tests.helpers.anthropic_batch_wire import AnthropicRoutes
    from tests.helpers.batch_wire import BatchApi
except ModuleNotFoundError:  # run as a script: this file's folder is sys.path[0]
    import concept_writer  # type: ignore[import-not-found,no-redef]
    import image_wire  # type: ignore[import-not-found,no-redef]
    from anthropic_batch_wire import AnthropicRoutes  # type: ignore[import-not-found,no-redef]
    from batch_wire import BatchApi  # type: ignore[import-not-found,no-redef]

HOST: Final = "127.0.0.1"
OPENAI_PATH: Final = "/v1/chat/completions"
ANTHROPIC_PATH: Final = "/v1/messages"
MODELS_PATH: Final = "/v1/models"
STATS_PATH: Final = "/stats"
IMAGES_PATH: Final = image_wire.IMAGES_PATH
API_PATHS: Final = (OPENAI_PATH, ANTHROPIC_PATH, IMAGES_PATH)

FaultKind = Literal["rate_limit", "server_error", "overloaded", "slow", "reset", "truncated"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = (
    "rate_limit",  # 429 + Retry-After: 0.05 (retry-after-ms: 50)
    "server_error",  # 500
    "overloaded",  # 503 for OpenAI, 529 for Anthropic
    "slow",  # the normal reply, after --slow-seconds
    "reset",  # the connection is closed abruptly (RST), no reply at all
    "truncated",  # a 200 whose JSON body is cut in half, Content-Length matching the cut
)

# Models that always get a non-retryable error (never counted as faults).
MISSING_MODEL: Final = "no-such-model"
BAD_REQUEST_MODEL: Final = "bad-request"

RETRY_AFTER_SECONDS: Final = 0.05
MAX_HEADER_BYTES: Final = 64 * 1024
MAX_BODY_BYTES: Final = 32 * 1024 * 1024
READY_TIMEOUT_SECONDS: Final = 15.0

OPENAI_ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

WORDS: Final = (
    "the", "a", "quiet", "bright", "river", "model", "answer", "skill", "topic", "mix",
    "clever", "old", "new", "story", "garden", "logic", "humor", "metaphor", "careful",
    "reader", "writer", "simple", "small", "green", "idea", "reason", "blue", "steady",
    "light", "stone", "window", "friendly", "letter", "music", "morning", "sharp", "warm",
)  # fmt: skip

_REASONS: Final = {529: "Overloaded"}


# --------------------------------------------------------------------------------------------
# Deterministic helpers
# --------------------------------------------------------------------------------------------


def canonical_json(body: object) -> str:
    """The canonical text of a request body: what its digest is computed over."""
    return json.dumps(body, sort_keys=True)


def body_digest(body: object) -> str:
    """sha256 (hex) of the canonical JSON of a request body, less its service tier (which
    decides the price, not the reply)."""
    if isinstance(body, dict) and "service_tier" in body:
        body = {key: value for key, value in body.items() if key != "service_tier"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def _rng(*parts: object) -> random.Random:
    material = ":".join(str(part) for part in parts).encode("utf-8")
    return random.Random(int.from_bytes(hashlib.sha256(material).digest()[:8], "big"))


def _sentence(rng: random.Random, low: int = 4, high: int = 8) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    return " ".join(words).capitalize() + "."


def _text_reply(rng: random.Random) -> str:
    answer = " ".join(_sentence(rng) for _ in range(rng.randint(1, 2)))
    return f"Answer: {answer}\nExplanation: {_sentence(rng, 5, 10)}"


def _schema_value(spec: object, rng: random.Random, pass_rate: float | None = None) -> Any:
    """0 or 1 for a schema property (True/False for booleans, a pick for an enum); 1 with
    probability `pass_rate` when one is set (a lenient or strict grader)."""
    bit = rng.randint(0, 1) if pass_rate is None else int(rng.random() < pass_rate)
    if isinstance(spec, dict):
        enum = spec.get("enum")
        if isinstance(enum, list) and enum and pass_rate is not None:
            return enum[-1] if bit else enum[0]  # e.g. [0, 1]
        if isinstance(enum, list) and enum:
            return enum[rng.randrange(len(enum))]
        if spec.get("type") == "boolean":
            return bool(bit)
    return bit


def _schema_object(
    schema: object, rng: random.Random, pass_rate: float | None = None
) -> dict[str, Any]:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    return {str(key): _schema_value(spec, rng, pass_rate) for key, spec in properties.items()}


def _text_of(content: object) -> str:
    """All the text in a message content: a string, or a list of blocks / parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text_of(item) for item in content)
    if isinstance(content, dict):
        text = content.get("text")
        if isinstance(text, str):
            return text
        return _text_of(content.get("content"))
    return ""


def _tokens(chars: int) -> int:
    return max(1, chars // 4)


def _limit(body: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _cut(text: str, limit: int | None) -> tuple[str, bool]:
    """Respect a max-tokens limit loosely: about 4 characters a token."""
    if limit is None or len(text) <= limit * 4:
        return text, False
    return text[: max(1, limit * 4)], True


def fault_for(
    *, seed: int, digest: str, n: int, fault_rate: float, kinds: Sequence[FaultKind] = FAULT_KINDS
) -> FaultKind | None:
    """The fault (or None) drawn for attempt ``n`` (0-based) at the body with this digest.

    This is the draw alone; the server also forces a success after ``max_faults_in_a_row``
    faults in a row for one body.
    """
    if fault_rate <= 0 or not kinds:
        return None
    rng = _rng("fault", seed, digest, n)
    if rng.random() >= fault_rate:
        return None
    return kinds[rng.randrange(len(kinds))]


# --------------------------------------------------------------------------------------------
# Configuration, statistics, replies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    seed: int = 0
    max_faults_in_a_row: int = 3
    slow_seconds: float = 3.0
    fault_kinds: tuple[FaultKind, ...] = FAULT_KINDS
    record: Path | None = None  # every valid API request body appended here as a JSON line
    replies: Path | None = None  # JSON {messages_digest(messages): reply text} to answer with
    pass_rate: float | None = None  # each point of a schema reply is 1 with this probability
    verdicts: Path | None = None  # JSON {question text: "Yes" | "No" | P(Yes)} for vision requests
    drop_creates: int = 0  # batches: the first N creates are made, then the connection reset
    expire_batches: int = 0  # batches: the first N expire with half their lines finished
    batch_api: bool = True  # False: no /v1/files nor /v1/batches (a vLLM or llama.cpp server)
    batch_latency_s: float = 0.0  # > 0: a batch completes this long after its create
    refuse_batches: int = 0  # batches: the first N fail validation (token_limit_exceeded)
    straggle_polls: int = 0  # batches: all but one line done for N polls, then completed
    list_lag: int = 0  # batches: a new batch is missing from the first N lists (lagging)


def messages_digest(messages: object) -> str:
    """The key of a conversation in a --replies file (the messages alone, not the params)."""
    return hashlib.sha256(canonical_json(messages).encode()).hexdigest()


@dataclass
class Stats:
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(FAULT_KINDS, 0)))
    completed: int = 0
    client_errors: int = 0
    connections: int = 0
    open_connections: int = 0
    client_gone: int = 0
    last_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    # Images: each counted when its 200 is made (a "slow" or "truncated" fault included).
    images_generated: int = 0  # images drawn and returned
    image_requests: int = 0  # images.generate requests answered with images
    refusals: int = 0  # prompts the "safety system" refused (400s, also client errors)
    vision_requests: Counter[str] = field(
        default_factory=lambda: Counter({"openai": 0, "anthropic": 0})
    )  # chat requests holding an image, answered, per API
    image_prompts: Counter[str] = field(default_factory=Counter)  # prompt_digest: requests
    flex_requests: int = 0  # chat requests answered on OpenAI's flex tier

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "requests_total": sum(self.requests.values()),
            "faults": dict(self.faults),
            "faults_total": sum(self.faults.values()),
            "completed": self.completed,
            "client_errors": self.client_errors,
            "statuses": dict(self.statuses),
            "connections": self.connections,
            "open_connections": self.open_connections,
            "client_gone": self.client_gone,
            "last_headers": self.last_headers,
            "images_generated": self.images_generated,
            "image_requests": self.image_requests,
            "refusals": self.refusals,
            "vision_requests": dict(self.vision_requests),
            "image_prompts": dict(self.image_prompts),
            "flex_requests": self.flex_requests,
        }


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes
    query: str = ""  # after the "?" of the target

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


@dataclass
class Reply:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    reset: bool = False  # close the connection abruptly instead of replying


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json_bytes(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def _openai_error(
    status: int,
    message: str,
    kind: str,
    code: str | None,
    headers: list[tuple[str, str]] | None = None,
) -> Reply:
    payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return Reply(status, _json_bytes(payload), headers or [])


def _anthropic_error(
    status: int, kind: str, message: str, headers: list[tuple[str, str]] | None = None
) -> Reply:
    payload = {"type": "error", "error": {"type": kind, "message": message}}
    return Reply(status, _json_bytes(payload), headers or [])


def _error_for_path(path: str, status: int, message: str) -> Reply:
    if path.startswith(ANTHROPIC_PATH):
        kind = {404: "not_found_error", 413: "request_too_large"}.get(
            status, "invalid_request_error"
        )
        return _anthropic_error(status, kind, message)
    return _openai_error(status, message, "invalid_request_error", None)


# --------------------------------------------------------------------------------------------
# The two APIs
# --------------------------------------------------------------------------------------------


def _validate_openai(body: dict[str, Any]) -> Reply | None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _openai_error(
            400, "you must provide a model parameter", "invalid_request_error", None
        )
    if "messages" not in body:
        return _openai_error(
            400,
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            "missing_required_parameter",
        )
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return _openai_error(
            400,
            "Invalid 'messages': expected a non-empty array of messages.",
            "invalid_request_error",
            "empty_array" if isinstance(messages, list) else "invalid_type",
        )
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in OPENAI_ROLES:
            return _openai_error(
                400,
                f"Invalid value for 'messages[{index}].role': {role!r}.",
                "invalid_request_error",
                "invalid_value",
            )
    bad_image = image_wire.check_openai_images(messages)
    if bad_image is not None:
        return Reply(400, _json_bytes(bad_image))
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in {"text", "json_object", "json_schema"}:
            return _openai_error(
                400, "Invalid 'response_format'.", "invalid_request_error", "invalid_value"
            )
        if kind == "json_schema" and not isinstance(response_format.get("json_schema"), dict):
            return _openai_error(
                400,
                "Missing required parameter: 'response_format.json_schema'.",
                "invalid_request_error",
                "missing_required_parameter",
            )
    if model == MISSING_MODEL:
        return _openai_error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
    if model == BAD_REQUEST_MODEL:
        return _openai_error(
            400, f"The model `{model}` rejects every request.", "invalid_request_error", None
        )
    return None


def _openai_reply(
    body: dict[str, Any],
    digest: str,
    given: str | None = None,
    pass_rate: float | None = None,
    verdicts: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The chat.completion for a valid body; a body holding an image (a vision request) is
    answered Yes or No from `verdicts` (see image_wire.p_yes), unless `given` is set."""
    rng = _rng("reply", digest)
    prompt_chars = sum(len(_text_of(m.get("content"))) for m in body["messages"])
    images = image_wire.openai_images(body["messages"])
    p_yes = _p_yes(body["messages"], verdicts or {}) if images else None
    logprobs: dict[str, Any] | None = None
    response_format = body.get("response_format")
    schema: object = None
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            schema = response_format["json_schema"].get("schema", {})
        elif response_format.get("type") == "json_object" and "schema" in response_format:
            schema = response_format["schema"]
    finish_reason = "stop"
    if given is not None:
        content = given
    elif body["model"] == concept_writer.MODEL:
        content = concept_writer.reply(body["messages"])
    elif p_yes is not None:
        limit = _limit(body, "max_completion_tokens", "max_tokens")
        content, cut = _cut(image_wire.answer(p_yes), limit)
        finish_reason = "length" if cut else "stop"
        if body.get("logprobs") is True:
            logprobs = image_wire.openai_logprobs(content, p_yes, body.get("top_logprobs"))
    elif schema is not None:
        content = json.dumps(_schema_object(schema, rng, pass_rate))
    else:
        limit = _limit(body, "max_completion_tokens", "max_tokens")
        content, cut = _cut(_text_reply(rng), limit)
        finish_reason = "length" if cut else "stop"
    prompt_tokens = _tokens(prompt_chars) + sum(map(image_wire.image_tokens, images))
    completion_tokens = _tokens(len(content))
    return {
        "id": f"chatcmpl-{digest[:29]}",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": logprobs,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "service_tier": "flex" if body.get("service_tier") == "flex" else "default",
        "system_fingerprint": "fp_wire_servers",
    }


def _validate_anthropic(body: dict[str, Any]) -> Reply | None:
    def bad(message: str) -> Reply:
        return _anthropic_error(400, "invalid_request_error", message)

    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            return bad(f"{key}: Field required")
    model, max_tokens, messages = body["model"], body["max_tokens"], body["messages"]
    if not isinstance(model, str) or not model:
        return bad("model: Input should be a valid string")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return bad("max_tokens: Input should be an integer greater than or equal to 1")
    if not isinstance(messages, list) or not messages:
        return bad("messages: at least one message is required")
    previous = None
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in {"user", "assistant"}:
            return bad(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        if index == 0 and role != "user":
            return bad('messages: first message must use the "user" role')
        if role == previous:
            return bad(
                'messages: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row'
            )
        previous = role
    bad_image = image_wire.check_anthropic_images(messages)
    if bad_image is not None:
        return bad(bad_image)
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        return bad("system: Input should be a valid string or a list of text blocks")
    tool_choice = body.get("tool_choice")
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "tool":
        names = [t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
        if tool_choice.get("name") not in names:
            return bad(f"tool_choice: tool {tool_choice.get('name')!r} not found in 'tools'")
    if model == MISSING_MODEL:
        return _anthropic_error(404, "not_found_error", f"model: {model}")
    if model == BAD_REQUEST_MODEL:
        return bad(f"model: {model} rejects every request")
    return None


def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    tool_choice = body.get("tool_choice")
    if not isinstance(tool_choice, dict):
        return None
    if tool_choice.get("type") == "tool":
        return next((t for t in tools if t.get("name") == tool_choice.get("name")), None)
    if tool_choice.get("type") == "any" and len(tools) == 1:
        return tools[0]
    return None


def _anthropic_reply(
    body: dict[str, Any],
    digest: str,
    pass_rate: float | None = None,
    verdicts: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The message for a valid body; a body holding an image (a vision request) is answered
    Yes or No from `verdicts` (see image_wire.p_yes), unless a tool is forced."""
    rng = _rng("reply", digest)
    input_chars = len(_text_of(body.get("system"))) + sum(
        len(_text_of(m.get("content"))) for m in body["messages"]
    )
    images = image_wire.anthropic_images(body["messages"])
    tool = _forced_tool(body)
    if tool is None and images:
        p_yes = _p_yes([{"content": body.get("system")}, *body["messages"]], verdicts or {})
        text, cut = _cut(image_wire.answer(p_yes), body["max_tokens"])
        block: dict[str, Any] = {"type": "text", "text": text}
        output_chars, stop_reason = len(text), "max_tokens" if cut else "end_turn"
    elif tool is not None:
        tool_input = _schema_object(tool.get("input_schema"), rng, pass_rate)
        block = {
            "type": "tool_use",
            "id": f"toolu_{digest[:24]}",
            "name": tool.get("name"),
            "input": tool_input,
        }
        output_chars, stop_reason = len(json.dumps(tool_input)), "tool_use"
    else:
        text, cut = _cut(_text_reply(rng), body["max_tokens"])
        block = {"type": "text", "text": text}
        output_chars, stop_reason = len(text), "max_tokens" if cut else "end_turn"
    return {
        "id": f"msg_{digest[:24]}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": _tokens(input_chars) + sum(map(image_wire.image_tokens, images)),
            "output_tokens": _tokens(output_chars),
            "service_tier": "standard",
        },
    }


def _p_yes(messages: list[Any], verdicts: dict[str, float]) -> float:
    """P(Yes) for a vision request: its text parts joined, matched against the verdicts."""
    text = "\n".join(_text_of(m.get("content")) for m in messages if isinstance(m, dict))
    return image_wire.p_yes(text, verdicts)


def _validate_images(body: dict[str, Any]) -> Reply | None:
    invalid = image_wire.check_generation(body)
    if invalid is not None:
        return Reply(400, _json_bytes(invalid))
    model = body["model"]
    if model == MISSING_MODEL:
        return _openai_error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
    if model == BAD_REQUEST_MODEL:
        return _openai_error(
            400, f"The model `{model}` rejects every request.", "invalid_request_error", None
        )
    return None


def _fault_reply(api: str, kind: FaultKind) -> Reply:
    if kind == "rate_limit":
        retry = [("retry-after", str(RETRY_AFTER_SECONDS)), ("retry-after-ms", "50")]
        if api == "openai":
            return _openai_error(
                429,
                "Rate limit reached for requests. Please try again in 50ms.",
                "requests",
                "rate_limit_exceeded",
                [
                    *retry,
                    ("x-ratelimit-reset-requests", "50ms"),
                    ("x-ratelimit-remaining-requests", "0"),
                ],
            )
        reset = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=RETRY_AFTER_SECONDS)
        return _anthropic_error(
            429,
            "rate_limit_error",
            "This request would exceed your organization's rate limit. Please try again later.",
            [
                *retry,
                ("anthropic-ratelimit-requests-limit", "1000"),
                ("anthropic-ratelimit-requests-remaining", "0"),
                (
                    "anthropic-ratelimit-requests-reset",
                    reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                ),
            ],
        )
    if kind == "server_error":
        if api == "openai":
            return _openai_error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            )
        return _anthropic_error(500, "api_error", "Internal server error")
    if api == "openai":  # overloaded
        return _openai_error(
            503, "The server is overloaded or not ready yet.", "server_error", "service_unavailable"
        )
    return _anthropic_error(529, "overloaded_error", "Overloaded")


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class WireServer:
    """Both APIs on one asyncio server. ``await start(port)`` then ``await close()``."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.stats = Stats()
        self._seen: Counter[str] = Counter()  # attempts per "api:body digest"
        self._streak: Counter[str] = Counter()  # faults in a row per "api:body digest"
        self._server: asyncio.Server | None = None
        self.port = 0
        replies = self.config.replies
        self._replies: dict[str, str] = json.loads(replies.read_text("utf-8")) if replies else {}
        verdicts = self.config.verdicts
        self._verdicts = image_wire.load_verdicts(verdicts) if verdicts else {}
        config = self.config
        self.batches = BatchApi(
            {"openai": self._batch_answer, "anthropic": self._anthropic_batch_answer},
            config.drop_creates,
            config.expire_batches,
            config.batch_latency_s,
            config.refuse_batches,
            straggle_polls=config.straggle_polls,
            list_lag=config.list_lag,
        )
        self.anthropic_batches = AnthropicRoutes(self.batches)

    def _anthropic_batch_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = _anthropic_reply(body, body_digest(body), self.config.pass_rate, self._verdicts)
        reply["usage"]["service_tier"] = "batch"
        return reply

    def _batch_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """A batch line's reply: what the same body gets in realtime."""
        given = self._replies.get(messages_digest(body["messages"]))
        return _openai_reply(body, body_digest(body), given, self.config.pass_rate, self._verdicts)

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(
            self._serve_connection, HOST, port, backlog=4096, limit=MAX_HEADER_BYTES
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def serve_forever(self) -> None:
        assert self._server is not None, "start() first"
        await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    # -- connections ---------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.stats.connections += 1
        self.stats.open_connections += 1
        try:
            while True:
                try:
                    request = await self._read_request(reader, writer)
                except HttpError as error:
                    reply = _error_for_path("", error.status, error.message)
                    await self._send(writer, reply, keep_alive=False)
                    return
                if request is None:
                    return
                reply = await self._dispatch(request)
                if reply.reset:
                    self._abort(writer)
                    return
                await self._send(writer, reply, keep_alive=request.keep_alive)
                if not request.keep_alive:
                    return
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            self.stats.client_gone += 1
        finally:
            self.stats.open_connections -= 1
            if not writer.transport.is_closing():
                writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            if error.partial.strip():
                raise HttpError(400, "Incomplete request head.") from None
            return None  # the client closed a kept-alive connection
        except asyncio.LimitOverrunError:
            raise HttpError(431, "Request header fields too large.") from None
        lines = head.lstrip(b"\r\n").decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(400, "Malformed request line.")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError(400, "Malformed header line.")
            headers[name.lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked(reader)
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise HttpError(400, "Invalid Content-Length.") from None
            if length < 0:
                raise HttpError(400, "Invalid Content-Length.")
            if length > MAX_BODY_BYTES:
                raise HttpError(413, "Request body too large.")
            body = await reader.readexactly(length) if length else b""
        path, _, query = target.partition("?")
        return Request(method.upper(), path, version, headers, body, query)

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpError(400, "Invalid chunk size.") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise HttpError(413, "Request body too large.")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def _send(self, writer: asyncio.StreamWriter, reply: Reply, *, keep_alive: bool) -> None:
        if writer.transport.is_closing():
            self.stats.client_gone += 1
            return
        self.stats.statuses[str(reply.status)] += 1
        reason = _REASONS.get(reply.status) or http.HTTPStatus(reply.status).phrase
        head = [
            f"HTTP/1.1 {reply.status} {reason}",
            "content-type: application/json",
            f"content-length: {len(reply.body)}",
            f"connection: {'keep-alive' if keep_alive else 'close'}",
            *(f"{name}: {value}" for name, value in reply.headers),
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body)
        await writer.drain()

    @staticmethod
    def _abort(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # SO_LINGER 0: close() sends RST, not FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    # -- requests ------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> Reply:
        path = request.path
        if path != STATS_PATH:
            self.stats.requests[path] += 1
        if self.config.batch_api and self.batches.handles(path):
            target = f"{path}?{request.query}"
            found = self.batches.dispatch(request.method, target, request.headers, request.body)
            reply = Reply(found.status, found.body, reset=found.reset)
        elif self.config.batch_api and self.anthropic_batches.handles(path):
            found = self.anthropic_batches.dispatch(
                request.method, path, request.headers, request.body, request.query
            )
            reply = Reply(found.status, found.body, reset=found.reset)
        elif path in API_PATHS:
            if request.method != "POST":
                return self._client_error(_error_for_path(path, 405, "Method not allowed."))
            self.stats.last_headers[path] = _redacted(request.headers)
            reply = await self._api(path, request)
        elif path == STATS_PATH and request.method == "GET":
            stats = {**self.stats.as_json(), "batches": self.batches.stats.as_json()}
            reply = Reply(200, _json_bytes(stats))
        elif path == MODELS_PATH and request.method == "GET":
            model = {"id": "wire-model", "object": "model", "created": 0, "owned_by": "wire"}
            reply = Reply(200, _json_bytes({"object": "list", "data": [model]}))
        else:
            reply = self._client_error(_error_for_path(path, 404, f"Unknown path: {path}"))
        return reply

    def _client_error(self, reply: Reply) -> Reply:
        self.stats.client_errors += 1
        return reply

    async def _api(self, path: str, request: Request) -> Reply:
        api = "anthropic" if path == ANTHROPIC_PATH else "openai"  # the images API is OpenAI's
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, ValueError):
            body = None
        if not isinstance(body, dict):
            reply = _error_for_path(path, 400, "The request body is not a valid JSON object.")
            return self._finish(await self._delayed(self._client_error(reply)), f"{api}:")
        digest = body_digest(body)
        key = f"{api}:{digest}"  # attempts are counted per API and body
        if path == IMAGES_PATH:
            invalid = _validate_images(body)
        else:
            invalid = _validate_openai(body) if api == "openai" else _validate_anthropic(body)
        if invalid is not None:
            return self._finish(await self._delayed(self._client_error(invalid)), key)
        refused = image_wire.refusal(body) if path == IMAGES_PATH else None
        if refused is not None:  # the safety system: not a fault, never faulted
            self.stats.refusals += 1
            reply = self._client_error(Reply(400, _json_bytes(refused)))
            return self._finish(await self._delayed(reply), key)
        fault = self._next_fault(key, digest)
        await self._delayed(None)
        if fault in ("rate_limit", "server_error", "overloaded"):
            return self._finish(_fault_reply(api, fault), key)
        if fault == "reset":
            return Reply(0, b"", reset=True)
        if fault == "slow":
            await asyncio.sleep(self.config.slow_seconds)
        if self.config.record is not None:
            with self.config.record.open("a", encoding="utf-8") as log:
                log.write(json.dumps(body) + "\n")
        if path == IMAGES_PATH:
            payload = image_wire.generation_reply(body)
            self.stats.image_requests += 1
            self.stats.images_generated += len(payload["data"])
            self.stats.image_prompts[image_wire.prompt_digest(body["prompt"])] += 1
        elif api == "openai":
            self.batches.realtime_call(body)
            self.stats.flex_requests += body.get("service_tier") == "flex"
            given = self._replies.get(messages_digest(body["messages"]))
            payload = _openai_reply(body, digest, given, self.config.pass_rate, self._verdicts)
            if image_wire.openai_images(body["messages"]):
                self.stats.vision_requests["openai"] += 1
        else:
            self.batches.realtime_call(body)
            payload = _anthropic_reply(body, digest, self.config.pass_rate, self._verdicts)
            if image_wire.anthropic_images(body["messages"]):
                self.stats.vision_requests["anthropic"] += 1
        reply = self._finish(Reply(200, _json_bytes(payload)), key)
        if fault == "truncated":
            reply.body = reply.body[: len(reply.body) // 2]
        elif fault is None:
            self.stats.completed += 1
        return reply

    async def _delayed(self, reply: Reply | None) -> Reply | None:
        if self.config.latency_ms > 0:
            await asyncio.sleep(self.config.latency_ms / 1000)
        return reply

    def _finish(self, reply: Reply | None, key: str) -> Reply:
        assert reply is not None
        digest = key.rpartition(":")[2]
        request_id = f"req_{digest[:20]}{self._seen[key]:04d}"
        reply.headers += [("request-id", request_id), ("x-request-id", request_id)]
        return reply

    def _next_fault(self, key: str, digest: str) -> FaultKind | None:
        n = self._seen[key]
        self._seen[key] = n + 1
        config = self.config
        if self._streak[key] >= config.max_faults_in_a_row:
            self._streak[key] = 0
            return None
        fault = fault_for(
            seed=config.seed,
            digest=digest,
            n=n,
            fault_rate=config.fault_rate,
            kinds=config.fault_kinds,
        )
        if fault is None:
            self._streak[key] = 0
            return None
        self._streak[key] += 1
        self.stats.faults[fault] += 1
        return fault


def _redacted(headers: dict[str, str]) -> dict[str, str]:
    secret = {"authorization", "x-api-key", "api-key"}
    return {k: ("<redacted>" if k in secret else v) for k, v in headers.items()}


# --------------------------------------------------------------------------------------------
# Script entry point
# --------------------------------------------------------------------------------------------


def _parse_kinds(text: str) -> tuple[FaultKind, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown fault kinds {unknown}; known: {FAULT_KINDS}")
    return tuple(k for k in FAULT_KINDS if k in kinds)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-faults-in-a-row", type=int, default=3)
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    parser.add_argument("--record", type=Path, help="append each API request body (JSONL)")
    parser.add_argument("--replies", type=Path, help="JSON {messages digest: reply} (OpenAI)")
    parser.add_argument("--pass-rate", type=float, help="chance of 1 per schema point")
    parser.add_argument(
        "--verdicts", type=Path, help='JSON {question: "Yes" | "No" | P(Yes)} (vision requests)'
    )
    parser.add_argument("--drop-creates", type=int, default=0, help="batches: reset N creates")
    parser.add_argument("--expire-batches", type=int, default=0, help="batches: expire N")
    parser.add_argument("--no-batch-api", action="store_true", help="404 on the batch paths")
    parser.add_argument("--batch-latency-s", type=float, default=0.0, help="batches take this")
    parser.add_argument("--refuse-batches", type=int, default=0, help="batches: refuse N")
    parser.add_argument("--straggle-polls", type=int, default=0, help="batches: one line late")
    parser.add_argument("--list-lag", type=int, default=0, help="batches: listed N lists late")
    parser.add_argument(
        "--fault-kinds",
        type=_parse_kinds,
        default=FAULT_KINDS,
        help=f"comma-separated subset of {','.join(FAULT_KINDS)} (default: all)",
    )
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="exit when standard input closes (start_server uses it so that a server never "
        "outlives the process that started it)",
    )
    return parser


def _raise_fd_limit() -> None:
    with contextlib.suppress(Exception):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
        if soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _exit_on_stdin_eof() -> None:
    with contextlib.suppress(Exception):
        while sys.stdin.buffer.read(4096):
            pass
    os._exit(0)


async def _main_async(server: WireServer, port: int) -> None:
    actual = await server.start(port)
    print(f"READY {actual}", flush=True)
    try:
        await server.serve_forever()
    finally:
        await server.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = ServerConfig(
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        seed=args.seed,
        max_faults_in_a_row=args.max_faults_in_a_row,
        slow_seconds=args.slow_seconds,
        fault_kinds=args.fault_kinds,
        record=args.record,
        replies=args.replies,
        pass_rate=args.pass_rate,
        verdicts=args.verdicts,
        drop_creates=args.drop_creates,
        expire_batches=args.expire_batches,
        batch_api=not args.no_batch_api,
        batch_latency_s=args.batch_latency_s,
        refuse_batches=args.refuse_batches,
        straggle_polls=args.straggle_polls,
        list_lag=args.list_lag,
    )
    server = WireServer(config)  # a bad --replies or --verdicts file fails here, cleanly
    _raise_fd_limit()
    if args.exit_on_stdin_eof:
        threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main_async(server, args.port))
    return 0


# --------------------------------------------------------------------------------------------
# Helpers for fixtures and benchmarks
# --------------------------------------------------------------------------------------------

_NO_PROXY_OPENER: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class ServerHandle:
    port: int
    process: subprocess.Popen[str]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stats(self) -> dict[str, Any]:
        with _NO_PROXY_OPENER.open(self.base_url + STATS_PATH, timeout=10) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_server(
    *,
    latency_ms: float = 0,
    fault_rate: float = 0,
    seed: int = 0,
    max_faults_in_a_row: int = 3,
    slow_seconds: float = 3.0,
    fault_kinds: Sequence[FaultKind] | None = None,
    record: Path | None = None,
    replies: Path | None = None,
    pass_rate: float | None = None,
    verdicts: Path | None = None,
    drop_creates: int = 0,
    expire_batches: int = 0,
    batch_api: bool = True,
    batch_latency_s: float = 0.0,
    refuse_batches: int = 0,
    straggle_polls: int = 0,
    list_lag: int = 0,
) -> ServerHandle:
    """Start this module as a script in a subprocess, wait for READY, return its handle."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--port",
        "0",
        "--latency-ms",
        str(latency_ms),
        "--fault-rate",
        str(fault_rate),
        "--seed",
        str(seed),
        "--max-faults-in-a-row",
        str(max_faults_in_a_row),
        "--slow-seconds",
        str(slow_seconds),
    ]
    if fault_kinds is not None:
        command += ["--fault-kinds", ",".join(fault_kinds)]
    for option, path in (("--record", record), ("--replies", replies), ("--verdicts", verdicts)):
        if path is not None:
            command += [option, str(path)]
    if pass_rate is not None:
        command += ["--pass-rate", str(pass_rate)]
    command += ["--drop-creates", str(drop_creates), "--expire-batches", str(expire_batches)]
    command += [] if batch_api else ["--no-batch-api"]
    command += ["--batch-latency-s", str(batch_latency_s), "--refuse-batches", str(refuse_batches)]
    command += ["--straggle-polls", str(straggle_polls), "--list-lag", str(list_lag)]
    command.append("--exit-on-stdin-eof")
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=READY_TIMEOUT_SECONDS)
    except queue.Empty:
        line = ""
    if not line.startswith("READY "):
        ServerHandle(0, process).stop()
        raise RuntimeError(f"wire server did not start (exit code {process.returncode}): {line!r}")
    return ServerHandle(int(line.split()[1]), process)


@contextlib.contextmanager
def running_server(**kwargs: Any) -> Iterator[ServerHandle]:
    """``start_server(**kwargs)`` as a context manager that always stops the server."""
    handle = start_server(**kwargs)
    try:
        yield handle
    finally:
        handle.stop()


if __name__ == "__main__":
    sys.exit(main())
