"""Catalog splits a config can select.

- public / private: a seeded share of skills and of topics is "public" (10% as the paper
  released), the rest private, so a run can be confined to items no one has published.
- train / held_out: skills split by category, as in the skill-composition follow-up work
  (fine-tune on some categories, evaluate composition on the others).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from skillmix.catalog.entries import CATEGORIES, Catalog


class SplitPart(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    TRAIN = "train"
    HELD_OUT = "held_out"


class SplitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part: SplitPart
    seed: int = Field(default=0, ge=-(2**63), le=2**63 - 1, strict=True)
    public_fraction: float = Field(default=0.1, gt=0, lt=1, strict=True)
    held_out_categories: list[str] = []

    def model_post_init(self, context: object) -> None:
        unknown = [c for c in self.held_out_categories if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown} (known: {', '.join(CATEGORIES)})")
        if self.part in (SplitPart.TRAIN, SplitPart.HELD_OUT) and not self.held_out_categories:
            raise ValueError("a train/held_out split needs held_out_categories")


def _public_names(names: Sequence[str], seed: int, fraction: float) -> set[str]:
    """A seeded, stable choice: ranks names by a hash, so adding names moves few others."""
    ranked = sorted(names, key=lambda n: hashlib.sha256(f"{seed}|{n}".encode()).hexdigest())
    return set(ranked[: max(1, round(fraction * len(names)))])


def apply_split(catalog: Catalog, split: SplitConfig | None) -> Catalog:
    if split is None:
        return catalog
    if split.part in (SplitPart.TRAIN, SplitPart.HELD_OUT):
        held = set(split.held_out_categories)
        want = split.part is SplitPart.HELD_OUT
        skills = tuple(s for s in catalog.skills if (s.category in held) == want)
        return Catalog(skills=skills, topics=catalog.topics)
    public_skills = _public_names(
        [s.name for s in catalog.skills], split.seed, split.public_fraction
    )
    public_topics = _public_names(
        [t.name for t in catalog.topics], split.seed, split.public_fraction
    )
    want = split.part is SplitPart.PUBLIC
    return Catalog(
        skills=tuple(s for s in catalog.skills if (s.name in public_skills) == want),
        topics=tuple(t for t in catalog.topics if (t.name in public_topics) == want),
    )
