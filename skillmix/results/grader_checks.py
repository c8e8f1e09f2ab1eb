"""What may bias a grader: a student of its own model family (self-preference), and answer
length (a grader that rewards longer answers)."""

from __future__ import annotations

import re

import pandas as pd

from skillmix.config import ModelEntry
from skillmix.results.analysis import length_and_score
from skillmix.results.build import RunResults
from skillmix.results.frames import frames_of

# the families of the models a run names: the first word of the model name, with aliases
FAMILY_ALIASES = {"o1": "gpt", "o3": "gpt", "o4": "gpt", "chatgpt": "gpt", "meta": "llama"}


def model_family(model: str) -> str:
    """'openai/gpt-4o-mini' -> 'gpt'; 'anthropic/claude-3-5-sonnet' -> 'claude'."""
    name = model.split("/", 1)[-1].rsplit("/", 1)[-1].lower()
    match = re.match(r"[a-z]+\d?", name)
    word = match.group(0) if match else name
    return FAMILY_ALIASES.get(word, re.sub(r"\d$", "", word))


def self_preference(students: list[ModelEntry], graders: list[ModelEntry]) -> list[str]:
    """One line per grader that grades a student of its own family."""
    return [
        f"grader {grader.label} grades {student.label}, of its own family "
        f"({model_family(grader.model)}): self-preference may raise that student's scores"
        for grader in graders
        for student in students
        if model_family(grader.model) == model_family(student.model)
    ]


def length_bias(every: list[RunResults]) -> pd.DataFrame:
    """Per grader and student: Spearman's rho of answer length (words) with skill fraction."""
    frames = []
    for results in every:
        table = length_and_score(frames_of(results))
        table.insert(0, "grader", results.config.grader.label)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)
