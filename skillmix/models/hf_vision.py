"""`hf/<folder>` for a vision-language model (its config has a vision_config): the model and
its processor in process through transformers (AutoModelForImageTextToText, AutoProcessor and
the processor's chat template), batched like the text models of hf.py.

Image parts of a request go to the processor as pictures in order; text parts and string
contents as text. Decoding is greedy (a grader's temperature 0; a request asking to sample is
refused), the reply its generated tokens up to max_tokens, and with top_logprobs the first
token's most likely alternatives from its logits, so that P(Yes) is read as from an API.
Rows in a batch are left-padded: a row's logits may differ from its logits alone in the last
bits (about 1e-6), which can only turn a verdict at a near-tie.
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor, GenerationConfig

from skillmix.errors import BackendError
from skillmix.models.base import BackendSettings, ModelOutput, ModelRequest, parse_options
from skillmix.models.batching import LOADING, BatchingBackend
from skillmix.models.folders import folder_identity, model_folder
from skillmix.models.hf import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BATCH_WAIT_MS,
    DEFAULT_MAX_TOKENS,
    DTYPES,
    HFOptions,
    out_of_memory,
)
from skillmix.records import ChatMessage, Usage


@dataclass(frozen=True)
class Prompt:
    text: str
    images: list[Image.Image]
    max_new_tokens: int
    top_logprobs: int | None


def processor_messages(messages: list[ChatMessage]) -> tuple[list[dict[str, Any]], list[Any]]:
    """The messages as a processor's chat template takes them, and their pictures in order."""
    chat: list[dict[str, Any]] = []
    pictures: list[Any] = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            chat.append({"role": message["role"], "content": [{"type": "text", "text": content}]})
            continue
        parts: list[dict[str, Any]] = []
        for part in content:
            if part["type"] == "image":
                data = base64.b64decode(part["data"])
                pictures.append(Image.open(io.BytesIO(data)).convert("RGB"))
                parts.append({"type": "image"})
            else:
                parts.append({"type": "text", "text": part["text"]})
        chat.append({"role": message["role"], "content": parts})
    return chat, pictures


class HFVisionBackend(BatchingBackend):
    prefix = "hf"
    supports_json_schema = False
    accepts_images = True
    gives_logprobs = True
    options_model = HFOptions
    options: HFOptions

    def __init__(self, name: str, settings: BackendSettings):
        self.device = torch.device(parse_options(HFOptions, settings.options).device)
        batch_size = DEFAULT_BATCH_SIZE[self.device.type]
        super().__init__(name, settings, batch_size, DEFAULT_BATCH_WAIT_MS)
        dtype = self.options.dtype or ("bfloat16" if self.device.type == "cuda" else "float32")
        self.dtype = DTYPES[dtype]
        self.folder = model_folder(self.prefix, name)
        self._resolved = folder_identity(self.folder, dtype)
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()
        self.batch_sizes: list[int] = []  # batches run, in order (for tests, benchmarks)

    @property
    def resolved_model(self) -> str:
        return self._resolved

    def _load(self) -> tuple[Any, Any]:
        with LOADING:
            if self._loaded is None:
                if self.options.threads:
                    torch.set_num_threads(self.options.threads)
                path = str(self.folder)
                processor = AutoProcessor.from_pretrained(  # type: ignore[no-untyped-call, unused-ignore]
                    path, local_files_only=True
                )
                processor.tokenizer.padding_side = "left"
                model: Any = AutoModelForImageTextToText.from_pretrained(
                    path, local_files_only=True, dtype=self.dtype
                )
                model.to(self.device)
                model.eval()
                self._loaded = (processor, model)
        return self._loaded

    def prompt(self, processor: Any, request: ModelRequest) -> Prompt:
        params = request.params
        if params.temperature:
            raise BackendError("a vision model in process decodes greedily: set temperature 0")
        chat, pictures = processor_messages(request.messages)
        text = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        return Prompt(text, pictures, params.max_tokens or DEFAULT_MAX_TOKENS, params.top_logprobs)

    def run_batch(self, requests: list[ModelRequest]) -> list[ModelOutput | BackendError]:
        with self._lock, torch.inference_mode():
            processor, model = self._load()
            self.batch_sizes.append(len(requests))
            results: list[ModelOutput | BackendError | None] = []
            prompts: list[Prompt] = []
            for request in requests:
                try:
                    prompts.append(self.prompt(processor, request))
                    results.append(None)  # decoded below
                except BackendError as exc:
                    results.append(exc)
            decoded = iter(self._decode(processor, model, prompts) if prompts else [])
            return [next(decoded) if result is None else result for result in results]

    def _decode(self, processor: Any, model: Any, prompts: list[Prompt]) -> list[ModelOutput]:
        pictures = [picture for prompt in prompts for picture in prompt.images]
        inputs = processor(
            text=[p.text for p in prompts],
            images=pictures or None,
            padding=True,
            return_tensors="pt",
        ).to(self.device)
        tokenizer = processor.tokenizer
        generation = GenerationConfig(  # type: ignore[no-untyped-call, unused-ignore]
            max_new_tokens=max(p.max_new_tokens for p in prompts),
            do_sample=False,
            num_beams=1,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            output_scores=True,
            return_dict_in_generate=True,
        )
        found = model.generate(**inputs, generation_config=generation)
        width = inputs["input_ids"].shape[1]
        first = found.scores[0].float().log_softmax(-1)
        outputs = []
        for row, prompt in enumerate(prompts):
            tokens = found.sequences[row, width : width + prompt.max_new_tokens].tolist()
            if tokenizer.eos_token_id in tokens:
                tokens = tokens[: tokens.index(tokenizer.eos_token_id)]
            alternatives = None
            if prompt.top_logprobs:
                top = first[row].topk(prompt.top_logprobs)
                alternatives = tuple(
                    (tokenizer.decode([token]), float(value))
                    for token, value in zip(top.indices.tolist(), top.values.tolist(), strict=True)
                )
            outputs.append(
                ModelOutput(
                    text=tokenizer.decode(tokens, skip_special_tokens=True),
                    usage=Usage(int(inputs["attention_mask"][row].sum()), len(tokens)),
                    finish_reason="length" if len(tokens) == prompt.max_new_tokens else "stop",
                    top_logprobs=alternatives,
                )
            )
        return outputs

    def release(self) -> None:
        with self._lock:
            self._loaded = None

    def batch_error(self, exc: Exception) -> Exception:
        return out_of_memory(exc)
