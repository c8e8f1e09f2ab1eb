"""The records a run produces and stores: items, token usage, generations, gradings, statuses;
for ConceptMix runs, concept items, images and verdicts.

Plain typed values with no behaviour beyond bookkeeping; the store, the runner, the results
and the official import all speak in these. Nothing here imports the rest of skillmix.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypedDict

from pydantic import BaseModel, ConfigDict, TypeAdapter


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


class TextPart(TypedDict):
    type: Literal["text"]
    text: str


class ImagePart(TypedDict):
    """An image in a message: its bytes as base64, with its true media type and its sha256
    (what the cache key and the stored request hold instead of the bytes)."""

    type: Literal["image"]
    media_type: str  # image/png, image/jpeg, image/webp, image/gif
    sha256: str
    data: str  # base64


ContentPart = TextPart | ImagePart


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str | list[ContentPart]


def message_text(message: ChatMessage) -> str:
    """A message's text: its content, or the text of its parts (images left out)."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part["text"] for part in content if part["type"] == "text")


def has_images(messages: list[ChatMessage]) -> bool:
    return any(
        not isinstance(m["content"], str) and any(p["type"] == "image" for p in m["content"])
        for m in messages
    )


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


# lists of records, validated or dumped at once by pydantic's core (the store, the frames)
GENERATIONS = TypeAdapter(list[GenerationRecord])
GRADINGS = TypeAdapter(list[GradingRecord])
ITEMS = TypeAdapter(list[Item])


# ConceptMix: k+1 visual concepts in one text-to-image prompt, one yes/no question per concept.


class Concept(BaseModel):
    model_config = ConfigDict(frozen=True)

    category: str  # object, color, number, shape, size, texture, style, spatial
    value: str


class Question(BaseModel):
    """A yes/no question about an image; its concept where known (the official items do not
    always line up their questions with their concepts)."""

    model_config = ConfigDict(frozen=True)

    text: str
    category: str | None = None
    value: str | None = None


class ConceptItem(BaseModel):
    """One text-to-image prompt of a ConceptMix run, the same for every model."""

    model_config = ConfigDict(frozen=True)

    item_id: str  # e.g. "k3-0007"
    k: int  # concepts besides the first object: the prompt holds k+1
    index: int
    prompt: str
    concepts: tuple[Concept, ...]
    questions: tuple[Question, ...]  # blank questions left out
    source: Literal["official", "generated"]
    plan: str | None = None  # a written item's completed JSON plan (official: refined config)


class WritingStatus(StrEnum):
    OK = "ok"  # written: an item
    REJECTED = "rejected"  # the writer turned down every draw (max_attempts)
    FAILED = "failed"  # a writer call failed for good; rerunning retries it


class WritingRecord(Spend):
    """How one item was written (items.generate): its draws, and what they cost."""

    item_id: str
    k: int
    status: WritingStatus
    attempts: int  # draws made, the last one written or turned down
    reason: str | None = None  # why the last draw was turned down, or the call failed


class ImageStatus(StrEnum):
    OK = "ok"  # an image to grade
    REFUSED = "refused"  # the provider refused the prompt (content policy): no image, no point
    FAILED = "failed"  # the call failed for good; rerunning retries it


class ImageRecord(Spend):
    model: str  # the text-to-image model's label
    item_id: str
    image: int  # 0 .. images_per_prompt - 1
    status: ImageStatus
    sha256: str | None = None  # the file images/<sha256[:2]>/<sha256>.<ext> of the run
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    revised_prompt: str | None = None  # what the provider says it drew from (DALL-E 3 style)
    reason: str | None = None
    response_key: str | None = None


class VerdictStatus(StrEnum):
    YES = "yes"
    NO = "no"
    UNGRADED = "ungraded"  # the grading call failed: counted and reported, never skipped


class VerdictRecord(Spend):
    model: str
    item_id: str
    image: int
    grader: str
    question: int  # index into the item's questions
    status: VerdictStatus
    p_yes: float | None = None  # P("Yes") from the first token's logprobs, where given
    reply: str | None = None
    reason: str | None = None
    response_key: str | None = None
