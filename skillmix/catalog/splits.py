"""Catalog splits a config can select.

- public / private: a seeded share of skills and of topics is "public" (10% as the paper
  released), the rest private, so a run can be confined to items no one has published.
- train / held_out: skills split by category and topics by name or by a seeded share, as in the
  skill-composition follow-up work (fine-tune on some skills and topics, evaluate composition
  on the others).

A train/held_out definition can live in a file of its own (`split: {file: FILE, part: ...}`) so
that the export of training data and the evaluation name the very same split. The file is read
when the config is; the definition is then part of the config (and of the run's identity),
with the file's name kept in `source`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from skillmix.catalog.entries import CATEGORIES, Catalog
from skillmix.errors import SkillmixError, describe_validation
from skillmix.yamlfile import load_yaml

# the keys that decide a split's parts (a split file holds these; the config chooses the part)
DEFINITION = (
    "seed",
    "public_fraction",
    "held_out_categories",
    "held_out_topics",
    "held_out_topic_fraction",
)


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
    held_out_topics: list[str] = []  # topics held out by name
    held_out_topic_fraction: float = Field(default=0.0, ge=0, lt=1, strict=True)  # and by share
    source: str | None = None  # the split file the definition was read from

    @model_validator(mode="before")
    @classmethod
    def _read_split_file(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "file" not in data:
            return data
        data = dict(data)
        path = Path(str(data.pop("file")))
        if not path.is_file():
            raise ValueError(f"split file not found: {path}")
        if given := sorted(set(data) & set(DEFINITION)):
            raise ValueError(f"give the split in its file or here, not both (here: {given})")
        return {**data, **read_split_file(path), "source": str(path)}

    def model_post_init(self, context: object) -> None:
        unknown = [c for c in self.held_out_categories if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown} (known: {', '.join(CATEGORIES)})")
        if self.is_train_held_out and not self.held_out_categories:
            raise ValueError("a train/held_out split needs held_out_categories")

    @property
    def is_train_held_out(self) -> bool:
        return self.part in (SplitPart.TRAIN, SplitPart.HELD_OUT)

    def definition(self) -> dict[str, Any]:
        """What decides the parts (not which part is chosen), as JSON-ready data."""
        return self.model_dump(mode="json", include=set(DEFINITION))

    def definition_hash(self) -> str:
        text = json.dumps(self.definition(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def describe(self) -> str:
        """One line for reports: the part and what was held out."""
        if not self.is_train_held_out:
            return f"{self.part.value} (seed {self.seed}, public {self.public_fraction:g})"
        topics = ", ".join(self.held_out_topics) or "none by name"
        share = (
            f", {self.held_out_topic_fraction:g} of topics" if self.held_out_topic_fraction else ""
        )
        return (
            f"{self.part.value} (skill categories held out: {', '.join(self.held_out_categories)}; "
            f"topics held out: {topics}{share}; split {self.definition_hash()})"
        )


def load_split(path: Path, part: SplitPart, field: str | None = None) -> SplitConfig:
    """The split a split file defines, with `part` chosen; bad input names the file."""
    try:
        return SplitConfig.model_validate({"file": str(path), "part": part})
    except ValidationError as exc:
        raise SkillmixError(describe_validation(exc)[1], file=path, field=field) from None


def read_split_file(path: Path) -> dict[str, Any]:
    """A split file: a mapping of the definition's keys (never the part, which the user of the
    split chooses)."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise SkillmixError("a split file holds a mapping of split settings", file=path)
    unknown = sorted(set(data) - set(DEFINITION))
    if unknown:
        raise SkillmixError(f"unknown keys {unknown} (known: {', '.join(DEFINITION)})", file=path)
    return data


def _public_names(names: Sequence[str], seed: int, fraction: float) -> set[str]:
    """A seeded, stable choice: ranks names by a hash, so adding names moves few others."""
    ranked = sorted(names, key=lambda n: hashlib.sha256(f"{seed}|{n}".encode()).hexdigest())
    return set(ranked[: max(1, round(fraction * len(names)))])


def held_out_skills(catalog: Catalog, split: SplitConfig) -> set[str]:
    held = set(split.held_out_categories)
    return {s.name for s in catalog.skills if s.category in held}


def held_out_topics(catalog: Catalog, split: SplitConfig) -> set[str]:
    names = [t.name for t in catalog.topics]
    held = set(split.held_out_topics)
    if split.held_out_topic_fraction:
        held |= _public_names(names, split.seed, split.held_out_topic_fraction)
    return held


def apply_split(
    catalog: Catalog, split: SplitConfig | None, source: Path | str | None = None
) -> Catalog:
    """The part of the catalog a split selects; bad input names the field (and `source`)."""
    if split is None:
        return catalog
    if split.is_train_held_out:
        return _train_held_out(catalog, split, source)
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


def _train_held_out(catalog: Catalog, split: SplitConfig, source: Path | str | None) -> Catalog:
    where = "catalog.split"
    unknown = sorted(set(split.held_out_topics) - {t.name for t in catalog.topics})
    if unknown:
        raise SkillmixError(
            f"topics not in the catalog: {unknown}", file=source, field=f"{where}.held_out_topics"
        )
    skills, topics = held_out_skills(catalog, split), held_out_topics(catalog, split)
    for part, count in (("held-out", len(skills)), ("training", len(catalog.skills) - len(skills))):
        if not count:
            raise SkillmixError(
                f"the split leaves no {part} skill (categories held out: "
                f"{', '.join(split.held_out_categories)})",
                file=source,
                field=f"{where}.held_out_categories",
            )
    want = split.part is SplitPart.HELD_OUT
    return Catalog(
        skills=tuple(s for s in catalog.skills if (s.name in skills) == want),
        topics=tuple(t for t in catalog.topics if (t.name in topics) == want),
    )
