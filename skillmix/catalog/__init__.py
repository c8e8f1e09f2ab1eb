"""The skill and topic catalog: records, our YAML files, and splits of it."""

from skillmix.catalog.entries import CATEGORIES, Catalog, Skill, Topic, base_name
from skillmix.catalog.files import (
    check_skills,
    file_kind,
    load_catalog,
    load_skills,
    load_topics,
    naming_conflicts,
)

__all__ = [
    "CATEGORIES",
    "Catalog",
    "Skill",
    "Topic",
    "base_name",
    "check_skills",
    "file_kind",
    "load_catalog",
    "load_skills",
    "load_topics",
    "naming_conflicts",
]
