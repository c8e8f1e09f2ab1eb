"""The package's shape: imports run one way along the pipeline, modules stay short, and the
command line starts without the heavy libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

PACKAGE = ROOT / "skillmix"
BASE = {"errors", "records"}
# unit -> the units it may import; "run.store" is the run store alone (its read API), with the
# ConceptMix tables' read API beside it
FILES = BASE | {"yamlfile", "outputs"}  # the units that read and write user files
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "records": set(),
    "yamlfile": {"errors"},
    "outputs": {"errors"},
    "catalog": FILES,
    "protocol": FILES | {"catalog"},
    "models": BASE,
    "config": FILES | {"catalog", "protocol", "models"},
    "run": FILES | {"catalog", "protocol", "models", "config"},
    "results": FILES | {"catalog", "protocol", "config", "run.store"},
    "official": FILES | {"catalog", "protocol", "config", "run.store"},
    "finetune": FILES | {"catalog", "protocol", "models", "config", "run", "results"},
    "api": FILES
    | {"catalog", "protocol", "models", "config", "run", "results", "official", "finetune"},
    "analysis": {"results"},
    "cli": FILES
    | {"catalog", "protocol", "models", "config", "run", "results", "official", "api", "finetune"},
    "__init__": {"errors", "api", "results", "analysis"},
    "__main__": {"cli"},
}
STORE_MODULES = {
    "skillmix.run.store",
    "skillmix.run.store_reading",
    "skillmix.run.conceptmix.store",
}
MAX_LINES = 400
HEAVY = (
    "pandas",
    "scipy",
    "matplotlib",
    "torch",
    "transformers",
    "numpy",
    "openai",
    "anthropic",
    "trl",
    "peft",
    "datasets",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """'skillmix.run.store' -> 'run'; 'skillmix' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(path: Path) -> list[str]:
    """The skillmix modules a file imports, anywhere in it (function-level imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [name for name in names if name.split(".")[0] == "skillmix"]
    return found


def violations(imports: dict[str, list[str]]) -> list[str]:
    """'importer -> imported' for every import against the allowed direction."""
    wrong = []
    for importer, targets in imports.items():
        unit = unit_of(importer)
        allowed = ALLOWED[unit]
        for target in targets:
            other = unit_of(target)
            if other == unit:
                continue
            store_only = other == "run" and "run.store" in allowed
            if other not in allowed and not (store_only and target in STORE_MODULES):
                wrong.append(f"{importer} -> {target}")
    return wrong


def package_imports() -> dict[str, list[str]]:
    return {module_name(p): imported_modules(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_unit_has_a_rule() -> None:
    assert {unit_of(module) for module in package_imports()} <= set(ALLOWED)


def test_imports_run_one_way() -> None:
    assert violations(package_imports()) == []


@pytest.mark.parametrize(
    ("importer", "target"),
    [
        ("skillmix.catalog.files", "skillmix.run.store"),  # a stage importing a later one
        ("skillmix.config", "skillmix.results.stats"),  # config importing statistics
        ("skillmix.results.html", "skillmix.run.runner"),  # results beyond the store's API
        ("skillmix.records", "skillmix.errors"),  # records import nothing of skillmix
        ("skillmix.models.base", "skillmix.protocol.rubric"),
    ],
)
def test_a_backward_import_is_caught(importer: str, target: str) -> None:
    imports = package_imports()
    imports[importer] = [*imports[importer], target]
    assert violations(imports) == [f"{importer} -> {target}"]


def test_no_module_is_over_the_limit() -> None:
    lengths = {module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {m: n for m, n in lengths.items() if n > MAX_LINES} == {}


def test_the_command_line_loads_no_heavy_library() -> None:
    """`skillmix --help` and `skillmix catalog validate` import skillmix.cli and nothing more."""
    script = (
        "import sys, skillmix.cli; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert [name for name in HEAVY if name in loaded] == []
