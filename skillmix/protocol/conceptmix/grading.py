"""The grader's side of ConceptMix: one question per call with the image, and the rule that
reads its one-token reply (officially: yes when "Yes" is in it)."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from skillmix.errors import SkillmixError
from skillmix.records import ChatMessage, ImagePart, VerdictStatus
from skillmix.yamlfile import read_text

QUESTION_FILE = "conceptmix_question.txt"
Rule = Literal["official", "first_word"]


@dataclass(frozen=True)
class QuestionTemplate:
    text: str
    source: str

    def render(self, question: str) -> str:
        return self.text.format(question=question)


def load_question_template(path: Path | None) -> QuestionTemplate:
    """The question template: ours (the official wording) or a file with {question} in it
    and no other placeholder."""
    if path is None:
        prompts = resources.files("skillmix.protocol") / "prompts" / QUESTION_FILE
        return QuestionTemplate(prompts.read_text(encoding="utf-8").rstrip("\n"), QUESTION_FILE)
    text = read_text(path).rstrip("\n")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise SkillmixError(f"bad template syntax: {exc}", file=path) from None
    if names != {"question"}:
        others = ", ".join(sorted(names - {"question"})) or "none"
        raise SkillmixError(
            f"a question template needs {{question}} and no other placeholder (found: {others})",
            file=path,
        )
    return QuestionTemplate(text, str(path))


def question_messages(
    template: QuestionTemplate, question: str, image: ImagePart
) -> list[ChatMessage]:
    """The official order: the question's text, then the image."""
    return [
        {
            "role": "user",
            "content": [{"type": "text", "text": template.render(question)}, image],
        }
    ]


def verdict_of(reply: str, rule: Rule) -> VerdictStatus:
    if rule == "official":
        yes = "Yes" in reply
    else:
        words = reply.strip().split()
        yes = bool(words) and words[0].strip(string.punctuation).lower() == "yes"
    return VerdictStatus.YES if yes else VerdictStatus.NO


def p_yes(top_logprobs: tuple[tuple[str, float], ...] | None) -> float | None:
    """P("Yes") as VQAScore reads it: the probability of the yes tokens among the first
    token's alternatives (0 when none is yes); None without logprobs."""
    if top_logprobs is None:
        return None
    return sum(math.exp(lp) for token, lp in top_logprobs if token.strip().lower() == "yes")
