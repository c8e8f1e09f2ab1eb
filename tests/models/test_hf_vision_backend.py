"""`hf/<folder>` on a vision-language model: a tiny random LLaVA saved to a folder
(tests/helpers/tiny_vlm.py), loaded through AutoModelForImageTextToText and its processor.
It takes image parts, answers a yes/no question in one token with its logprobs, and batches
its calls (answers equal to answering alone, up to rounding of the logprobs)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from PIL import Image

from skillmix.config import ModelEntry
from skillmix.models import ChatMessage, GenerationParams, ModelRequest, create_backend
from skillmix.models.hf_vision import HFVisionBackend
from skillmix.models.images import image_part
from skillmix.protocol.conceptmix.grading import p_yes
from tests.helpers.tiny_vlm import save_tiny_vlm

QUESTIONS = ("Is there a cat?", "Is the car red?", "Is the dog on the car?", "Is it cartoon?")
COLORS = ("red", "blue", "white", "red")  # the tiny model answers these Yes or No
GRADING = GenerationParams(max_tokens=1, temperature=0, top_logprobs=5)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_vlm(tmp_path_factory.mktemp("vlm") / "llava")


def backend(folder: Path, **options: object) -> HFVisionBackend:
    entry = ModelEntry(model=f"hf/{folder}", options={"device": "cpu", **options})
    found = create_backend(entry.model, entry.settings)
    assert isinstance(found, HFVisionBackend)
    return found


def png(color: str) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, format="PNG")
    return buffer.getvalue()


def question(text: str, color: str, params: GenerationParams = GRADING) -> ModelRequest:
    messages: list[ChatMessage] = [
        {"role": "user", "content": [{"type": "text", "text": text}, image_part(png(color))]}
    ]
    return ModelRequest(messages=messages, params=params, seed=0)


def test_a_vision_folder_gets_the_vision_backend(folder: Path) -> None:
    found = backend(folder)
    assert found.accepts_images and found.gives_logprobs
    assert found.resolved_model.startswith("llava:")


def test_a_question_is_answered_in_one_token_with_its_logprobs(folder: Path) -> None:
    found = backend(folder)
    outputs = found.run_batch([question(q, c) for q, c in zip(QUESTIONS, COLORS, strict=True)])
    replies = []
    for output in outputs:
        assert not isinstance(output, Exception)
        assert output.top_logprobs is not None and len(output.top_logprobs) == 5
        token, logprob = output.top_logprobs[0]
        assert output.text == token.strip()  # the reply is the most likely first token
        assert all(logprob >= lp for _, lp in output.top_logprobs)
        assert output.usage.output_tokens == 1
        yes = p_yes(output.top_logprobs)
        assert yes is not None and 0 <= yes <= 1
        replies.append(output.text)
    assert set(replies) <= {"Yes", "No"} and len(set(replies)) == 2  # real, varied answers


def test_batched_answers_equal_answers_alone(folder: Path) -> None:
    found = backend(folder)
    requests = [question(q, c) for q, c in zip(QUESTIONS, COLORS, strict=True)]
    together = found.run_batch(requests)
    alone = [found.run_batch([r])[0] for r in requests]
    for one, many in zip(alone, together, strict=True):
        assert not isinstance(one, Exception) and not isinstance(many, Exception)
        assert one.text == many.text
        assert one.top_logprobs is not None and many.top_logprobs is not None
        for (t1, lp1), (t2, lp2) in zip(one.top_logprobs[:2], many.top_logprobs[:2], strict=True):
            assert t1 == t2 and math.isclose(lp1, lp2, abs_tol=1e-4)


def test_concurrent_questions_share_a_batch(folder: Path) -> None:
    found = backend(folder, max_batch_size=8, batch_wait_ms=200)

    async def ask() -> list[str]:
        outputs = await asyncio.gather(
            *(found.generate(question(q, c)) for q, c in zip(QUESTIONS, COLORS, strict=True))
        )
        await found.aclose()
        return [o.text for o in outputs]

    assert len(asyncio.run(ask())) == len(QUESTIONS)
    assert found.batch_sizes == [len(QUESTIONS)]


def test_a_request_to_sample_is_refused_alone(folder: Path) -> None:
    found = backend(folder)
    sampled = GenerationParams(max_tokens=1, temperature=0.7)
    first, second = found.run_batch(
        [question("Is it red?", "red", sampled), question("Is it red?", "red")]
    )
    assert isinstance(first, Exception) and "greedily" in str(first)
    assert not isinstance(second, Exception) and second.text in ("Yes", "No")
