"""The loopback wire servers of tests/helpers/wire_servers.py, driven through the real openai and
anthropic SDKs (and, where the SDKs cannot go, through raw HTTP)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar, cast

import anthropic
import openai
import pytest

from tests.helpers.wire_servers import (
    FAULT_KINDS,
    FaultKind,
    ServerHandle,
    body_digest,
    fault_for,
    running_server,
)

T = TypeVar("T")
USER = "Write one sentence about a river, using a metaphor."
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "metaphor": {"type": "integer"},
        "topic": {"type": "integer"},
        "fluent": {"type": "integer"},
    },
    "required": ["metaphor", "topic", "fluent"],
    "additionalProperties": False,
}
CLIENT_TIMEOUT = 0.5  # below the fault servers' slow_seconds, so "slow" times the client out
SLOW_SECONDS = 1.5
FAULT_SEED = 7

# What each fault kind raises with max_retries=0 (checked exactly in
# test_each_fault_kind_raises_its_sdk_exception). The truncated 200 is the odd one out: both SDKs
# call json.loads on the body (httpx2.Response.json) outside their error mapping, so the caller
# gets a bare json.JSONDecodeError (a ValueError, *not* an openai/anthropic APIError), and the
# SDKs' own retries never retry it (see test_sdk_retries_do_not_cover_truncated_json).
OPENAI_FAULT_ERRORS: dict[FaultKind, type[BaseException]] = {
    "rate_limit": openai.RateLimitError,
    "server_error": openai.InternalServerError,
    "overloaded": openai.InternalServerError,  # 503: openai has no ServiceUnavailableError
    "slow": openai.APITimeoutError,  # a subclass of openai.APIConnectionError
    "reset": openai.APIConnectionError,
    "truncated": json.JSONDecodeError,
}
ANTHROPIC_FAULT_ERRORS: dict[FaultKind, type[BaseException]] = {
    "rate_limit": anthropic.RateLimitError,
    "server_error": anthropic.InternalServerError,
    "overloaded": anthropic.OverloadedError,  # 529; a subclass of anthropic.InternalServerError
    "slow": anthropic.APITimeoutError,  # a subclass of anthropic.APIConnectionError
    "reset": anthropic.APIConnectionError,
    "truncated": json.JSONDecodeError,
}
RETRYABLE_OR_TRUNCATED: tuple[type[BaseException], ...] = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APIStatusError,
    openai.APIConnectionError,  # and so openai.APITimeoutError
    anthropic.RateLimitError,
    anthropic.InternalServerError,
    anthropic.APIStatusError,
    anthropic.APIConnectionError,  # and so anthropic.APITimeoutError
    json.JSONDecodeError,
)


@pytest.fixture(autouse=True)
def _bypass_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx2 honours *_PROXY variables; loopback traffic must never go through a proxy.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server() as handle:
        yield handle


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def openai_client(handle: ServerHandle, **kwargs: Any) -> openai.AsyncOpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=handle.base_url + "/v1", api_key="test-key", **kwargs)


def anthropic_client(handle: ServerHandle, **kwargs: Any) -> anthropic.AsyncAnthropic:
    kwargs.setdefault("max_retries", 0)
    return anthropic.AsyncAnthropic(base_url=handle.base_url, api_key="test-key", **kwargs)


def openai_body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}], **extra}


def anthropic_body(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-test",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


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


async def outcome(call: Callable[[], Awaitable[object]]) -> object:
    """The call's result, or the exception it raised."""
    try:
        return await call()
    except Exception as error:
        return error


# --------------------------------------------------------------------------------------------
# Normal replies
# --------------------------------------------------------------------------------------------


def test_openai_text_reply_is_a_deterministic_chat_completion(server: ServerHandle) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": USER},
    ]

    async def go() -> list[openai.types.chat.ChatCompletion]:
        async with openai_client(server) as client:
            first = await client.chat.completions.create(model="gpt-test", messages=messages)
            again = await client.chat.completions.create(model="gpt-test", messages=messages)
            other = await client.chat.completions.create(
                model="gpt-test", messages=[{"role": "developer", "content": "Other."}]
            )
            return [first, again, other]

    first, again, other = run(go())
    content = first.choices[0].message.content
    assert content is not None
    assert content.startswith("Answer: ")
    assert "\nExplanation: " in content
    assert first.object == "chat.completion"
    assert first.model == "gpt-test"
    assert first.created == 0
    assert first.choices[0].finish_reason == "stop"
    assert first.choices[0].message.role == "assistant"
    assert first.usage is not None
    assert first.usage.prompt_tokens == (len("You are terse.") + len(USER)) // 4
    assert first.usage.completion_tokens == len(content) // 4
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert again.model_dump() == first.model_dump()
    assert other.choices[0].message.content != content


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_schema", "json_schema": {"name": "grade", "schema": SCHEMA, "strict": True}},
        {"type": "json_object", "schema": SCHEMA},  # not an OpenAI field; the server honours it
    ],
    ids=["json_schema", "json_object+schema"],
)
def test_openai_structured_output_follows_the_schema(
    server: ServerHandle, response_format: Any
) -> None:
    async def go() -> list[str]:
        async with openai_client(server) as client:
            contents = []
            for n in range(4):
                reply = await client.chat.completions.create(
                    model="gpt-test",
                    messages=[{"role": "user", "content": f"Grade answer {n}."}],
                    response_format=response_format,
                )
                contents.append(reply.choices[0].message.content or "")
            return contents

    grades = [json.loads(content) for content in run(go())]
    for grade in grades:
        assert set(grade) == set(SCHEMA["properties"])
        assert set(grade.values()) <= {0, 1}


def test_openai_max_completion_tokens_cuts_the_text(server: ServerHandle) -> None:
    async def go() -> openai.types.chat.ChatCompletion:
        async with openai_client(server) as client:
            return await client.chat.completions.create(
                model="gpt-test",
                messages=[{"role": "user", "content": USER}],
                max_completion_tokens=3,
            )

    reply = run(go())
    assert reply.choices[0].finish_reason == "length"
    assert len(reply.choices[0].message.content or "") <= 12


def test_anthropic_text_reply_with_a_system_prompt(server: ServerHandle) -> None:
    system = "You are a careful writer."

    async def go() -> list[anthropic.types.Message]:
        async with anthropic_client(server) as client:
            replies = []
            for system_field in (system, [{"type": "text", "text": system}]):
                replies.append(
                    await client.messages.create(
                        model="claude-test",
                        max_tokens=200,
                        system=system_field,  # type: ignore[arg-type]
                        messages=[{"role": "user", "content": USER}],
                    )
                )
            return replies

    as_string, as_blocks = run(go())
    block = as_string.content[0]
    assert isinstance(block, anthropic.types.TextBlock)
    assert block.text.startswith("Answer: ")
    assert "\nExplanation: " in block.text
    assert as_string.type == "message"
    assert as_string.role == "assistant"
    assert as_string.model == "claude-test"
    assert as_string.stop_reason == "end_turn"
    assert as_string.stop_sequence is None
    assert as_string.usage.input_tokens == (len(system) + len(USER)) // 4
    assert as_string.usage.output_tokens == len(block.text) // 4
    # The request bodies differ (string vs blocks), so the replies may differ; both are valid.
    assert as_blocks.usage.input_tokens == as_string.usage.input_tokens


def test_anthropic_forced_tool_use_fills_the_input_schema(server: ServerHandle) -> None:
    tool: Any = {
        "name": "record_grade",
        "description": "Record the grade.",
        "input_schema": SCHEMA,
    }

    async def go() -> anthropic.types.Message:
        async with anthropic_client(server) as client:
            return await client.messages.create(
                model="claude-test",
                max_tokens=200,
                messages=[{"role": "user", "content": "Grade this."}],
                tools=[tool],
                tool_choice={"type": "tool", "name": "record_grade"},
            )

    reply = run(go())
    assert reply.stop_reason == "tool_use"
    (block,) = reply.content
    assert isinstance(block, anthropic.types.ToolUseBlock)
    assert block.name == "record_grade"
    assert block.id.startswith("toolu_")
    assert isinstance(block.input, dict)
    assert set(block.input) == set(SCHEMA["properties"])
    assert set(block.input.values()) <= {0, 1}


def test_models_list_for_readiness(server: ServerHandle) -> None:
    async def go() -> list[str]:
        async with openai_client(server) as client:
            return [model.id async for model in client.models.list()]

    assert run(go()) == ["wire-model"]


# --------------------------------------------------------------------------------------------
# Validation and non-retryable errors
# --------------------------------------------------------------------------------------------


def test_anthropic_requires_max_tokens(server: ServerHandle) -> None:
    # The SDK types max_tokens as required; `omit` drops it from the body, but only with an
    # explicit timeout (without one the SDK computes a timeout from max_tokens and fails with
    # a TypeError before sending anything).
    async def go() -> object:
        async with anthropic_client(server) as client:
            return await outcome(
                lambda: client.messages.create(
                    model="claude-test",
                    max_tokens=cast(int, anthropic.omit),
                    messages=[{"role": "user", "content": USER}],
                    timeout=5.0,
                )
            )

    error = run(go())
    assert type(error) is anthropic.BadRequestError
    assert error.type == "invalid_request_error"
    assert error.api_message == "max_tokens: Field required"

    status, body = post_raw(server, "/v1/messages", {"model": "m", "messages": []})
    assert status == 400
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        [{"role": "assistant", "content": "a"}],
        [],
    ],
    ids=["two-users", "assistant-first", "empty"],
)
def test_anthropic_messages_must_alternate_from_user(
    server: ServerHandle, messages: list[Any]
) -> None:
    async def go() -> object:
        async with anthropic_client(server) as client:
            return await outcome(
                lambda: client.messages.create(
                    model="claude-test", max_tokens=50, messages=messages
                )
            )

    assert type(run(go())) is anthropic.BadRequestError


@pytest.mark.parametrize(
    "payload",
    [
        {"messages": [{"role": "user", "content": "x"}]},
        {"model": "m"},
        {"model": "m", "messages": []},
    ],
    ids=["no-model", "no-messages", "empty-messages"],
)
def test_openai_requires_model_and_messages(server: ServerHandle, payload: dict[str, Any]) -> None:
    status, body = post_raw(server, "/v1/chat/completions", payload)
    assert status == 400
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] is None


@pytest.mark.parametrize(
    ("model", "openai_error", "anthropic_error"),
    [
        ("no-such-model", openai.NotFoundError, anthropic.NotFoundError),
        ("bad-request", openai.BadRequestError, anthropic.BadRequestError),
    ],
)
def test_non_retryable_errors_are_never_retried(
    server: ServerHandle,
    model: str,
    openai_error: type[openai.APIStatusError],
    anthropic_error: type[anthropic.APIStatusError],
) -> None:
    before = server.stats()["requests"]

    async def go() -> tuple[object, object]:
        # max_retries=2: the SDKs must not retry a 400 or 404.
        async with (
            openai_client(server, max_retries=2) as oai,
            anthropic_client(server, max_retries=2) as ant,
        ):
            from_openai = await outcome(
                lambda: oai.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": USER}]
                )
            )
            from_anthropic = await outcome(
                lambda: ant.messages.create(
                    model=model, max_tokens=50, messages=[{"role": "user", "content": USER}]
                )
            )
            return from_openai, from_anthropic

    from_openai, from_anthropic = run(go())
    assert type(from_openai) is openai_error
    assert type(from_anthropic) is anthropic_error
    assert from_openai.request_id and from_openai.request_id.startswith("req_")
    assert from_anthropic.request_id and from_anthropic.request_id.startswith("req_")
    assert isinstance(from_openai.body, dict)  # openai hands over the inner "error" object
    assert from_openai.body["type"] == "invalid_request_error"
    assert isinstance(from_anthropic.body, dict)  # anthropic hands over the whole body
    assert from_anthropic.body["type"] == "error"
    after = server.stats()["requests"]
    for path in ("/v1/chat/completions", "/v1/messages"):
        assert after[path] - before.get(path, 0) == 1


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


def bodies_for_each_kind(make: Callable[[str], dict[str, Any]]) -> dict[FaultKind, dict[str, Any]]:
    """One request body per fault kind: the kind its first attempt draws (fault_rate=1)."""
    found: dict[FaultKind, dict[str, Any]] = {}
    for n in range(1000):
        body = make(f"{USER} #{n}")
        kind = fault_for(seed=FAULT_SEED, digest=body_digest(body), n=0, fault_rate=1.0)
        assert kind is not None
        found.setdefault(kind, body)
        if len(found) == len(FAULT_KINDS):
            return found
    raise AssertionError(f"only found {sorted(found)}")


def test_each_fault_kind_raises_its_sdk_exception() -> None:
    openai_bodies = bodies_for_each_kind(openai_body)
    anthropic_bodies = bodies_for_each_kind(anthropic_body)
    with running_server(
        fault_rate=1.0, seed=FAULT_SEED, max_faults_in_a_row=2, slow_seconds=SLOW_SECONDS
    ) as handle:

        async def go() -> dict[tuple[str, FaultKind], tuple[object, str]]:
            seen: dict[tuple[str, FaultKind], tuple[object, str]] = {}
            async with (
                openai_client(handle, timeout=CLIENT_TIMEOUT) as oai,
                anthropic_client(handle, timeout=CLIENT_TIMEOUT) as ant,
            ):
                for kind in FAULT_KINDS:
                    to_openai, to_anthropic = openai_bodies[kind], anthropic_bodies[kind]
                    for api, call in (
                        ("openai", lambda b=to_openai: oai.chat.completions.create(**b)),
                        ("anthropic", lambda b=to_anthropic: ant.messages.create(**b)),
                    ):
                        before = handle.stats()["faults"]
                        error = await outcome(call)
                        after = handle.stats()["faults"]
                        (drawn,) = [k for k in FAULT_KINDS if after[k] != before[k]]
                        seen[api, kind] = (error, drawn)
            return seen

        seen = run(go())
        assert handle.process.poll() is None  # the server survived clients that went away
        stats = handle.stats()

    for (api, kind), (error, drawn) in seen.items():
        assert drawn == kind, "the client-side prediction of the schedule must hold"
        expected = (OPENAI_FAULT_ERRORS if api == "openai" else ANTHROPIC_FAULT_ERRORS)[kind]
        assert type(error) is expected, (api, kind, error)
    assert stats["faults"] == dict.fromkeys(FAULT_KINDS, 2)
    assert stats["completed"] == 0


def test_a_retried_body_succeeds_after_max_faults_in_a_row(server: ServerHandle) -> None:
    question: Any = [{"role": "user", "content": USER}]
    with running_server(
        fault_rate=1.0, seed=FAULT_SEED, max_faults_in_a_row=2, slow_seconds=SLOW_SECONDS
    ) as handle:

        async def go() -> tuple[list[object], list[object]]:
            async with (
                openai_client(handle, timeout=CLIENT_TIMEOUT) as oai,
                anthropic_client(handle, timeout=CLIENT_TIMEOUT) as ant,
            ):
                from_openai = [
                    await outcome(
                        lambda: oai.chat.completions.create(model="gpt-test", messages=question)
                    )
                    for _ in range(4)
                ]
                from_anthropic = [
                    await outcome(
                        lambda: ant.messages.create(
                            model="claude-test", max_tokens=200, messages=question
                        )
                    )
                    for _ in range(4)
                ]
            return from_openai, from_anthropic

        from_openai, from_anthropic = run(go())
        stats = handle.stats()

    async def fault_free() -> tuple[object, object]:
        async with openai_client(server) as oai, anthropic_client(server) as ant:
            return (
                await oai.chat.completions.create(model="gpt-test", messages=question),
                await ant.messages.create(model="claude-test", max_tokens=200, messages=question),
            )

    clean_openai, clean_anthropic = run(fault_free())
    for attempts, clean in ((from_openai, clean_openai), (from_anthropic, clean_anthropic)):
        first, second, third, fourth = attempts
        assert isinstance(first, RETRYABLE_OR_TRUNCATED), first
        assert isinstance(second, RETRYABLE_OR_TRUNCATED), second
        # The third attempt is forced to succeed, with the very reply a fault-free server gives.
        assert not isinstance(third, BaseException), third
        assert third == clean
        # Then the streak starts again: with fault_rate=1 the fourth attempt faults.
        assert isinstance(fourth, RETRYABLE_OR_TRUNCATED), fourth
    assert stats["completed"] == 2
    assert stats["faults_total"] == 6


def test_many_bodies_meet_every_fault_kind() -> None:
    count = 48
    with running_server(
        fault_rate=0.5, seed=FAULT_SEED, max_faults_in_a_row=2, slow_seconds=SLOW_SECONDS
    ) as handle:

        async def go() -> list[object]:
            async with openai_client(handle, timeout=CLIENT_TIMEOUT) as client:

                async def ask(n: int) -> object:
                    return await outcome(
                        lambda: client.chat.completions.create(**openai_body(f"#{n}"))
                    )

                return await asyncio.gather(*(ask(n) for n in range(count)))

        results = run(go())
        stats = handle.stats()

    assert all(stats["faults"][kind] >= 1 for kind in FAULT_KINDS), stats["faults"]
    assert stats["requests"] == {"/v1/chat/completions": count}
    assert stats["completed"] + stats["faults_total"] == count
    successes = [r for r in results if isinstance(r, openai.types.chat.ChatCompletion)]
    # A slow reply still counts as a fault, and its client has timed out.
    assert len(successes) == stats["completed"]


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_sdk_retries_honour_retry_after(api: str) -> None:
    with running_server(
        fault_rate=1.0, max_faults_in_a_row=2, fault_kinds=["rate_limit"]
    ) as handle:

        async def go() -> float:
            started = time.perf_counter()
            if api == "openai":
                async with openai_client(handle, max_retries=2) as oai:
                    await oai.chat.completions.create(**openai_body(USER))
            else:
                async with anthropic_client(handle, max_retries=2) as ant:
                    await ant.messages.create(**anthropic_body(USER))
            return time.perf_counter() - started

        elapsed = run(go())
        stats = handle.stats()

    # Two 429s then a success. Without Retry-After the SDKs back off >= 0.375 s a retry;
    # with it (retry-after-ms: 50) they wait 50 ms.
    assert elapsed < 0.5
    assert stats["faults"]["rate_limit"] == 2
    assert stats["completed"] == 1
    (headers,) = stats["last_headers"].values()
    assert headers["x-stainless-retry-count"] == "2"


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_sdk_retries_do_not_cover_truncated_json(api: str) -> None:
    with running_server(fault_rate=1.0, max_faults_in_a_row=2, fault_kinds=["truncated"]) as handle:

        async def go() -> object:
            if api == "openai":
                async with openai_client(handle, max_retries=2) as oai:
                    return await outcome(lambda: oai.chat.completions.create(**openai_body(USER)))
            async with anthropic_client(handle, max_retries=2) as ant:
                return await outcome(lambda: ant.messages.create(**anthropic_body(USER)))

        error = run(go())
        stats = handle.stats()

    assert type(error) is json.JSONDecodeError
    assert stats["requests_total"] == 1  # not retried, although max_retries=2


# --------------------------------------------------------------------------------------------
# Stats, HTTP, concurrency
# --------------------------------------------------------------------------------------------


def test_stats_count_what_was_sent() -> None:
    with running_server() as handle:

        async def go() -> None:
            async with openai_client(handle) as oai, anthropic_client(handle) as ant:
                for n in range(3):
                    await oai.chat.completions.create(**openai_body(f"#{n}"))
                for n in range(2):
                    await ant.messages.create(**anthropic_body(f"#{n}"))
                await oai.models.list()
                await outcome(
                    lambda: oai.chat.completions.create(**openai_body("x", model="bad-request"))
                )

        run(go())
        stats = handle.stats()
        assert handle.stats()["requests"] == stats["requests"]  # /stats does not count itself

    assert stats["requests"] == {
        "/v1/chat/completions": 4,
        "/v1/messages": 2,
        "/v1/models": 1,
    }
    assert stats["requests_total"] == 7
    assert stats["completed"] == 5
    assert stats["client_errors"] == 1
    assert stats["faults_total"] == 0
    assert stats["statuses"] == {"200": 6, "400": 1}
    assert stats["connections"] == 3  # one kept-alive connection per client, plus /stats


def test_raw_http_keep_alive_pipelining_chunked_and_garbage(server: ServerHandle) -> None:
    body = json.dumps(openai_body(USER)).encode()
    plain = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    chunked = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(plain + chunked + b"GET /nowhere HTTP/1.1\r\n\r\n" + b"NONSENSE\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    replies = split_responses(received)
    assert [status for status, _ in replies] == [200, 200, 404, 400]
    assert json.loads(replies[0][1]) == json.loads(replies[1][1])  # same body, same reply
    assert json.loads(replies[3][1])["error"]["type"] == "invalid_request_error"


def split_responses(data: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each HTTP/1.1 response in a byte stream (Content-Length framing)."""
    replies = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers["content-length"])
        replies.append((int(lines[0].split()[1]), rest[:length]))
        data = rest[length:]
    return replies


def test_many_concurrent_requests_with_latency() -> None:
    count, latency_ms = 256, 100
    with running_server(latency_ms=latency_ms) as handle:

        async def go() -> float:
            async with openai_client(handle) as client:
                started = time.perf_counter()
                await asyncio.gather(
                    *(client.chat.completions.create(**openai_body(f"#{n}")) for n in range(count))
                )
                return time.perf_counter() - started

        elapsed = run(go())
        stats = handle.stats()

    assert stats["completed"] == count
    assert elapsed >= latency_ms / 1000
    assert elapsed < 10  # generous: two CPUs shared by the SDK client and the server
