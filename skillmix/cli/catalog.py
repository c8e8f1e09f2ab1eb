"""`skillmix catalog ...`: validate, summarise, import and export skill and topic lists, and
the ConceptMix concept catalog."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from skillmix.catalog import (
    Skill,
    Topic,
    check_skills,
    file_kind,
    load_catalog,
    load_skills,
    load_topics,
)
from skillmix.catalog.concepts import (
    ConceptCatalog,
    is_concepts_file,
    load_concepts,
    write_concepts_yaml,
)
from skillmix.catalog.official_concepts import read_official_concepts
from skillmix.catalog.official_files import (
    read_official_skills,
    read_official_topics,
    text_notes,
)
from skillmix.cli.console import console, user_errors, warn
from skillmix.official.catalog_files import (
    write_official_skills,
    write_official_topics,
    write_skills_yaml,
    write_topics_yaml,
)
from skillmix.protocol.sampler import possible_items

catalog_app = typer.Typer(
    help="Check, summarise, import and export catalogs.", no_args_is_help=True
)

SkillsOption = Annotated[Path, typer.Option("--skills", help="Skills catalog (YAML).")]
TopicsOption = Annotated[Path, typer.Option("--topics", help="Topics catalog (YAML).")]


def read_any(path: Path) -> tuple[Skill, ...] | tuple[Topic, ...] | ConceptCatalog:
    """Our YAML files (skills, topics, concepts) or the official skills.csv / topics.txt."""
    if path.suffix == ".csv":
        return read_official_skills(path)
    if path.suffix == ".txt":
        return read_official_topics(path)
    if is_concepts_file(path):
        return load_concepts(path)
    return load_topics(path) if file_kind(path) == "topics" else load_skills(path)


@catalog_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Catalog files: YAML, or official CSV/TXT.")],
) -> None:
    """Check catalog files; exits 2 naming the file, line and field of the first problem."""
    with user_errors():
        for path in files:
            records = read_any(path)
            if isinstance(records, ConceptCatalog):
                counts = f"{len(records.categories)} categories, {records.value_count} values"
                console.print(f"{path}: {counts} OK", markup=False, highlight=False)
                continue
            skills = tuple(r for r in records if isinstance(r, Skill))
            if skills:
                check_skills(skills, path)
                _note_text(skills, path)
            kind = "skills" if skills else "topics"
            console.print(f"{path}: {len(records)} {kind} OK", markup=False, highlight=False)


def _note_text(skills: tuple[Skill, ...], path: Path) -> None:
    noted = [f"{s.name} ({'; '.join(notes)})" for s in skills if (notes := text_notes(s))]
    if noted:
        warn(
            f"{path}: {len(noted)} skills keep text a careful author may want to fix (the "
            f"prompts send it as written): {', '.join(noted)}"
        )


@catalog_app.command("stats")
def stats(
    skills: SkillsOption = Path("data/skills.yaml"),
    topics: TopicsOption = Path("data/topics.yaml"),
    k_max: Annotated[int, typer.Option("--k-max", min=1, help="Largest k to count items for.")] = 6,
) -> None:
    """Skills per category, and the number of possible items C(N,k)·T per k."""
    with user_errors():
        catalog = load_catalog(skills, topics)
    common = sum(s.common for s in catalog.skills)
    per_category = Table(
        title=f"{len(catalog.skills)} skills ({common} common), {len(catalog.topics)} topics"
    )
    per_category.add_column("category")
    per_category.add_column("skills", justify="right")
    per_category.add_column("common", justify="right")
    counts = Counter(s.category for s in catalog.skills)
    common_counts = Counter(s.category for s in catalog.skills if s.common)
    for category, count in sorted(counts.items()):
        per_category.add_row(category, str(count), str(common_counts[category]))
    console.print(per_category)
    items = Table(title="possible items C(N,k)·T")
    for column in ("k", "all skills", "without common skills"):
        items.add_column(column, justify="right")
    n_all, n_rare, n_topics = len(catalog.skills), len(catalog.skills) - common, len(catalog.topics)
    for k in range(1, k_max + 1):
        items.add_row(
            str(k),
            f"{possible_items(n_all, n_topics, k):,}",
            f"{possible_items(n_rare, n_topics, k):,}",
        )
    console.print(items)


@catalog_app.command("import")
def import_official(
    skills_csv: Annotated[Path, typer.Argument(help="The official skills.csv.")],
    topics_txt: Annotated[Path, typer.Argument(help="The official topics.txt.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for skills.yaml and topics.yaml.")],
) -> None:
    """Read the official skills.csv and topics.txt into our YAML catalog."""
    with user_errors():
        skills, topics = read_official_skills(skills_csv), read_official_topics(topics_txt)
        check_skills(skills, skills_csv)
        out.mkdir(parents=True, exist_ok=True)
        write_skills_yaml(skills, out / "skills.yaml", skills_csv.name)
        write_topics_yaml(topics, out / "topics.yaml", topics_txt.name)
    console.print(
        f"{len(skills)} skills, {len(topics)} topics -> {out}", markup=False, highlight=False
    )


@catalog_app.command("export")
def export_official(
    out: Annotated[Path, typer.Option("--out", help="Folder for skills.csv and topics.txt.")],
    skills: SkillsOption = Path("data/skills.yaml"),
    topics: TopicsOption = Path("data/topics.yaml"),
) -> None:
    """Write a catalog in the official formats (skills.csv, topics.txt)."""
    with user_errors():
        catalog = load_catalog(skills, topics)
        out.mkdir(parents=True, exist_ok=True)
        write_official_skills(catalog.skills, out / "skills.csv")
        write_official_topics(catalog.topics, out / "topics.txt")
    console.print(
        f"{len(catalog.skills)} skills, {len(catalog.topics)} topics -> {out}",
        markup=False,
        highlight=False,
    )


@catalog_app.command("import-concepts")
def import_concepts(
    config_dir: Annotated[Path, typer.Argument(help="The official ConceptMix config/ folder.")],
    out: Annotated[Path, typer.Option("--out", help="The concepts YAML file to write.")],
) -> None:
    """Read the official ConceptMix config/*.json into our concepts YAML."""
    with user_errors():
        catalog = read_official_concepts(config_dir)
        write_concepts_yaml(catalog, out, f"{config_dir.name}/*.json")
    counts = f"{len(catalog.categories)} categories, {catalog.value_count} values"
    console.print(f"{counts} -> {out}", markup=False, highlight=False)
