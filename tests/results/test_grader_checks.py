"""Self-preference flags and length bias per grader."""

from __future__ import annotations

import pytest

from skillmix.config import ModelEntry
from skillmix.results.grader_checks import model_family, self_preference


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("openai/gpt-4o-mini", "gpt"),
        ("openai/o3-mini", "gpt"),
        ("imported/gpt-4", "gpt"),
        ("anthropic/claude-3-5-sonnet-latest", "claude"),
        ("hf/meta-llama/Llama-3.1-8B-Instruct", "llama"),
        ("vllm/Qwen/Qwen2.5-7B-Instruct", "qwen"),
        ("llamacpp/smollm2", "smollm"),
    ],
)
def test_model_families(model: str, family: str) -> None:
    assert model_family(model) == family


def test_a_grader_of_the_student_s_family_is_flagged() -> None:
    students = [ModelEntry(model="openai/gpt-4o-mini"), ModelEntry(model="vllm/Qwen/Qwen2.5-7B")]
    graders = [ModelEntry(model="openai/gpt-4o", name="judge"), ModelEntry(model="anthropic/x")]
    assert self_preference(students, graders) == [
        "grader judge grades openai/gpt-4o-mini, of its own family (gpt): self-preference may "
        "raise that student's scores"
    ]
