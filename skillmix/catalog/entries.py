"""Skills, topics and the catalog they form: typed, validated records."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

CATEGORIES = (
    "rhetorical",
    "literary",
    "logical",
    "cognitive bias",
    "theory of mind",
    "pragmatics",
    "physical knowledge",
)
# Category names used by the official release, mapped onto ours.
CATEGORY_ALIASES = {
    "reasoning": "logical",
    "theory of the mind": "theory of mind",
    "physical": "physical knowledge",
    "bias": "cognitive bias",
}
MAX_LENGTH = {"name": 120, "definition": 600, "example": 1000}


def _plain(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def base_name(skill_name: str) -> str:
    """The part of a skill name before its parenthetical clarification, lower-cased."""
    return skill_name.split("(")[0].strip().lower()


class Skill(BaseModel):
    """A skill, its text exactly as its file has it (the prompts send it so); only the name
    and category lose surrounding whitespace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    category: str
    definition: str
    example: str
    common: bool = False

    @field_validator("name", "category", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("name", "definition", "example")
    @classmethod
    def _not_empty_nor_too_long(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        limit = MAX_LENGTH[str(info.field_name)]
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long, more than {limit}")
        if info.field_name == "example" and _plain(value) == _plain(
            info.data.get("definition", "")
        ):
            raise ValueError("must illustrate the skill, not repeat its definition")
        return value

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        category = CATEGORY_ALIASES.get(value.lower(), value.lower())
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {value!r} (known: {', '.join(CATEGORIES)})")
        return category

    @property
    def base_name(self) -> str:
        return base_name(self.name)


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str

    @field_validator("name")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value


@dataclass(frozen=True)
class Catalog:
    skills: tuple[Skill, ...]
    topics: tuple[Topic, ...]

    @property
    def content_hash(self) -> str:
        payload = {
            "skills": [s.model_dump() for s in self.skills],
            "topics": [t.name for t in self.topics],
        }
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def skill(self, name: str) -> Skill:
        for skill in self.skills:
            if skill.name == name:
                return skill
        raise KeyError(name)
