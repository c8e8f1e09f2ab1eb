"""ConceptMix outcomes: one per (model, item, image), from the stored items, images and verdicts.

Rules:

- scored: an image was drawn and the grader answered every question Yes or No. It is a full
  mark when every answer is Yes; its concept fraction is its Yes answers over its questions.
- refused: the provider refused the prompt (content policy). That is the model's failure: the
  image counts in every rate as an image with 0 questions satisfied (no full mark, every
  question No, in the per-category accuracy too).
- failed: the image call failed for good. The image is left out of the rates (a rerun retries
  it) and counted in the `failed` column of every table, never silently dropped.
- incomplete: an image whose questions are not all answered: some grading call failed for
  good (`ungraded`, counted in the `ungraded` column) or some question is not graded yet
  (counted as `pending`). Left out of the rates.
- pending: no image record yet (budget reached, killed run). Left out of the rates, counted.
- An item with no questions cannot be graded: it is left out, and counted (`empty_items`).

Only the verdicts of the run's grader count, for question indices the item holds. The images
of an item are 0 .. images_per_prompt - 1, and any other index a record holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from skillmix.records import (
    ConceptItem,
    ImageRecord,
    ImageStatus,
    VerdictRecord,
    VerdictStatus,
)

UNALIGNED = "unaligned"  # the category of a question whose concept is not known


class ImageOutcomeStatus(StrEnum):
    SCORED = "scored"
    REFUSED = "refused"
    FAILED = "failed"
    PENDING = "pending"
    INCOMPLETE = "incomplete"


IN_RATES = (ImageOutcomeStatus.SCORED, ImageOutcomeStatus.REFUSED)


@dataclass(frozen=True)
class ImageOutcome:
    """One image of a model for an item: what it amounts to, with the verdict per question
    (None: not graded; always None for an image that was not drawn)."""

    model: str
    item: ConceptItem
    image: int
    status: ImageOutcomeStatus
    record: ImageRecord | None
    verdicts: tuple[VerdictRecord | None, ...]
    full_mark: bool | None  # None: left out of the rates (failed, pending, incomplete)
    yes: int  # questions answered Yes
    graded: int  # questions answered Yes or No
    ungraded: int  # questions whose grading call failed for good

    @property
    def questions(self) -> int:
        return len(self.item.questions)

    @property
    def in_rates(self) -> bool:
        return self.status in IN_RATES

    @property
    def awaiting(self) -> bool:
        """Counted as pending: not drawn yet, or drawn and not fully graded yet (and no grading
        call of it failed)."""
        incomplete = self.status == ImageOutcomeStatus.INCOMPLETE
        return self.status == ImageOutcomeStatus.PENDING or (incomplete and self.ungraded == 0)

    def satisfied(self) -> list[bool]:
        """Per question, whether it counts as satisfied in the rates (refused: none)."""
        return [v is not None and v.status == VerdictStatus.YES for v in self.verdicts]


@dataclass(frozen=True)
class Outcomes:
    images: list[ImageOutcome]  # in model, k, item index, image order
    empty_items: tuple[ConceptItem, ...]  # items with no question, left out


def _status(
    record: ImageRecord | None, verdicts: Sequence[VerdictRecord | None]
) -> ImageOutcomeStatus:
    if record is None:
        return ImageOutcomeStatus.PENDING
    if record.status == ImageStatus.REFUSED:
        return ImageOutcomeStatus.REFUSED
    if record.status == ImageStatus.FAILED:
        return ImageOutcomeStatus.FAILED
    answered = all(v is not None and v.status != VerdictStatus.UNGRADED for v in verdicts)
    return ImageOutcomeStatus.SCORED if answered else ImageOutcomeStatus.INCOMPLETE


def image_outcome(
    model: str,
    item: ConceptItem,
    image: int,
    record: ImageRecord | None,
    verdicts: tuple[VerdictRecord | None, ...],
) -> ImageOutcome:
    drawn = record is not None and record.status == ImageStatus.OK
    shown = verdicts if drawn else tuple(None for _ in item.questions)
    status = _status(record, shown)
    statuses = [v.status for v in shown if v is not None]
    yes = statuses.count(VerdictStatus.YES)
    graded = yes + statuses.count(VerdictStatus.NO)
    full_mark = None
    if status == ImageOutcomeStatus.SCORED:
        full_mark = yes == len(item.questions)
    elif status == ImageOutcomeStatus.REFUSED:
        full_mark = False
    ungraded = statuses.count(VerdictStatus.UNGRADED)
    return ImageOutcome(model, item, image, status, record, shown, full_mark, yes, graded, ungraded)


def model_labels(configured: Sequence[str], images: Sequence[ImageRecord]) -> list[str]:
    """The configured models in order, then any other model the records hold (sorted)."""
    extra = sorted({r.model for r in images} - set(configured))
    return [*dict.fromkeys(configured), *extra]


def build_outcomes(
    items: Sequence[ConceptItem],
    images: Sequence[ImageRecord],
    verdicts: Sequence[VerdictRecord],
    grader: str,
    *,
    models: Sequence[str] = (),
    images_per_prompt: int = 1,
) -> Outcomes:
    """One outcome per (model, item, image) under the rules of this module's docstring; the
    models are `models` then any other model the image records name."""
    by_image = {(r.model, r.item_id, r.image): r for r in images}
    drawn: dict[tuple[str, str], set[int]] = defaultdict(set)
    for model, item_id, index in by_image:
        drawn[(model, item_id)].add(index)
    answers = {(v.model, v.item_id, v.image, v.question): v for v in verdicts if v.grader == grader}
    ordered = sorted(items, key=lambda item: (item.k, item.index, item.item_id))
    graded_items = [item for item in ordered if item.questions]
    found: list[ImageOutcome] = []
    for model in model_labels(models, images):
        for item in graded_items:
            indices = drawn[(model, item.item_id)] | set(range(images_per_prompt))
            for image in sorted(indices):
                key = (model, item.item_id, image)
                per_question = tuple(answers.get((*key, q)) for q in range(len(item.questions)))
                found.append(image_outcome(model, item, image, by_image.get(key), per_question))
    return Outcomes(found, tuple(item for item in ordered if not item.questions))
