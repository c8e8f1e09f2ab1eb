"""The bad-input contract for ConceptMix runs (`suite: conceptmix`): every bad config, concept
catalog, official item file or grader choice ends `skillmix eval` with one `error: ` line
naming the file and the field, exit 2, and a finished ConceptMix run store in the output
directory byte-identical, with nothing new written anywhere.

The store is a real run (fixture items, loopback Images API and grader), made once."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from skillmix.cli import app
from tests.helpers.configs import write_config
from tests.helpers.paths import ROOT
from tests.helpers.runs import snapshot, tree
from tests.helpers.wire_servers import running_server

FIXTURE_ITEMS = ROOT / "tests" / "fixtures" / "conceptmix" / "sentence_collection"
CONCEPTS = ROOT / "data" / "concepts.yaml"
NOWHERE = "http://127.0.0.1:9/v1"  # the discard port: no case gets as far as a call
ANTHROPIC_GRADER = {"model": "anthropic/claude-sonnet-4-5", "base_url": "http://127.0.0.1:9"}
NEED_VLLM_ABSENT = ("model-backend-not-installed", "grader-backend-not-installed")
NEED_DIFFUSERS = ("model-folder-no-pipeline",)
WRITER = {"model": "openai/gpt-4o", "base_url": NOWHERE}


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def items(self) -> Path:
        return self.root / "items"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def config(self) -> Path:
        return self.root / "cm.yaml"

    def item_file(self, k: int) -> Path:
        return self.items / f"300_sentences_k={k}.json"

    def base_config(self, base_url: str = NOWHERE) -> dict[str, Any]:
        return {
            "name": "cm",
            "suite": "conceptmix",
            "output_dir": str(self.run_dir),
            "concepts": str(self.root / "concepts.yaml"),
            "items": {"official": str(self.items)},
            "k": [1, 2],
            "models": [{"model": "openai-images/gpt-image-1", "base_url": base_url, "options": {}}],
            "grader": {"model": "openai/gpt-4o", "base_url": base_url},
        }


def make_workspace(root: Path) -> Workspace:
    ws = Workspace(root)
    shutil.copytree(FIXTURE_ITEMS, ws.items)
    shutil.copy(CONCEPTS, root / "concepts.yaml")
    return ws


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished ConceptMix run of the fixture's k = 1, 2 items."""
    ws = make_workspace(tmp_path_factory.mktemp("finished"))
    with running_server() as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", "test")
        write_config(ws.config, ws.base_config(f"{server.base_url}/v1"))
        result = CliRunner().invoke(app, ["eval", str(ws.config), "--quiet"])
    assert result.exit_code == 0, result.output
    return ws.run_dir


@pytest.fixture
def workspace(tmp_path: Path, finished_run: Path) -> Workspace:
    ws = make_workspace(tmp_path)
    shutil.copytree(finished_run, ws.run_dir)
    write_config(ws.config, ws.base_config())
    return ws


Setup = Callable[[Workspace], list[str]]  # changes the workspace; returns what must be named


def assign(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    target: Any = config
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value


def config_change(changes: dict[str, Any], *named: str) -> Setup:
    """The config with these dotted keys set; the error names what `named` holds."""

    def setup(ws: Workspace) -> list[str]:
        config = ws.base_config()
        for dotted, value in changes.items():
            assign(config, dotted, value)
        write_config(ws.config, config)
        return list(named)

    return setup


def config_value(dotted: str, value: Any, field: str, *words: str) -> Setup:
    """One config key set; the error names the config file, the field and the words."""
    change = config_change({dotted: value}, field, *words)
    return lambda ws: [str(ws.config), *change(ws)]


def item_entries(k: int, change: Callable[[list[Any]], object], *named: str) -> Setup:
    """The fixture's item file for k, its parsed JSON changed in place."""

    def setup(ws: Workspace) -> list[str]:
        path = ws.item_file(k)
        entries = json.loads(path.read_text("utf-8"))
        change(entries)
        path.write_text(json.dumps(entries), encoding="utf-8")
        return [str(path), *named]

    return setup


def item_text(k: int, text: str, *named: str) -> Setup:
    def setup(ws: Workspace) -> list[str]:
        ws.item_file(k).write_text(text, encoding="utf-8")
        return [str(ws.item_file(k)), *named]

    return setup


def concepts_text(change: Callable[[str], str], *named: str) -> Setup:
    def setup(ws: Workspace) -> list[str]:
        path = ws.root / "concepts.yaml"
        path.write_text(change(path.read_text("utf-8")), encoding="utf-8")
        return [str(path), *named]

    return setup


def question_template(text: str | None, *named: str) -> Setup:
    """grading.template set to a file with this text (None: a missing file)."""

    def setup(ws: Workspace) -> list[str]:
        path = ws.root / "question.txt"
        if text is not None:
            path.write_text(text, encoding="utf-8")
        config = ws.base_config()
        config["grading"] = {"template": str(path)}
        write_config(ws.config, config)
        return [str(path), *named]

    return setup


def set_field(key: str, value: object) -> Callable[[list[Any]], object]:
    return lambda entries: entries[0].__setitem__(key, value)


def other_config(ws: Workspace) -> list[str]:
    """The same output directory, but another grader: another run's directory."""
    config = ws.base_config()
    config["grader"]["model"] = "openai/gpt-4.1"
    write_config(ws.config, config)
    return [str(ws.run_dir), "grader", "--new-run"]


def skill_mix_config(ws: Workspace) -> list[str]:
    config = {
        "name": "sm",
        "output_dir": str(ws.run_dir),
        "k": [1],
        "items_per_k": 1,
        "students": [{"model": "llamacpp/smollm2"}],
        "grader": {"model": "llamacpp/smollm2"},
    }
    write_config(ws.config, config)
    return [str(ws.run_dir), "holds a ConceptMix run"]


def written(**generate: Any) -> dict[str, Any]:
    """The config changes that write the items (items.generate) with this writer setup."""
    return {"items": {"generate": {"writer": WRITER, **generate}}, "items_per_k": 2}


CASES: dict[str, Setup] = {
    "suite-misspelled": config_value("suite", "conceptmx", "suite"),
    "k-empty": config_value("k", [], "k", "at least 1"),
    "k-without-items": config_change({"k": [1, 4]}, "300_sentences_k=4.json", "not found"),
    "k-bool": config_value("k", [True], "k", "valid integer"),
    "items-per-k-beyond-file": config_change(
        {"items_per_k": 5}, "300_sentences_k=1.json", "holds 4 items", "items_per_k"
    ),
    "images-per-prompt-zero": config_value("images_per_prompt", 0, "images_per_prompt", "0"),
    "unknown-key": config_value("colour", "red", "colour", "unknown key"),
    "unknown-grading-key": config_value("grading", {"rules": "official"}, "grading.rules"),
    "unknown-rule": config_value("grading", {"rule": "loose"}, "grading.rule", "'official'"),
    "no-items-folder": config_change(
        {"items.official": "/no/such/dir"}, "/no/such/dir", "folder not found"
    ),
    "models-empty": config_value("models", [], "models", "at least 1"),
    "model-unknown": config_value("models.0.model", "nosuch/x", "models[0].model", "nosuch/x"),
    "model-is-a-text-model": config_value(
        "models.0.model", "openai/gpt-4o", "models[0].model", "not a text-to-image model"
    ),
    "model-backend-not-installed": config_value(
        "models.0.model", "vllm/some-t2i", "models[0]", "needs vLLM"
    ),
    "model-bad-size": config_value("models.0.options", {"size": "huge"}, "models[0].options.size"),
    "model-folder-no-pipeline": lambda ws: [
        str(ws.config),
        "models[0]",
        "model_index.json",
        *config_change({"models.0": {"model": f"diffusers/{ws.items}"}})(ws),
    ],
    "model-unknown-option": config_value(
        "models.0.options", {"steps": 4}, "models[0].options", "steps"
    ),
    "image-over-the-grader-limit": config_change(
        {"grader": ANTHROPIC_GRADER, "models.0.options": {"size": "9000x9000"}},
        "models[0].options.size",
        "8000 px",
    ),
    "grader-takes-no-images": config_value(
        "grader.model", "llamacpp/smollm2", "grader.model", "vision-language"
    ),
    "grader-backend-not-installed": config_value(
        "grader.model", "vllm/llava", "grader", "needs vLLM"
    ),
    "grader-without-logprobs": config_change(
        {"grader": ANTHROPIC_GRADER, "grading": {"logprobs": True}}, "grading.logprobs"
    ),
    "budget-zero": config_value("budget_usd", 0, "budget_usd", "greater than 0"),
    "price-bool": config_value(
        "prices", {"openai/gpt-4o": {"input": True, "output": 1}}, "prices", "true/false"
    ),
    "item-unknown-concept": item_entries(
        1, lambda e: e[0]["skills"].__setitem__(1, "ultraviolet"), "[0]", "ultraviolet"
    ),
    "item-unknown-category": item_entries(
        1, lambda e: e[0]["categories"].__setitem__(1, "smell"), "[0]", "smell"
    ),
    "item-no-questions": item_entries(1, lambda e: e[0].pop("question"), "[0]", "question"),
    "item-empty-sentence": item_entries(1, set_field("sentence", " "), "[0].sentence", "empty"),
    "item-skills-not-a-list": item_entries(2, set_field("skills", "cat"), "[0].skills"),
    "item-file-not-json": item_text(1, '[{"index": 1, "sentence": ', "JSON"),
    "item-file-not-a-list": item_text(2, '{"index": 1}', "list"),
    "concepts-unknown-category": concepts_text(
        lambda text: text.replace("name: color", "name: colour", 1), "colour"
    ),
    "concepts-yaml-syntax": concepts_text(lambda text: text + "\n  - [unclosed\n", "YAML"),
    "template-missing": question_template(None, "cannot read"),
    "template-without-question": question_template("Is it so? Yes or No.", "{question}"),
    "items-without-a-source": config_value("items", {}, "items", "exactly one"),
    "items-with-both-sources": config_change(
        {"items.generate": {"writer": WRITER}}, "items", "exactly one"
    ),
    "written-items-without-a-count": config_value(
        "items", {"generate": {"writer": WRITER}}, "items_per_k", "items.generate"
    ),
    "writer-makes-images": config_change(
        written(writer={"model": "openai-images/gpt-image-1", "base_url": NOWHERE}),
        "items.generate.writer.model",
        "text model",
    ),
    "writer-unknown-backend": config_change(
        written(writer={"model": "nosuch/x"}), "items.generate.writer.model", "nosuch/x"
    ),
    "writer-unknown-quirk": config_change(
        written(quirks={"style_cap": True}), "items.generate.quirks.style_cap"
    ),
    "writer-no-attempts": config_change(
        written(max_attempts=0), "items.generate.max_attempts", "greater than 0"
    ),
    "writer-object-prob-above-one": config_change(
        written(object_prob=1.5), "items.generate.object_prob"
    ),
    "written-k-beyond-the-catalog": config_change(
        {**written(), "k": [8]}, "k", "non-object categories"
    ),
    "written-items-on-an-official-run": lambda ws: [
        str(ws.run_dir),
        *config_change(written(), "items.generate", "--new-run")(ws),
    ],
    "another-run-in-the-directory": other_config,
    "skill-mix-config-on-this-run": skill_mix_config,
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_conceptmix_input_is_one_line_and_touches_nothing(
    workspace: Workspace, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if name in NEED_VLLM_ABSENT and importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    if name in NEED_DIFFUSERS and importlib.util.find_spec("diffusers") is None:
        pytest.skip("the images extra is not installed")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    named = CASES[name](workspace)
    before, files = snapshot(workspace.run_dir), tree(workspace.root)
    result = CliRunner().invoke(app, ["eval", str(workspace.config)])
    shown = f"exit {result.exit_code}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    assert isinstance(result.exception, SystemExit), f"{result.exception!r}\n{shown}"
    assert result.exit_code == 2, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    for text in named:
        assert text in lines[0], f"{text!r} not named\n{shown}"
    assert snapshot(workspace.run_dir) == before, "the run store changed"
    assert tree(workspace.root) == files, "a file was written"


def test_the_finished_run_is_a_conceptmix_run(finished_run: Path) -> None:
    """The cases above guard a real store: images on disk and a verdict per question."""
    assert sum(1 for _ in (finished_run / "images").rglob("*.png")) == 8
    config = yaml.safe_load((finished_run.parent / "cm.yaml").read_text("utf-8"))
    assert config["suite"] == "conceptmix"
