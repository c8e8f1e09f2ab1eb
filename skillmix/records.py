"""The records a run produces and stores: items, token usage, generations, gradings, statuses.

Plain typed values with no behaviour beyond bookkeeping; the store, the runner, the results
and the official import all speak in these. Nothing here imports the rest of skillmix.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypedDict

from pydantic import BaseModel, ConfigDict


class GenerationStatus(StrEnum):
    OK = "ok"  # an answer to grade
    EMPTY = "empty"  # the student answered nothing: every point is 0, no grader call
    FAILED = "failed"  # a model call failed for good; rerunning retries it


class GradingStatus(StrEnum):
    SCORED = "scored"
    UNSCORED = "unscored"  # the grader's reply could not be read onto the rubric
    FAILED = "failed"  # the grader call failed for good


class OutcomeStatus(StrEnum):
    """What a generation or an item amounts to in the results."""

    SCORED = "scored"
    UNSCORED = "unscored"
    FAILED = "failed"
    PENDING = "pending"  # not run yet (budget reached, killed run)


class Item(BaseModel):
    """k skills and a topic: one prompt of the benchmark, the same for every student."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    k: int
    index: int
    skills: tuple[str, ...]  # in prompt order
    topic: str
    has_common_skill: bool


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


class Spend(BaseModel):
    """Tokens and dollars behind a record (all its calls, cached ones included)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0  # None when a call's price is unknown

    def add(self, usage: Usage, cost: float | None) -> None:
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cost_usd = None if cost is None or self.cost_usd is None else self.cost_usd + cost


class GenerationRecord(Spend):
    student: str
    item_id: str
    gen: int
    status: GenerationStatus
    answer: str | None = None
    reason: str | None = None
    turn1_key: str | None = None
    turn2_key: str | None = None


Points = dict[str, int]  # rubric key ("skill:<name>", "topic", "sense", "sentences") -> 0 or 1


class GradingRecord(Spend):
    student: str
    item_id: str
    gen: int
    grader: str
    grading: int
    status: GradingStatus
    points: Points | None = None  # after the sentence rule and naming penalty
    grader_points: Points | None = None  # as the grader gave them
    reason: str | None = None
    reply: str | None = None
    response_key: str | None = None
    attempts: int = 1
