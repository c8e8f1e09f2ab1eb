"""The k+3 item rubric: one point per skill, then topic, sense and length."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ONES = (
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
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


class Criterion(StrEnum):
    SKILL = "skill"
    TOPIC = "topic"
    SENSE = "sense"
    SENTENCES = "sentences"


class RubricWording(StrEnum):
    """How the skill criteria are worded to the grader (the other three read the same)."""

    AUTO = "auto"  # the official wording for an official grader prompt file, else ours
    SKILLMIX = "skillmix"  # "Correctly illustrates <name>", the name as the catalog has it
    GPT4 = "gpt-4"  # the official GPT-4 grader's: "Correctly illustrates <name, lower-cased>"
    LLAMA2 = "llama-2"  # the official LLaMA-2 grader's: "Contains <name, lower-cased>"


@dataclass(frozen=True)
class RubricItem:
    key: str  # stable id: "skill:<name>", "topic", "sense", "sentences"
    kind: Criterion
    text: str  # the wording shown to the grader
    skill: str | None = None


def sentence_limit(k: int) -> int:
    return max(1, k - 1)


def number_in_words(n: int) -> str:
    """English words for 0..999, hyphenated as 'twenty-one' (as the official code's inflect)."""
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + (f"-{ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{ONES[hundreds]} hundred" + (f" and {number_in_words(rest)}" if rest else "")
    return str(n)


def sentences_in_words(n: int) -> str:
    return f"{number_in_words(n)} sentence{'' if n == 1 else 's'}"


def _skill_text(name: str, wording: RubricWording) -> str:
    if wording is RubricWording.LLAMA2:
        return f"Contains {name.strip().lower()}"
    if wording is RubricWording.GPT4:
        return f"Correctly illustrates {name.strip().lower()}"
    return f"Correctly illustrates {name}"


def build_rubric(
    skills: tuple[str, ...], topic: str, wording: RubricWording = RubricWording.SKILLMIX
) -> list[RubricItem]:
    limit = sentences_in_words(sentence_limit(len(skills)))
    items = [RubricItem(f"skill:{s}", Criterion.SKILL, _skill_text(s, wording), s) for s in skills]
    items.append(RubricItem("topic", Criterion.TOPIC, f"Pertains to {topic}"))
    items.append(RubricItem("sense", Criterion.SENSE, "Text makes sense"))
    items.append(RubricItem("sentences", Criterion.SENTENCES, f"At most {limit}"))
    return items
