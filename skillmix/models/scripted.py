"""`scripted/<name>`: replies from a handler registered in this process (tests, demos).

Like httpx's MockTransport: `register_script(name, handler)` (or the `scripted` context manager)
names a handler; `scripted/<name>` then sends every request to it, never to the network. A
handler takes the ModelRequest and returns (or, if async, resolves to) one of

- a str: the reply text (usage counts words: each message's and the reply's);
- a ModelOutput: returned as is;
- an exception instance: raised. A BackendError is a failed call (recorded against the item),
  a TransientError is retried, a RateLimited is retried after its `wait_s`; any other
  exception is a bug and stops the run.

The script records every request it got (`Script.requests`), retries included.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pydantic import Field

from skillmix.errors import BackendError, SkillmixError
from skillmix.models.base import (
    BackendOptions,
    BackendSettings,
    ModelBackend,
    ModelOutput,
    ModelRequest,
    RetryAdvice,
)
from skillmix.records import Usage, message_text

Reply = ModelOutput | str | Exception
Handler = Callable[[ModelRequest], Reply | Awaitable[Reply]]


class TransientError(BackendError):
    """A failure the runner retries (a dropped connection, a 5xx)."""


class RateLimited(TransientError):
    """A rate limit: retried, after `wait_s` if given, and the backend's limiter told."""

    def __init__(self, message: str = "rate limited", wait_s: float | None = None):
        super().__init__(message)
        self.wait_s = wait_s


@dataclass
class Script:
    handler: Handler
    requests: list[ModelRequest] = field(default_factory=list)


_SCRIPTS: dict[str, Script] = {}


def register_script(name: str, handler: Handler) -> Script:
    """Make `scripted/<name>` answer through `handler` (replacing any handler of that name)."""
    script = Script(handler)
    _SCRIPTS[name] = script
    return script


def unregister_script(name: str) -> None:
    _SCRIPTS.pop(name, None)


@contextmanager
def scripted(name: str, handler: Handler) -> Iterator[Script]:
    """A handler registered for the duration of a `with` block; then the name is back to
    what it was before (a handler registered inside the block is dropped too)."""
    previous = _SCRIPTS.get(name)
    script = register_script(name, handler)
    try:
        yield script
    finally:
        if previous is None:
            unregister_script(name)
        else:
            _SCRIPTS[name] = previous


def words(text: str) -> int:
    return len(text.split())


class ScriptedOptions(BackendOptions):
    supports_json_schema: bool = True  # whether requests may carry a JSON schema
    concurrency: int = Field(default=8, gt=0)  # the backend's default concurrency


class ScriptedBackend(ModelBackend):
    prefix = "scripted"
    options_model = ScriptedOptions
    options: ScriptedOptions

    def __init__(self, name: str, settings: BackendSettings):
        super().__init__(name, settings)
        script = _SCRIPTS.get(name)
        if script is None:
            known = ", ".join(sorted(_SCRIPTS)) or "none"
            raise SkillmixError(
                f"no scripted handler named {name!r} is registered (registered: {known})"
            )
        self.script = script
        self.supports_json_schema = self.options.supports_json_schema
        self.default_concurrency = self.options.concurrency

    @property
    def resolved_model(self) -> str:
        return f"scripted:{self.name}"

    async def generate(self, request: ModelRequest) -> ModelOutput:
        self.script.requests.append(request)
        reply = self.script.handler(request)
        if inspect.isawaitable(reply):
            reply = await reply
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, ModelOutput):
            return reply
        prompt = sum(words(message_text(message)) for message in request.messages)
        return ModelOutput(text=reply, usage=Usage(prompt, words(reply)), finish_reason="stop")

    def advise(self, error: Exception) -> RetryAdvice:
        if isinstance(error, RateLimited):
            return RetryAdvice(retry=True, rate_limited=True, wait_s=error.wait_s)
        return RetryAdvice(retry=isinstance(error, TransientError))
