"""`anthropic/<model>`: the Anthropic Messages API through the official `anthropic` SDK."""

from __future__ import annotations

import json
from typing import Any

import anthropic
from anthropic import AsyncAnthropic

from skillmix.models.base import BackendOptions, BackendSettings, ModelOutput, ModelRequest
from skillmix.models.sdk import SdkBackend
from skillmix.records import Usage

DEFAULT_MAX_TOKENS = 1024  # the Messages API requires max_tokens
POINTS_TOOL = "record_rubric_points"


class AnthropicOptions(BackendOptions):
    # The current Messages API (SDK 2.x) has no temperature/top_p fields; older models and
    # compatible proxies still take them in the body when asked to.
    sampling_params: bool = False


class AnthropicBackend(SdkBackend):
    prefix = "anthropic"
    sdk = anthropic
    key_variable = "ANTHROPIC_API_KEY"
    default_concurrency = 16
    supports_json_schema = True  # through a forced tool call
    options_model = AnthropicOptions
    options: AnthropicOptions

    def __init__(self, name: str, settings: BackendSettings):
        super().__init__(name, settings)
        self.client = self.connect(AsyncAnthropic, self.api_key() or "")

    def wire_body(self, request: ModelRequest) -> dict[str, Any]:
        params = request.params
        system = [m["content"] for m in request.messages if m["role"] == "system"]
        arguments: dict[str, Any] = {
            "model": self.name,
            "max_tokens": params.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": [m for m in request.messages if m["role"] != "system"],
        }  # the Messages API has no seed parameter
        if system:
            arguments["system"] = "\n\n".join(system)
        sampling = {"temperature": params.temperature, "top_p": params.top_p}
        sampling = {name: value for name, value in sampling.items() if value is not None}
        if sampling and self.options.sampling_params:
            arguments["extra_body"] = sampling
        if params.stop:
            arguments["stop_sequences"] = params.stop
        if request.json_schema is not None:
            tool = {
                "name": POINTS_TOOL,
                "description": "Record the points of each rubric criterion.",
                "input_schema": request.json_schema,
            }
            arguments["tools"] = [tool]
            arguments["tool_choice"] = {"type": "tool", "name": POINTS_TOOL}
        return arguments

    async def generate(self, request: ModelRequest) -> ModelOutput:
        reply = await self.client.messages.create(**self.wire_body(request))
        parts = []
        for block in reply.content:
            if block.type == "text":
                parts.append(block.text)
            elif block.type == "tool_use":
                parts.append(json.dumps(block.input))
        return ModelOutput(
            text="".join(parts),
            usage=Usage(reply.usage.input_tokens, reply.usage.output_tokens),
            finish_reason=reply.stop_reason,
            served_model=reply.model,
        )
