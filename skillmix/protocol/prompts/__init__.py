"""Prompt templates: our own text files, or the official repository's JSON prompt lists.

Templates use Python format placeholders. The official code's names render exactly as the
official code renders them: {topic}, {skills_str}, {skills_defs_and_examples_simple}
("**name**: definition For example, example" per line), {skills_defs}, {skills_defs_and_examples},
{num_skills}, {num_skills_str}, {num_sentences}, {num_sentences_str}, {student_answer} and
{rubric_items}. Ours: {skill_list} ("- name: definition Example: example" per line),
{skill_list_brief} (without the examples), {rubric_list}, {answer_tag} and {reply_format}.
A placeholder is the bare name: no conversion (!r) and no format spec (:>10), which could fail
or blow up only when the run renders the template.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from skillmix.catalog import Catalog, Skill
from skillmix.errors import SkillmixError
from skillmix.protocol.rubric import number_in_words, sentence_limit, sentences_in_words
from skillmix.records import Item
from skillmix.yamlfile import read_text

OFFICIAL_SKILL_LISTS = frozenset(
    {"skills_str", "skills_defs_and_examples_simple", "skills_defs", "skills_defs_and_examples"}
)
SKILL_LISTS = OFFICIAL_SKILL_LISTS | {"skill_list", "skill_list_brief"}
PLACEHOLDERS = SKILL_LISTS | {
    "topic",
    "num_skills",
    "num_skills_str",
    "num_sentences",
    "num_sentences_str",
    "student_answer",
    "rubric_items",
    "rubric_list",
    "answer_tag",
    "reply_format",
}
# Per role, groups of placeholders of which the template must use at least one each.
REQUIRED: dict[str, tuple[frozenset[str], ...]] = {
    "student_turn1": (frozenset({"topic"}), SKILL_LISTS),
    "grader": (frozenset({"student_answer"}), frozenset({"rubric_items", "rubric_list"})),
}


@dataclass(frozen=True)
class Template:
    text: str
    source: str

    def render(self, **values: str) -> str:
        return self.text.format(**values)

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.text) if name)

    def require(self, role: str) -> None:
        """Refuse a template its role cannot work with (a grader never shown the answer)."""
        for group in REQUIRED.get(role, ()):
            if not group & self.placeholders:
                wanted = " or ".join(f"{{{name}}}" for name in sorted(group))
                raise SkillmixError(f"a {role} template needs {wanted}", file=self.source)


def _check_placeholders(text: str, source: str) -> None:
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text)]
    except ValueError as exc:
        raise SkillmixError(f"bad template syntax: {exc}", file=source) from None
    for name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            known = ", ".join(sorted(PLACEHOLDERS))
            raise SkillmixError(f"unknown placeholder {{{name}}} (known: {known})", file=source)
        if conversion or spec:
            extra = f"!{conversion}" if conversion else f":{spec}"
            raise SkillmixError(
                f"placeholder {{{name}}} has a conversion or format spec ({extra!r}): write "
                f"plain {{{name}}} (and {{{{ or }}}} for a literal brace)",
                file=source,
            )


def _template(text: str, source: str) -> Template:
    if not text.strip():
        raise SkillmixError("the template is empty", file=source)
    _check_placeholders(text, source)
    return Template(text=text.rstrip("\n"), source=source)


def load_template(path: Path, index: int = 0) -> Template:
    """A .txt file is one template; a .json file is the official list of strings."""
    if not path.is_file():
        raise SkillmixError("template file not found", file=path)
    raw = read_text(path)
    if path.suffix != ".json":
        return _template(raw, str(path))
    try:
        parts = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SkillmixError(f"invalid JSON: {exc.msg} (line {exc.lineno})", file=path) from None
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise SkillmixError("expected a JSON list of prompt strings", file=path)
    if index >= len(parts):
        raise SkillmixError(
            f"needs at least {index + 1} prompt strings, has {len(parts)}", file=path
        )
    return _template(parts[index], f"{path}[{index}]")


def builtin(name: str) -> Template:
    text = resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return _template(text, f"skillmix/prompts/{name}.txt")


@dataclass(frozen=True)
class PromptSet:
    student_turn1: Template
    student_turn2: Template
    grader: Template
    reply_table: Template
    reply_json: Template

    def __post_init__(self) -> None:
        for role in REQUIRED:
            template: Template = getattr(self, role)
            template.require(role)

    @property
    def content_hash(self) -> str:
        texts = [
            self.student_turn1,
            self.student_turn2,
            self.grader,
            self.reply_table,
            self.reply_json,
        ]
        return hashlib.sha256("\0".join(t.text for t in texts).encode()).hexdigest()[:16]


def skill_lines(skills: list[Skill], *, with_examples: bool) -> str:
    """Our own list: one '- name: definition Example: example' line per skill."""
    lines = []
    for skill in skills:
        line = f"- {skill.name}: {skill.definition}"
        lines.append(f"{line} Example: {skill.example}" if with_examples else line)
    return "\n".join(lines)


def official_skill_lists(skills: list[Skill]) -> dict[str, str]:
    """The official code's three renderings of the skills, text exactly as the catalog has it."""
    return {
        "skills_defs_and_examples": "\n".join(
            f"Skill: {s.name}\nDefinition: {s.definition}\nExample: {s.example}" for s in skills
        ),
        "skills_defs_and_examples_simple": "\n".join(
            f"**{s.name}**: {s.definition} For example, {s.example}" for s in skills
        ),
        "skills_defs": "\n".join(f"**{s.name}**: {s.definition}" for s in skills),
    }


def item_values(item: Item, catalog: Catalog) -> dict[str, str]:
    """The placeholder values every template of an item can use."""
    skills = [catalog.skill(name) for name in item.skills]
    limit = sentence_limit(item.k)
    return {
        "topic": item.topic,
        "skills_str": ", ".join(item.skills),
        **official_skill_lists(skills),
        "skill_list": skill_lines(skills, with_examples=True),
        "skill_list_brief": skill_lines(skills, with_examples=False),
        "num_skills": str(item.k),
        "num_skills_str": number_in_words(item.k),
        "num_sentences": str(limit),
        "num_sentences_str": sentences_in_words(limit),
    }
