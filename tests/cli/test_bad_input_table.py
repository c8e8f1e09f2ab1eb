"""The bad-input contract, case by case: every bad config, catalog, template or command line ends
the command with one `error: ` line naming the file (or option), exit 2, no traceback, and the
run store already in the workspace byte-identical, with nothing new written anywhere.

No case gets as far as loading a model: they all fail while the run is being validated.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.config import parse_config
from skillmix.official.run_import import import_official_run
from skillmix.run.store import DB_NAME
from tests.cli.test_bad_input import SKILLS, TOPICS, Workspace
from tests.helpers.paths import FIXTURES, SHARED_REFERENCE
from tests.helpers.runs import tree


@dataclass(frozen=True)
class Invocation:
    args: list[str]
    named: list[str]  # each must appear in the error line: the file first, then what is wrong


Setup = Callable[[Workspace], Invocation]
Content = str | bytes
IMPORTED_STUDENT = "imported/tiny-chat"  # a model of the run store every workspace starts with
NOWHERE = "http://127.0.0.1:9/v1"  # the discard port


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run store with results (imported from the official-format fixture: no model)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    import_official_run([FIXTURES / "official_run"], out)
    return out


@pytest.fixture
def workspace(tmp_path: Path, finished_run: Path) -> Workspace:
    ws = Workspace(
        root=tmp_path,
        skills=tmp_path / "my_skills.yaml",
        topics=tmp_path / "my_topics.yaml",
        output_dir=tmp_path / "run",
        config=tmp_path / "my_config.yaml",
    )
    ws.write_skills(SKILLS)
    ws.topics.write_text(yaml.safe_dump({"topics": TOPICS}), encoding="utf-8")
    ws.write_config()
    shutil.copytree(finished_run, ws.output_dir)
    return ws


def _write(path: Path, content: Content) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _field(dotted: str) -> str:
    """'students.0.retries' -> 'students[0].retries', as the error line writes it."""
    out = ""
    for part in dotted.split("."):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _assign(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    target: Any = config
    for part in parents:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value


def _eval(ws: Workspace, file: Path, *named: str) -> Invocation:
    return Invocation(["eval", str(ws.config)], [str(file), *named])


# --- the kinds of case ---------------------------------------------------------------------


def config_value(dotted: str, value: Any, *named: str) -> Setup:
    """The valid workspace config with one value set (dotted path: students.0.base_url)."""

    def setup(ws: Workspace) -> Invocation:
        config = ws.base_config()
        _assign(config, dotted, value)
        ws.write_config(config)
        return _eval(ws, ws.config, _field(dotted), *named)

    return setup


def config_update(values: dict[str, Any], *named: str) -> Setup:
    def setup(ws: Workspace) -> Invocation:
        ws.write_config(**values)
        return _eval(ws, ws.config, *named)

    return setup


def config_without(key: str) -> Setup:
    def setup(ws: Workspace) -> Invocation:
        config = ws.base_config()
        del config[key]
        ws.write_config(config)
        return _eval(ws, ws.config, key, "required")

    return setup


def config_text(make: Callable[[str], Content], *named: str) -> Setup:
    """The config file written by hand: `make` gets the valid config's YAML text."""

    def setup(ws: Workspace) -> Invocation:
        _write(ws.config, make(ws.config.read_text(encoding="utf-8")))
        return _eval(ws, ws.config, *named)

    return setup


def catalog_file(which: str, content: Content, *named: str) -> Setup:
    def setup(ws: Workspace) -> Invocation:
        path = ws.skills if which == "skills" else ws.topics
        _write(path, content)
        return _eval(ws, path, *named)

    return setup


def skills(entries: list[dict[str, Any]], *named: str) -> Setup:
    def setup(ws: Workspace) -> Invocation:
        ws.write_skills(entries)
        return _eval(ws, ws.skills, *named)

    return setup


def template(key: str, name: str, content: Content | None, *named: str) -> Setup:
    """A template file named in the config's prompts (key: grader, student_turn1, ...);
    no content: the file is missing."""

    def setup(ws: Workspace) -> Invocation:
        path = ws.root / name if content is None else _write(ws.root / name, content)
        ws.write_config(prompts={key: str(path)})
        return _eval(ws, path, *named)

    return setup


def validate(name: str, content: Content, *named: str) -> Setup:
    """`skillmix catalog validate` on one file."""

    def setup(ws: Workspace) -> Invocation:
        path = _write(ws.root / name, content)
        return Invocation(["catalog", "validate", str(path)], [str(path), *named])

    return setup


def stored_config(command: str, dotted: str, value: Any, *options: str) -> Setup:
    """A run store whose stored configuration has a value this version refuses."""

    def setup(ws: Workspace) -> Invocation:
        with closing(sqlite3.connect(ws.output_dir / DB_NAME)) as db, db:
            (text,) = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
            config = json.loads(text)
            _assign(config, dotted, value)
            db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
        args = [command, str(ws.output_dir), *(option.format(root=ws.root) for option in options)]
        return Invocation(args, [str(ws.output_dir / DB_NAME), _field(dotted), "this version"])

    return setup


def official_records(content: Content, *named: str) -> Setup:
    """`skillmix import-official` on the fixture run with one student's records.csv replaced."""

    def setup(ws: Workspace) -> Invocation:
        source = Path(shutil.copytree(FIXTURES / "official_run", ws.root / "official"))
        records = _write(source / "k2_s7_vdefault_r1" / "tiny-student" / "records.csv", content)
        args = ["import-official", str(source), "--out", str(ws.root / "imported")]
        return Invocation(args, [str(records), *named])

    return setup


def command(make: Callable[[Workspace], list[str]], *named: str) -> Setup:
    """Command-line misuse: `named` may use {run}, {root}, {skills} and {topics}."""

    def setup(ws: Workspace) -> Invocation:
        (ws.root / "folder").mkdir()
        places = {
            "run": str(ws.output_dir),
            "root": str(ws.root),
            "skills": str(ws.skills),
            "topics": str(ws.topics),
        }
        return Invocation(make(ws), [text.format(**places) for text in named])

    return setup


def regrade(ws: Workspace) -> list[str]:
    """A re-grade of the workspace's run by a local server's model (never reached)."""
    return ["regrade", str(ws.output_dir), "--grader", "openai/x", "--base-url", NOWHERE]


def calibrate(ws: Workspace) -> list[str]:
    return ["calibrate", "--grader", "openai/x", "--base-url", NOWHERE, "--out", str(ws.root / "c")]


# --- inputs ----------------------------------------------------------------------------------

NOT_UTF8 = b"name: caf\xe9\n"
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
BOMB = "".join(
    f"    l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9) if n else 'lol'}]\n" for n in range(8)
)
TOO_MANY_ALIASES = "    a: &a 1\n    b: [" + ", ".join(["*a"] * 101) + "]\n"


def with_options(options_yaml: str) -> Callable[[str], str]:
    """The valid config with `options:` (YAML text) under its first student."""

    def make(text: str) -> str:
        return text.replace(
            "students:\n- model: llamacpp/smollm2\n",
            f"students:\n- model: llamacpp/smollm2\n  options:\n{options_yaml}",
        )

    return make


def skill(name: str, **fields: str) -> dict[str, Any]:
    return {**SKILLS[0], "name": name, **fields}


CONFLICTING = [skill("irony", category="rhetorical"), skill("dramatic irony"), SKILLS[2]]
OFFICIAL_HEADER = "category,skill,definition,example,comments,status,added by\n"
OFFICIAL_ROW = 'literary,metaphor,One thing as another.,"The room was a zoo.",,keep,\n'
OFFICIAL_PROMPTS = SHARED_REFERENCE / "skill-mix-official" / "prompts"

CONFIG_VALUES = [
    ("rubric-wording-unknown", "rubric_wording", "gpt-5", "'gpt-4'"),
    ("answer-extraction-unknown", "answer_extraction", "loose", "'official'"),
    ("items-per-k-huge", "items_per_k", 10**12, "less than or equal to 100000"),
    ("items-per-k-zero", "items_per_k", 0, "greater than 0"),
    ("items-per-k-bool", "items_per_k", True, "valid integer"),
    ("items-per-k-string", "items_per_k", "5", "valid integer"),
    ("items-per-k-float", "items_per_k", 2.5, "valid integer"),
    ("generations-huge", "generations", 10**9, "100"),
    ("generations-zero", "generations", 0, "greater than 0"),
    ("generations-bool", "generations", True, "valid integer"),
    ("gradings-huge", "gradings", 10**9, "100"),
    ("gradings-bool", "gradings", False, "valid integer"),
    ("grader-retries-huge", "grader_retries", 21, "20"),
    ("grader-retries-negative", "grader_retries", -1, "greater than or equal to 0"),
    ("k-bool", "k", [True], "valid integer"),
    ("k-bool-later", "k", [1, False], "valid integer"),
    ("k-float", "k", [1.5], "valid integer"),
    ("k-value-huge", "k", [101], "at most 100"),
    ("k-too-many-values", "k", list(range(1, 52)), "at most 50"),
    ("k-empty", "k", [], "at least 1 item"),
    ("k-repeated", "k", [2, 2], "unique"),
    ("k-zero", "k", [0], "at least 1"),
    ("seed-huge", "seed", 2**64, "less than or equal to"),
    ("seed-bool", "seed", True, "valid integer"),
    ("seed-string", "seed", "zero", "valid integer"),
    ("students-empty", "students", [], "at least 1 item"),
    ("students-too-many", "students", [{"model": "llamacpp/smollm2"}] * 101, "at most 100"),
    ("concurrency-huge", "students.0.max_concurrency", 10_001, "10000"),
    ("concurrency-zero", "students.0.max_concurrency", 0, "greater than 0"),
    ("concurrency-bool", "grader.max_concurrency", True, "valid integer"),
    ("retries-huge", "students.0.retries", 101, "100"),
    ("retries-bool", "grader.retries", True, "valid integer"),
    ("timeout-bool", "students.0.timeout_s", True, "not true/false"),
    ("timeout-huge", "students.0.timeout_s", 1e9, "86400"),
    ("backoff-huge", "students.0.backoff_s", 1e7, "3600"),
    ("base-url-words", "students.0.base_url", "not a url", "http"),
    ("base-url-ftp", "students.0.base_url", "ftp://x", "ftp://x"),
    ("base-url-no-host", "students.0.base_url", "http://", "host"),
    ("base-url-no-scheme", "grader.base_url", "localhost:8080", "http"),
    ("base-url-bad-port", "students.0.base_url", "http://host:99999", "http"),
    ("replicas-none", "students.0.base_url", [], "at least one URL"),
    ("replicas-twice", "students.0.base_url", ["http://127.0.0.1:1/v1"] * 2, "listed twice"),
    ("replicas-one-bad", "grader.base_url", ["http://127.0.0.1:1/v1", "ftp://x"], "ftp://x"),
    ("replicas-in-process", "students.0.base_url", ["http://127.0.0.1:1/v1"], "in process"),
    ("output-dir-empty", "output_dir", "", "must not be empty"),
    ("output-dir-blank", "output_dir", "   ", "must not be empty"),
    ("output-dir-nul", "output_dir", "run\0x", "NUL"),
    ("catalog-path-empty", "catalog.skills", "", "must not be empty"),
    ("prompt-path-empty", "prompts.grader", "", "must not be empty"),
    ("split-needs-categories", "catalog.split", {"part": "train"}, "held_out_categories"),
    ("split-seed-bool", "catalog.split", {"part": "public", "seed": True}, "seed"),
    ("split-fraction-bool", "catalog.split", {"part": "public", "public_fraction": True}, "number"),
    ("novelty-bool", "novelty.corpus_pieces", True, "not true/false"),
    ("budget-bool", "budget_usd", True, "not true/false"),
    ("budget-zero", "budget_usd", 0, "greater than 0"),
    ("common-skills-unknown", "common_skills", "sometimes", "scoring"),
    ("max-tokens-zero", "students.0.params.max_tokens", 0, "greater than 0"),
    ("max-tokens-bool", "students.0.params", {"max_tokens": True}, "max_tokens: expected a"),
    ("temperature-bool", "grader.params", {"temperature": False}, "temperature: expected a"),
    ("price-bool", "prices", {"openai/x": {"input": True, "output": 1}}, "not true/false"),
    ("unknown-key", "colour", "red", "unknown key"),
    ("batch-size-zero", "batch", {"size": 0}, "greater than or equal to 1"),
    ("batch-done-share-one", "batch", {"cancel_done_share": 1}, "less than 1"),
    ("batch-stragglers-unknown", "batch", {"stragglers": "later"}, "'realtime'"),
    ("batch-poll-bool", "batch", {"poll_s": True}, "not true/false"),
    ("batch-in-process", "students.0", {"model": "llamacpp/smollm2", "batch": True}, "openai/"),
    (
        "batch-flex-anthropic",
        "grader",
        {"model": "anthropic/claude-3-5-haiku", "batch": {"stragglers": "flex"}},
        "flex is OpenAI's",
    ),
    ("unknown-model", "students.0.model", "nosuch/model", "nosuch/model"),
]


def _cases(kind: str, *cases: tuple[str, Setup]) -> list[Any]:
    return [pytest.param(setup, id=f"{kind}-{name}") for name, setup in cases]


CONFIG_CASES = _cases(
    "config",
    *((name, config_value(path, value, words)) for name, path, value, words in CONFIG_VALUES),
    ("k-beyond-catalog", config_value("k", [4], "k=4")),
    ("no-output-dir", config_without("output_dir")),
    ("no-items-per-k", config_without("items_per_k")),
    (
        "too-many-items",
        config_update(
            {"k": list(range(1, 12)), "items_per_k": 100_000}, "items_per_k", "1,000,000"
        ),
    ),
    ("not-utf8", config_text(lambda t: NOT_UTF8, "not UTF-8")),
    ("binary", config_text(lambda t: BINARY, "not UTF-8")),
    ("nul-character", config_text(lambda t: t + "# \0\n", "binary")),
    ("yaml-syntax", config_text(lambda t: t + "k: [1, 2\n", "YAML syntax error", "line ")),
    ("duplicate-key", config_text(lambda t: t + "seed: 1\n", "duplicate key 'seed'", "line ")),
    (
        "duplicate-nested-key",
        config_text(
            lambda t: t.replace(
                "- model: llamacpp/smollm2\n",
                "- model: llamacpp/smollm2\n  model: llamacpp/smollm2\n",
                1,
            ),
            "duplicate key 'model'",
        ),
    ),
    ("alias-bomb-in-options", config_text(with_options(BOMB), "expand", "line ")),
    ("too-many-aliases", config_text(with_options(TOO_MANY_ALIASES), "aliases", "line ")),
    ("recursive-alias", config_text(with_options("    a: &a [*a]\n"), "contains it")),
    (
        "nested-too-deep",
        config_text(lambda t: t + "x: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ),
    (
        "int-too-long",
        config_text(lambda t: t.replace("seed: 0", "seed: " + "9" * 5000), "unreadable YAML value"),
    ),
    ("not-a-mapping", config_text(lambda t: "- a\n- b\n", "mapping")),
    ("empty-file", config_text(lambda t: "", "mapping")),
    ("two-documents", config_text(lambda t: t + "---\nname: x\n", "YAML")),
)
CATALOG_CASES = _cases(
    "catalog",
    ("skills-not-utf8", catalog_file("skills", NOT_UTF8, "not UTF-8")),
    ("skills-binary", catalog_file("skills", BINARY, "not UTF-8")),
    ("skills-nul", catalog_file("skills", "skills: []\n# \0\n", "binary")),
    ("skills-yaml-syntax", catalog_file("skills", "skills: [\n", "YAML syntax")),
    (
        "skills-duplicate-key",
        catalog_file(
            "skills",
            yaml.safe_dump({"skills": SKILLS}).replace(
                "  name: metaphor\n", "  name: metaphor\n  name: simile\n"
            ),
            "duplicate key 'name'",
            "line ",
        ),
    ),
    ("skills-alias-bomb", catalog_file("skills", "skills:\n  - name: x\n" + BOMB, "expand")),
    ("skills-not-a-list", catalog_file("skills", "skills: metaphor\n", "'skills:' list")),
    ("skills-empty", catalog_file("skills", "skills: []\n", "no skills")),
    ("skills-naming-conflict", skills(CONFLICTING, "'irony' inside 'dramatic irony'")),
    ("skills-duplicate-name", skills([*SKILLS, skill("Metaphor")], "duplicate skill name")),
    ("skills-unknown-category", skills([skill("x", category="cuisine")], "unknown category")),
    (
        "skills-no-example",
        skills(
            [{k: v for k, v in SKILLS[0].items() if k != "example"}],
            "skills[0] (red herring).example",
        ),
    ),
    (
        "skills-example-is-definition",
        skills([skill("x", example=SKILLS[0]["definition"])], "must illustrate"),
    ),
    ("skills-name-too-long", skills([skill("x" * 121)], "more than 120")),
    ("topics-not-utf8", catalog_file("topics", NOT_UTF8, "not UTF-8")),
    ("topics-duplicate", catalog_file("topics", "topics: [Sewing, sewing]\n", "duplicate")),
    (
        "topics-duplicate-key",
        catalog_file("topics", "topics: [Sewing]\ntopics: [Knots]\n", "duplicate key 'topics'"),
    ),
    ("topics-empty", catalog_file("topics", "topics: []\n", "no topics")),
)
TEMPLATE_CASES = _cases(
    "template",
    ("nested-format-spec", template("grader", "g.txt", "{student_answer:{rubric_list}}", "spec")),
    ("unknown-conversion", template("grader", "g.txt", "{student_answer!z} {rubric_list}", "!z")),
    ("conversion", template("grader", "g.txt", "{student_answer!r} {rubric_list}", "!r")),
    ("huge-width", template("student_turn2", "t2.txt", "{topic:>999999999}", ">999999999")),
    ("empty", template("grader", "g.txt", "", "empty")),
    ("blank", template("student_turn2", "t2.txt", "  \n\n", "empty")),
    (
        "grader-without-answer",
        template("grader", "g.txt", "Grade {rubric_list}", "{student_answer}"),
    ),
    (
        "grader-without-rubric",
        template("grader", "g.txt", "Grade {student_answer}", "{rubric_items} or {rubric_list}"),
    ),
    ("turn1-without-topic", template("student_turn1", "t1.txt", "Show {skills_str}", "{topic}")),
    (
        "turn1-without-skills",
        template("student_turn1", "t1.txt", "Write on {topic}", "{skills_str}"),
    ),
    (
        "unknown-placeholder",
        template("student_turn1", "t1.txt", "{topic} {skills_str} {colour}", "{colour}"),
    ),
    ("positional-placeholder", template("student_turn2", "t2.txt", "Shorten {}", "{}")),
    ("attribute-placeholder", template("student_turn2", "t2.txt", "{topic.upper}", "topic.upper")),
    ("unbalanced-brace", template("student_turn2", "t2.txt", "Shorten {topic", "syntax")),
    ("reply-format-spec", template("reply_format", "r.txt", "Table {rubric_list:^9}", "spec")),
    ("not-utf8", template("grader", "g.txt", b"{student_answer} \xff", "not UTF-8")),
    ("binary", template("student_turn2", "t2.txt", BINARY, "not UTF-8")),
    ("nul-character", template("student_turn2", "t2.txt", "{topic}\0", "binary")),
    ("missing-file", template("grader", "g.txt", None, "not found")),
    ("json-not-utf8", template("student", "s.json", b'["\xff", "b"]', "not UTF-8")),
    ("json-syntax", template("student", "s.json", '["a", ', "invalid JSON")),
    ("json-not-strings", template("student", "s.json", '{"a": 1}', "list of prompt strings")),
    ("json-one-turn", template("student", "s.json", '["{topic} {skills_str}"]', "at least 2")),
    (
        "json-turn1-without-skills",
        template(
            "student",
            "s.json",
            '["Write on {topic}", "Shorten to {num_sentences_str}"]',
            "s.json[0]",
            "{skills_str}",
        ),
    ),
    ("json-grader-empty", template("grader", "g.json", '[""]', "g.json[0]", "empty")),
    (
        "json-format-spec",
        template("grader", "g.json", '["{student_answer:>9} {rubric_items}"]', "spec"),
    ),
)
VALIDATE_CASES = _cases(
    "validate",
    (
        "yaml-naming-conflict",
        validate("s.yaml", yaml.safe_dump({"skills": CONFLICTING}), "'irony' inside"),
    ),
    ("yaml-not-utf8", validate("s.yaml", NOT_UTF8, "not UTF-8")),
    ("yaml-duplicate-key", validate("t.yaml", "topics: [a]\ntopics: [b]\n", "duplicate key")),
    (
        "csv-not-utf8",
        validate("skills.csv", OFFICIAL_HEADER.encode() + b"literary,caf\xe9\n", "not UTF-8"),
    ),
    ("csv-binary", validate("skills.csv", BINARY, "not UTF-8")),
    ("csv-nul", validate("skills.csv", OFFICIAL_HEADER + "literary,a\0b,c,d,,keep,\n", "binary")),
    (
        "csv-missing-columns",
        validate("skills.csv", "skill,definition\nx,y\n", "line 1", "category"),
    ),
    (
        "csv-bad-row",
        validate(
            "skills.csv",
            OFFICIAL_HEADER + OFFICIAL_ROW + "cuisine,x,A dish.,Soup.,,keep,\n",
            "line 3",
            "cuisine",
        ),
    ),
    (
        "csv-naming-conflict",
        validate(
            "skills.csv",
            OFFICIAL_HEADER + OFFICIAL_ROW + OFFICIAL_ROW.replace("metaphor", "extended metaphor"),
            "'metaphor' inside",
        ),
    ),
    ("txt-not-utf8", validate("topics.txt", b"Sewing\nCaf\xe9\n", "not UTF-8")),
    ("txt-binary", validate("topics.txt", BINARY, "not UTF-8")),
    (
        "missing-file",
        command(
            lambda ws: ["catalog", "validate", str(ws.root / "nope.yaml")],
            "{root}/nope.yaml",
            "not found",
        ),
    ),
)
OFFICIAL_CASES = _cases(
    "official",
    ("records-not-utf8", official_records(b"k,skills,topic\n2,\xff\xfe,Knots\n", "not UTF-8 text")),
    ("records-binary", official_records(BINARY, "CSV")),
    ("records-no-columns", official_records("a,b\n1,2\n", "no column k")),
    (
        "not-an-official-run",
        command(
            lambda ws: ["import-official", str(ws.root / "folder"), "--out", str(ws.root / "o")],
            "{root}/folder",
            "official run",
        ),
    ),
    (
        "missing-folder",
        command(
            lambda ws: ["import-official", str(ws.root / "nope"), "--out", str(ws.root / "o")],
            "{root}/nope",
            "not a folder",
        ),
    ),
    (
        "import-csv-not-utf8",
        command(
            lambda ws: [
                "catalog",
                "import",
                str(_write(ws.root / "s.csv", NOT_UTF8)),
                str(ws.topics),
                "--out",
                str(ws.root / "o"),
            ],
            "{root}/s.csv",
            "not UTF-8",
        ),
    ),
)
CLI_CASES = _cases(
    "cli",
    (
        "compare-unknown-model",
        command(
            lambda ws: ["compare", str(ws.output_dir), "--a", "nosuch", "--b", IMPORTED_STUDENT],
            "{run}",
            "'nosuch'",
        ),
    ),
    (
        "compare-unknown-metric",
        command(
            lambda ws: [
                "compare",
                str(ws.output_dir),
                "--a",
                IMPORTED_STUDENT,
                "--b",
                "imported/tiny-student",
                "--metric",
                "speed",
            ],
            "--metric",
            "'speed'",
        ),
    ),
    (
        "compare-no-store",
        command(
            lambda ws: ["compare", str(ws.root / "folder"), "--a", "x", "--b", "y"],
            "{root}/folder",
            "no run store",
        ),
    ),
    (
        "export-no-output",
        command(lambda ws: ["export", str(ws.output_dir)], "--csv", "--jsonl", "--parquet"),
    ),
    (
        "export-jsonl-two-runs",
        command(
            lambda ws: [
                "export",
                str(ws.output_dir),
                str(ws.output_dir),
                "--jsonl",
                str(ws.root / "o.jsonl"),
            ],
            "--jsonl",
            "one run directory",
        ),
    ),
    (
        "export-jsonl-two-runs-with-csv",  # refused before the CSV is written
        command(
            lambda ws: [
                *("export", str(ws.output_dir), str(ws.output_dir)),
                *("--csv", str(ws.root / "o.csv"), "--jsonl", str(ws.root / "o.jsonl")),
            ],
            "--jsonl",
            "one run directory",
        ),
    ),
    (
        "export-parquet-two-runs",
        command(
            lambda ws: [
                *("export", str(ws.output_dir), str(ws.output_dir)),
                *("--parquet", str(ws.root / "frames")),
            ],
            "--parquet",
            "one run directory",
        ),
    ),
    (
        "export-parquet-onto-a-file",
        command(
            lambda ws: [
                *("export", str(ws.output_dir)),
                *("--parquet", str(ws.output_dir / "run.sqlite")),
            ],
            "{run}/run.sqlite",
            "names a folder",
        ),
    ),
    ("usage-unknown-command", command(lambda ws: ["evaluate"], "skillmix:", "'evaluate'")),
    (
        "usage-unknown-option",
        command(
            lambda ws: ["report", str(ws.output_dir), "--htm", "x"], "skillmix report", "--htm"
        ),
    ),
    ("usage-missing-argument", command(lambda ws: ["eval"], "skillmix eval", "'config'")),
    ("usage-k-zero", command(lambda ws: ["sample", "--k", "0"], "skillmix sample", "'--k'")),
    ("usage-n-not-a-number", command(lambda ws: ["sample", "-n", "five"], "'-n'", "integer")),
    (
        "usage-unknown-choice",
        command(lambda ws: ["sample", "--common", "never"], "'--common'", "'never'"),
    ),
    (
        "usage-catalog-unknown-command",
        command(lambda ws: ["catalog", "check"], "skillmix catalog", "'check'"),
    ),
    (
        "export-csv-is-a-folder",
        command(
            lambda ws: ["export", str(ws.output_dir), "--csv", str(ws.root / "folder")],
            "{root}/folder",
            "--csv",
        ),
    ),
    (
        "report-no-store",
        command(lambda ws: ["report", str(ws.root / "folder")], "{root}/folder", "no run store"),
    ),
    (
        "report-html-is-a-folder",
        command(
            lambda ws: ["report", str(ws.output_dir), "--html", str(ws.root / "folder")],
            "{root}/folder",
            "--html",
        ),
    ),
    (
        "sample-k-beyond-catalog",
        command(
            lambda ws: [
                "sample",
                "--k",
                "9",
                "--skills",
                str(ws.skills),
                "--topics",
                str(ws.topics),
            ],
            "--k",
            "k=9",
        ),
    ),
    (
        "sample-skills-not-utf8",
        command(
            lambda ws: [
                "sample",
                "--skills",
                str(_write(ws.skills, NOT_UTF8)),
                "--topics",
                str(ws.topics),
            ],
            "{skills}",
            "not UTF-8",
        ),
    ),
    (
        "stats-naming-conflict",
        command(
            lambda ws: [
                "catalog",
                "stats",
                "--skills",
                str(_write(ws.skills, yaml.safe_dump({"skills": CONFLICTING}))),
                "--topics",
                str(ws.topics),
            ],
            "{skills}",
            "inside",
        ),
    ),
    (
        "catalog-export-bad-topics",
        command(
            lambda ws: [
                "catalog",
                "export",
                "--out",
                str(ws.root / "o"),
                "--skills",
                str(ws.skills),
                "--topics",
                str(_write(ws.topics, "topics: [a, A]\n")),
            ],
            "{topics}",
            "duplicate",
        ),
    ),
    ("stored-config-report", stored_config("report", "gradings", 1000)),
    (
        "stored-config-export",
        stored_config("export", "students.0.retries", 10**6, "--csv", "{root}/o.csv"),
    ),
    (
        "regrade-no-store",
        command(
            lambda ws: ["regrade", str(ws.root / "folder"), "--grader", "openai/x"],
            "{root}/folder",
            "no run store",
        ),
    ),
    (
        "regrade-catalog-lacks-the-run-s-skills",
        command(
            lambda ws: [*regrade(ws), "--skills", str(ws.skills), "--topics", str(ws.topics)],
            "{skills}",
            "does not have",
        ),
    ),
    (
        "regrade-the-run-s-own-grader",
        command(lambda ws: [*regrade(ws)[:2], "--grader", "imported/gpt-4"], "--name", "own"),
    ),
    (
        "regrade-bad-base-url",
        command(lambda ws: [*regrade(ws)[:4], "--base-url", "ftp://x"], "--base-url", "http"),
    ),
    ("regrade-zero-gradings", command(lambda ws: [*regrade(ws), "--gradings", "0"], "--gradings")),
    (
        "calibrate-missing-set",
        command(
            lambda ws: [*calibrate(ws), "--set", str(ws.root / "nope.yaml")],
            "{root}/nope.yaml",
            "not found",
        ),
    ),
    (
        "calibrate-set-is-a-catalog",
        command(lambda ws: [*calibrate(ws), "--set", str(ws.skills)], "{skills}", "answers"),
    ),
    (
        "report-unknown-jury",
        command(lambda ws: ["report", str(ws.output_dir), "--jury", "loudest"], "'loudest'"),
    ),
    (
        "eval-missing-config",
        command(lambda ws: ["eval", str(ws.root / "nope.yaml")], "{root}/nope.yaml", "not found"),
    ),
    (
        "eval-config-is-a-folder",
        command(lambda ws: ["eval", str(ws.root / "folder")], "{root}/folder", "not found"),
    ),
)
CASES = [
    *CONFIG_CASES,
    *CATALOG_CASES,
    *TEMPLATE_CASES,
    *VALIDATE_CASES,
    *OFFICIAL_CASES,
    *CLI_CASES,
]


def _run_dir_state(run_dir: Path) -> dict[str, tuple[str, int]]:
    return {
        path.name: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(run_dir.iterdir())
    }


@pytest.mark.parametrize("setup", CASES)
def test_bad_input_is_one_line_and_touches_nothing(workspace: Workspace, setup: Setup) -> None:
    invocation = setup(workspace)
    run_dir, files = _run_dir_state(workspace.output_dir), tree(workspace.root)
    result = CliRunner().invoke(app, invocation.args)
    shown = f"exit {result.exit_code}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    assert isinstance(result.exception, SystemExit), f"{result.exception!r}\n{shown}"
    assert result.exit_code == 2, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    for name in invocation.named:
        assert name in lines[0], f"{name!r} not named\n{shown}"
    assert _run_dir_state(workspace.output_dir) == run_dir, "the run store changed"
    assert tree(workspace.root) == files, "a file was written"


def test_there_are_enough_distinct_cases() -> None:
    ids = [case.id for case in CASES]
    assert len(set(ids)) == len(ids) >= 80


@pytest.mark.parametrize(
    ("dotted", "value", "read"),
    [
        ("items_per_k", 100_000, 100_000),
        ("generations", 100, 100),
        ("gradings", 100, 100),
        ("grader_retries", 20, 20),
        ("k", list(range(1, 51)), list(range(1, 51))),
        ("seed", -(2**63), -(2**63)),
        ("grader.max_concurrency", 10_000, 10_000),
        ("grader.retries", 100, 100),
        ("grader.timeout_s", 86_400, 86_400.0),
        ("students.0.base_url", "https://[::1]:8080/v1", "https://[::1]:8080/v1"),
        ("novelty.corpus_pieces", "1e9", 1e9),  # YAML reads 1e9 as a string: still a number
    ],
)
def test_values_at_the_bounds_are_accepted(dotted: str, value: Any, read: Any) -> None:
    data: dict[str, Any] = {
        "name": "t",
        "output_dir": "run",
        "k": [1],
        "items_per_k": 1,
        "students": [{"model": "llamacpp/smollm2"}],
        "grader": {"model": "llamacpp/smollm2"},
    }
    _assign(data, dotted, value)
    found: Any = parse_config(data, "c.yaml")
    for part in dotted.split("."):
        found = found[int(part)] if part.isdigit() else getattr(found, part)
    assert found == read
