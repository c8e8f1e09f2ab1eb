"""The value types every config shares: strict models, numbers that are never true/false,
paths that are never empty."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    return value


def no_bool_values(value: Any) -> Any:
    """A mapping of numbers typed outside this module (GenerationParams, Price): no true/false."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, bool):
                raise ValueError(f"{key}: expected a number, not true/false")
    return value


def _usable_path(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    if isinstance(value, str) and "\0" in value:
        raise ValueError("must not contain a NUL character")
    return value


# Lax floats (YAML reads 1e9 as a string) but never a boolean; strict ints: no "5", 5.0 or true.
Number = Annotated[float, BeforeValidator(_not_bool)]
FilePath = Annotated[Path, BeforeValidator(_usable_path)]
