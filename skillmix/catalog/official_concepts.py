"""The official ConceptMix config (config/*.json, one file per category) read into our concept
catalog. Each file is {"category", "description": template, "skill": {value: template or ""}};
an empty value template falls back to the category's. Their placeholders map onto ours."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from skillmix.catalog.concept_templates import CONCEPT_CATEGORIES, allowed_placeholders
from skillmix.catalog.concepts import ConceptCatalog, ConceptCategory, check_category
from skillmix.errors import SkillmixError, describe_validation
from skillmix.yamlfile import read_text

# the official placeholders -> ours
OFFICIAL_PLACEHOLDERS = {
    "skill": "value",
    "skills": "values",
    "object": "object",
    "objects": "objects",
    "ObjectA": "a",
    "ObjectB": "b",
}
KEYS = ("category", "description", "skill")


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"duplicate key {key!r}")
        result[key] = value
    return result


def read_json(path: Path) -> Any:
    """A JSON file's data; malformed JSON is one line naming the file and the line."""
    text = read_text(path)
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates)
    except json.JSONDecodeError as exc:
        raise SkillmixError(
            f"malformed JSON: {exc.msg}", file=path, field=f"line {exc.lineno}"
        ) from None
    except _DuplicateKey as exc:
        raise SkillmixError(str(exc), file=path) from None
    except RecursionError:
        raise SkillmixError("JSON nested too deeply", file=path) from None


def _our_template(text: str, category: str, path: Path, where: str) -> str:
    """An official template with its placeholders renamed to ours."""
    allowed = {
        o for o, ours in OFFICIAL_PLACEHOLDERS.items() if ours in allowed_placeholders(category)
    }
    out = ""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise SkillmixError(f"malformed placeholder ({exc})", file=path, field=where) from None
    for literal, name, spec, conv in parsed:
        out += literal.replace("{", "{{").replace("}", "}}")
        if name is None:
            continue
        if name not in allowed or spec or conv:
            known = ", ".join(f"{{{n}}}" for n in sorted(allowed))
            message = f"unknown placeholder {{{name}}} for {category} (allowed: {known})"
            raise SkillmixError(message, file=path, field=where)
        out += f"{{{OFFICIAL_PLACEHOLDERS[name]}}}"
    return out


def _official_field(rel: str, names: list[str]) -> str:
    """Our field (relative to a category) as the official file's field."""
    found = re.match(r"values\[(\d+)\]", rel)
    if found:
        return f"skill.{names[int(found.group(1))]}"
    return {"name": "category", "statement": "description", "values": "skill"}.get(rel, rel)


def _checked_mapping(data: Any, path: Path) -> tuple[str, str, dict[str, str]]:
    if not isinstance(data, dict):
        raise SkillmixError("expected a JSON object", file=path)
    for key in KEYS:
        if key not in data:
            raise SkillmixError("required key is missing", file=path, field=key)
    for key in ("category", "description"):
        if not isinstance(data[key], str):
            raise SkillmixError("must be a string", file=path, field=key)
    if data["category"] not in CONCEPT_CATEGORIES:
        known = ", ".join(CONCEPT_CATEGORIES)
        message = f"unknown category {data['category']!r} (known: {known})"
        raise SkillmixError(message, file=path, field="category")
    if not isinstance(data["skill"], dict):
        raise SkillmixError("must be an object {value: description}", file=path, field="skill")
    for value, text in data["skill"].items():
        if not isinstance(text, str):
            message = 'must be a string (the value\'s description, or "")'
            raise SkillmixError(message, file=path, field=f"skill.{value}")
    return data["category"], data["description"], data["skill"]


def read_official_category(path: Path) -> ConceptCategory:
    name, description, skills = _checked_mapping(read_json(path), path)
    values = [
        {"name": value, "statement": _our_template(text, name, path, f"skill.{value}")}
        if text.strip()
        else {"name": value}
        for value, text in skills.items()
    ]
    statement = _our_template(description, name, path, "description")
    names = list(skills)
    try:
        category = ConceptCategory.model_validate(
            {"name": name, "statement": statement, "values": values}
        )
    except ValidationError as exc:
        rel, message = describe_validation(exc)
        raise SkillmixError(message, file=path, field=_official_field(rel, names)) from None
    problem = check_category(category)
    if problem is not None:
        rel, message = problem
        raise SkillmixError(message, file=path, field=_official_field(rel, names))
    return category


def read_official_concepts(config_dir: Path) -> ConceptCatalog:
    """Every config/*.json, as our catalog (categories in our canonical order)."""
    if not config_dir.is_dir():
        raise SkillmixError("folder not found", file=config_dir)
    paths = sorted(p for p in config_dir.iterdir() if p.suffix == ".json" and p.is_file())
    if not paths:
        raise SkillmixError("no .json files", file=config_dir)
    found: dict[str, tuple[ConceptCategory, Path]] = {}
    for path in paths:
        category = read_official_category(path)
        if category.name in found:
            message = (
                f"duplicate category {category.name!r} (also in {found[category.name][1].name})"
            )
            raise SkillmixError(message, file=path, field="category")
        found[category.name] = (category, path)
    if "object" not in found:
        raise SkillmixError("no file of category 'object'", file=config_dir)
    ordered = [found[name][0] for name in CONCEPT_CATEGORIES if name in found]
    return ConceptCatalog(categories=tuple(ordered))
