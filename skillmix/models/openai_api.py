"""`openai/<model>`: the OpenAI Chat Completions API through the official `openai` SDK, or any
OpenAI-compatible server (vLLM, llama.cpp server, hosted providers) given `base_url`."""

from __future__ import annotations

from typing import Any, Literal

import httpx2
import openai
from openai import AsyncOpenAI

from skillmix.errors import MalformedReply
from skillmix.models.base import BackendOptions, BackendSettings, ModelOutput, ModelRequest
from skillmix.models.sdk import SdkBackend
from skillmix.records import ChatMessage, ContentPart, Usage

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # per image
FLEX_TIMEOUT_S = 900.0  # a flex-tier call's timeout at least


class OpenAIOptions(BackendOptions):
    # How to ask for JSON: OpenAI's structured outputs, or llama.cpp's json_object + schema.
    json_mode: Literal["json_schema", "json_object", "none"] = "json_schema"
    # The request field of max_tokens (newer OpenAI models want max_completion_tokens)
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    image_detail: Literal["auto", "low", "high"] | None = None  # how closely images are read


def wire_part(part: ContentPart, detail: str | None) -> dict[str, Any]:
    """A content part as Chat Completions takes it: an image as a data URL."""
    if part["type"] == "text":
        return {"type": "text", "text": part["text"]}
    image: dict[str, Any] = {"url": f"data:{part['media_type']};base64,{part['data']}"}
    if detail is not None:
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def wire_message(message: ChatMessage, detail: str | None) -> dict[str, Any]:
    content = message["content"]
    if isinstance(content, str):
        return {"role": message["role"], "content": content}
    return {"role": message["role"], "content": [wire_part(p, detail) for p in content]}


def first_token_logprobs(choice: dict[str, Any]) -> tuple[tuple[str, float], ...] | None:
    """The first generated token's alternatives, as (token, logprob), where the reply has them."""
    content = (choice.get("logprobs") or {}).get("content") or []
    if not content:
        return None
    return tuple((alt["token"], float(alt["logprob"])) for alt in content[0]["top_logprobs"])


class OpenAIBackend(SdkBackend):
    prefix = "openai"
    sdk = openai
    key_variable = "OPENAI_API_KEY"
    default_concurrency = 32
    accepts_images = True  # the API does; a compatible server may not (it says so per call)
    gives_logprobs = True
    max_image_bytes = MAX_IMAGE_BYTES
    options_model = OpenAIOptions
    options: OpenAIOptions

    def __init__(self, name: str, settings: BackendSettings):
        super().__init__(name, settings)
        self.supports_json_schema = self.options.json_mode != "none"
        # A local OpenAI-compatible server usually wants no key; the real API always does.
        local = settings.base_url is not None and settings.api_key_env is None
        self.connect(AsyncOpenAI, self.api_key(optional=local) or "no-key")

    def wire_body(self, request: ModelRequest) -> dict[str, Any]:
        params = request.params
        arguments: dict[str, Any] = {
            "model": self.name,
            "messages": [wire_message(m, self.options.image_detail) for m in request.messages],
            "seed": request.seed,
        }
        if params.temperature is not None:
            arguments["temperature"] = params.temperature
        if params.top_p is not None:
            arguments["top_p"] = params.top_p
        if params.max_tokens is not None:
            arguments[self.options.max_tokens_field] = params.max_tokens
        if params.stop:
            arguments["stop"] = params.stop
        if params.top_logprobs is not None:
            arguments["logprobs"] = True
            arguments["top_logprobs"] = params.top_logprobs
        json_mode = self.options.json_mode
        if request.json_schema is not None and json_mode == "json_schema":
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "rubric_points",
                    "schema": request.json_schema,
                    "strict": True,
                },
            }
        elif request.json_schema is not None and json_mode == "json_object":
            arguments["response_format"] = {"type": "json_object", "schema": request.json_schema}
        if request.service_tier is not None:
            arguments["service_tier"] = request.service_tier
        return arguments

    async def generate(self, request: ModelRequest) -> ModelOutput:
        # `client.post` is the SDK's documented way to send a prepared body: the same client,
        # auth, retries-off and errors as `chat.completions.create`, without its per-call
        # TypedDict transform of the arguments and model construction of the reply (together
        # over 1 ms of CPU per multi-turn request, more than the rest of the harness).
        options: dict[str, Any] = {"security": {"bearer_auth": True}}
        if request.service_tier == "flex":  # slower replies: OpenAI advises a 15-minute timeout
            options["timeout"] = max(self.settings.timeout_s, FLEX_TIMEOUT_S)
        response = await self.client.post(
            "/chat/completions",
            body=self.wire_body(request),
            cast_to=httpx2.Response,
            options=options,
        )
        return parse_reply(response.json())


def parse_reply(reply: dict[str, Any]) -> ModelOutput:
    """A chat.completion (realtime, or a batch's output line) as the output of a call."""
    try:
        choice = reply["choices"][0]
        usage = reply.get("usage") or {}
        return ModelOutput(
            text=choice["message"].get("content") or "",
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
            served_model=reply.get("model"),
            top_logprobs=first_token_logprobs(choice),
            service_tier=reply.get("service_tier"),
        )
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise MalformedReply(f"no choice in the reply: {str(reply)[:200]}") from exc
