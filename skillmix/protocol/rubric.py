"""The k+3 item rubric: one point per skill, then topic, sense and length."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
)


class Criterion(StrEnum):
    SKILL = "skill"
    TOPIC = "topic"
    SENSE = "sense"
    SENTENCES = "sentences"


@dataclass(frozen=True)
class RubricItem:
    key: str  # stable id: "skill:<name>", "topic", "sense", "sentences"
    kind: Criterion
    text: str  # the wording shown to the grader
    skill: str | None = None


def sentence_limit(k: int) -> int:
    return max(1, k - 1)


def sentences_in_words(n: int) -> str:
    word = NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n)
    return f"{word} sentence" if n == 1 else f"{word} sentences"


def build_rubric(skills: tuple[str, ...], topic: str) -> list[RubricItem]:
    limit = sentences_in_words(sentence_limit(len(skills)))
    items = [
        RubricItem(f"skill:{s}", Criterion.SKILL, f"Correctly illustrates {s}", s) for s in skills
    ]
    items.append(RubricItem("topic", Criterion.TOPIC, f"Pertains to {topic}"))
    items.append(RubricItem("sense", Criterion.SENSE, "Text makes sense"))
    items.append(RubricItem("sentences", Criterion.SENTENCES, f"At most {limit}"))
    return items
