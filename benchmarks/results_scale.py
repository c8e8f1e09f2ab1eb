"""Reading results at scale: baseline commit vs the working tree, on one synthetic run store.

    python benchmarks/results_scale.py [--items 20000] [--baseline 95ca2d6] [--repeat 1]

A run store of ITEMS items (k = 1..5, ITEMS/5 each) with two students and one grader is written
once, straight into SQLite with the schema-1 tables; about 1% of generations are failed and 2%
of gradings unscored. The baseline commit is checked out in a temporary git worktree. Then, for
each tree, every operation runs in a fresh child process of this interpreter with PYTHONPATH set
to that tree (the child checks that `skillmix` came from it), on a fresh copy of the store:

- `skillmix report RUN_DIR` (prints the table, writes leaderboard.csv),
- `skillmix export RUN_DIR --csv FILE`,
- `skillmix export RUN_DIR --jsonl FILE`,
- `skillmix.load_run(RUN_DIR)` (the DataFrames).

CLI commands are called in process, through the tree's own `skillmix` entry point (the typer app,
standalone_mode=False). Each figure is time.perf_counter around that one call, after
`import skillmix` and the CLI module; what a command imports lazily counts in its time. The import
itself is timed on its own row. Peak RSS is the child's ru_maxrss, import included.

Finally the trees' outputs are compared (leaderboard.csv of `report`, shapes of load_run's
frames); the script exits 1 when they differ.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
CHILD_FLAG = "--child"
DB_NAME = "run.sqlite"

# The schema-1 tables, as the baseline's skillmix/store.py creates them.
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY, k INTEGER NOT NULL, idx INTEGER NOT NULL,
    skills TEXT NOT NULL, topic TEXT NOT NULL, has_common INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, started REAL NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, backend TEXT NOT NULL, model TEXT NOT NULL, resolved_model TEXT NOT NULL,
    base_url TEXT, request TEXT NOT NULL, text TEXT NOT NULL, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cost_usd REAL, finish_reason TEXT, served_model TEXT,
    latency_s REAL NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS generations (
    student TEXT NOT NULL, item_id TEXT NOT NULL, gen INTEGER NOT NULL,
    status TEXT NOT NULL, answer TEXT, reason TEXT, turn1_key TEXT, turn2_key TEXT,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost_usd REAL,
    PRIMARY KEY (student, item_id, gen));
CREATE TABLE IF NOT EXISTS gradings (
    student TEXT NOT NULL, item_id TEXT NOT NULL, gen INTEGER NOT NULL, grader TEXT NOT NULL,
    grading INTEGER NOT NULL, status TEXT NOT NULL, points TEXT, grader_points TEXT,
    reason TEXT, reply TEXT, response_key TEXT, attempts INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost_usd REAL,
    PRIMARY KEY (student, item_id, gen, grader, grading));
"""

KS = (1, 2, 3, 4, 5)
STUDENTS = ("imported/student-a", "imported/student-b")
GRADER = "imported/judge"
FAILED_GENERATIONS = 0.01
UNSCORED_GRADINGS = 0.02
ANSWER_WORDS = 40
SAMPLE_TEXT = (
    "the old keeper walked along the shore each morning and counted what the tide had left "
    "behind while gulls argued over scraps and the fog slowly lifted from a grey harbour"
)
WORDS = SAMPLE_TEXT.split()

OPERATIONS = ("report", "export --csv", "export --jsonl", "load_run")
FRAMES = ("scores", "points", "generations", "gradings", "items")
LEADERBOARD_COLUMNS = (
    "model",
    "k",
    "metric",
    "value",
    "stderr",
    "n",
    "unscored",
    "failed",
    "pending",
)
TEXT_COLUMNS = {"model", "metric"}

Row = tuple[Any, ...]


# ---------------------------------------------------------------- the synthetic store


@dataclass(frozen=True)
class Catalog:
    skills: list[str]
    common: frozenset[str]
    topics: list[str]


@dataclass(frozen=True)
class Item:
    item_id: str
    k: int
    index: int
    skills: list[str]
    topic: str


@dataclass
class Rows:
    """The rows of every table but meta, built in memory, then inserted at once."""

    rng: random.Random
    items: list[Row] = field(default_factory=list)
    responses: list[Row] = field(default_factory=list)
    generations: list[Row] = field(default_factory=list)
    gradings: list[Row] = field(default_factory=list)


def read_catalog(root: Path) -> Catalog:
    skills = yaml.safe_load((root / "data/skills.yaml").read_text(encoding="utf-8"))["skills"]
    topics = yaml.safe_load((root / "data/topics.yaml").read_text(encoding="utf-8"))["topics"]
    return Catalog(
        skills=[str(s["name"]) for s in skills],
        common=frozenset(str(s["name"]) for s in skills if s.get("common")),
        topics=[str(t) for t in topics],
    )


def draw_items(catalog: Catalog, per_k: int, rng: random.Random) -> list[Item]:
    return [
        Item(
            f"k{k}-{index:05d}", k, index, rng.sample(catalog.skills, k), rng.choice(catalog.topics)
        )
        for k in KS
        for index in range(per_k)
    ]


def content_key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def add_response(
    rows: Rows, key: str, model: str, messages: list[dict[str, str]], text: str
) -> None:
    request = {"messages": messages, "params": {}, "seed": 1, "json_schema": None}
    tokens_in, tokens_out = 4 * len(json.dumps(messages)) // 15, 4 * len(text) // 15
    cost = 1e-6 * (tokens_in + tokens_out)
    resolved = model.removeprefix("imported/")
    head: Row = (key, "imported", model, resolved, None, json.dumps(request), text)
    rows.responses.append((*head, tokens_in, tokens_out, cost, "stop", None, 0.5, 1.7e9))


def answer_text(rng: random.Random, item: Item) -> str:
    words = rng.choices(WORDS, k=ANSWER_WORDS - 4)
    return f"On {item.topic.lower()}: " + " ".join(words) + "."


def add_generation(rows: Rows, student: str, item: Item) -> str | None:
    """One generation (two student turns); its answer, or None when it failed."""
    ask = f"Write about {item.topic} illustrating: {', '.join(item.skills)}. Two sentences."
    turn1 = [{"role": "user", "content": ask}]
    key1 = content_key(student, item.item_id, "turn1")
    draft = answer_text(rows.rng, item)
    add_response(rows, key1, student, turn1, draft)
    if rows.rng.random() < FAILED_GENERATIONS:
        rows.generations.append(
            (student, item.item_id, 0, "failed", None, "synthetic failure", key1, None, 0, 0, 0.0)
        )
        return None
    turn2 = [*turn1, {"role": "assistant", "content": draft}, {"role": "user", "content": "Refine"}]
    key2 = content_key(student, item.item_id, "turn2")
    answer = answer_text(rows.rng, item)
    add_response(rows, key2, student, turn2, f"Answer: {answer}")
    spend = (300 + 20 * item.k, 2 * ANSWER_WORDS, 1e-4)
    rows.generations.append((student, item.item_id, 0, "ok", answer, None, key1, key2, *spend))
    return answer


def draw_points(rng: random.Random, item: Item) -> tuple[dict[str, int], dict[str, int]]:
    """(points after the rules, points as the grader gave them)."""
    keys = [f"skill:{s}" for s in item.skills] + ["topic", "sense", "sentences"]
    given = {key: int(rng.random() < 0.85) for key in keys}
    points = {
        key: 0 if key.startswith("skill:") and rng.random() < 0.03 else v
        for key, v in given.items()
    }
    return points, given


def add_grading(rows: Rows, student: str, item: Item, answer: str) -> None:
    key = content_key(GRADER, student, item.item_id, "grading0")
    prompt = [{"role": "user", "content": f"Grade this text for {item.topic}:\n{answer}"}]
    ids = (student, item.item_id, 0, GRADER, 0)
    row: Row
    if rows.rng.random() < UNSCORED_GRADINGS:
        add_response(rows, key, GRADER, prompt, "I cannot grade this.")
        row = ("unscored", None, None, "unparseable reply", "I cannot grade this.", key, 3)
    else:
        points, given = draw_points(rows.rng, item)
        reply = "Points: " + json.dumps(given)
        add_response(rows, key, GRADER, prompt, reply)
        row = ("scored", json.dumps(points), json.dumps(given), None, reply, key, 1)
    rows.gradings.append((*ids, *row, 500 + 30 * item.k, 120, 2e-4))


def synthetic_rows(catalog: Catalog, per_k: int, seed: int) -> Rows:
    rows = Rows(random.Random(seed))
    for item in draw_items(catalog, per_k, rows.rng):
        has_common = int(any(s in catalog.common for s in item.skills))
        skills = json.dumps(item.skills)
        rows.items.append((item.item_id, item.k, item.index, skills, item.topic, has_common))
        for student in STUDENTS:
            answer = add_generation(rows, student, item)
            if answer is not None:
                add_grading(rows, student, item, answer)
    return rows


def meta_rows(run_dir: Path, catalog: Catalog, per_k: int, root: Path) -> list[Row]:
    config = {
        "name": "scale",
        "output_dir": str(run_dir),
        "catalog": {
            "skills": str(root / "data/skills.yaml"),
            "topics": str(root / "data/topics.yaml"),
        },
        "seed": 0,
        "k": list(KS),
        "items_per_k": per_k,
        "generations": 1,
        "gradings": 1,
        "students": [{"model": s} for s in STUDENTS],
        "grader": {"model": GRADER},
        "common_skills": "keep",
    }
    sizes = {
        "skills": len(catalog.skills),
        "common": len(catalog.common),
        "topics": len(catalog.topics),
    }
    return [
        ("run_id", "scale0000000"),
        ("schema_version", "1"),
        ("config", json.dumps(config)),
        ("catalog_hash", content_key(*catalog.skills, *catalog.topics)[:16]),
        ("prompt_hash", content_key("synthetic prompts")[:16]),
        ("catalog_sizes", json.dumps(sizes)),
    ]


def insert_all(path: Path, meta: list[Row], rows: Rows) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        db.execute("BEGIN")
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta)
        db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", rows.items)
        db.executemany(f"INSERT INTO responses VALUES ({', '.join('?' * 14)})", rows.responses)
        db.executemany(f"INSERT INTO generations VALUES ({', '.join('?' * 11)})", rows.generations)
        db.executemany(f"INSERT INTO gradings VALUES ({', '.join('?' * 15)})", rows.gradings)
        db.execute("COMMIT")
    finally:
        db.close()  # the last connection: checkpoints and removes the WAL file


def build_store(run_dir: Path, items: int, root: Path) -> Path:
    started = time.perf_counter()
    catalog = read_catalog(root)
    per_k = items // len(KS)
    rows = synthetic_rows(catalog, per_k, seed=0)
    run_dir.mkdir(parents=True)
    path = run_dir / DB_NAME
    insert_all(path, meta_rows(run_dir, catalog, per_k, root), rows)
    failed = sum(g[3] == "failed" for g in rows.generations)
    unscored = sum(g[5] == "unscored" for g in rows.gradings)
    print(
        f"store: {len(rows.items)} items (k={list(KS)}, {per_k} per k), {len(STUDENTS)} students, "
        f"{len(rows.generations)} generations ({failed} failed), {len(rows.gradings)} gradings "
        f"({unscored} unscored), {len(rows.responses)} responses; built in "
        f"{time.perf_counter() - started:.1f} s, {path.stat().st_size / 1e6:.1f} MB"
    )
    return path


# ---------------------------------------------------------------- the child process


def import_from(tree: Path, name: str) -> ModuleType:
    module = importlib.import_module(name)
    source = Path(module.__file__ or "").resolve()
    if not source.is_relative_to(tree.resolve()):
        raise RuntimeError(f"{name} imported from {source}, not from the tree {tree}")
    return module


def cli_app(tree: Path) -> Callable[..., Any]:
    """The tree's `skillmix` entry point (module:attribute in its pyproject.toml)."""
    with (tree / "pyproject.toml").open("rb") as handle:
        target = str(tomllib.load(handle)["project"]["scripts"]["skillmix"])
    module, _, attribute = target.partition(":")
    app: Callable[..., Any] = getattr(import_from(tree, module), attribute)
    return app


def cli_args(operation: str, run_dir: Path) -> list[str]:
    if operation == "report":
        return ["report", str(run_dir)]
    if operation == "export --csv":
        return ["export", str(run_dir), "--csv", str(run_dir / "export.csv")]
    return ["export", str(run_dir), "--jsonl", str(run_dir / "export.jsonl")]


def time_cli(app: Callable[..., Any], args: list[str]) -> float:
    started = time.perf_counter()
    code = app(args, standalone_mode=False)
    seconds = time.perf_counter() - started
    if code not in (None, 0):
        raise RuntimeError(f"skillmix {' '.join(args)} exited with {code}")
    return seconds


def time_load_run(skillmix: ModuleType, run_dir: Path) -> tuple[float, dict[str, list[int]]]:
    started = time.perf_counter()
    frames = skillmix.load_run(run_dir)
    seconds = time.perf_counter() - started
    return seconds, {name: list(getattr(frames, name).shape) for name in FRAMES}


def child_main(operation: str, tree: Path, run_dir: Path, result: Path) -> None:
    started = time.perf_counter()
    skillmix = import_from(tree, "skillmix")
    app = cli_app(tree)
    imported = time.perf_counter() - started
    shapes: dict[str, list[int]] = {}
    if operation == "load_run":
        seconds, shapes = time_load_run(skillmix, run_dir)
    else:
        seconds = time_cli(app, cli_args(operation, run_dir))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    summary = {"seconds": seconds, "import_s": imported, "rss_mb": peak_kb / 1024, "shapes": shapes}
    result.write_text(json.dumps(summary), encoding="utf-8")


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Measurement:
    seconds: float  # the call
    import_s: float  # import of skillmix and its CLI, before the call
    total_s: float  # both
    rss_mb: float
    shapes: dict[str, list[int]]
    leaderboard: list[tuple[str, ...]] | None  # report only


def number(text: str) -> str:
    """A CSV cell as a number written one way (pandas writes NaN as an empty cell)."""
    return "nan" if text in ("", "nan", "NaN") else f"{float(text):.6g}"


def read_leaderboard(path: Path) -> list[tuple[str, ...]]:
    with path.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    rows = [
        tuple(r[c] if c in TEXT_COLUMNS else number(r[c]) for c in LEADERBOARD_COLUMNS)
        for r in records
    ]
    return sorted(rows)


def run_child(tree: Path, operation: str, store: Path, run_dir: Path) -> Measurement:
    run_dir.mkdir(parents=True)
    shutil.copy2(store, run_dir / DB_NAME)
    result = run_dir / "result.json"
    command = [sys.executable, "-P", str(SCRIPT), CHILD_FLAG, operation, str(tree)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [*command, str(run_dir), str(result)],
        cwd=run_dir,  # never a tree: nothing on sys.path but PYTHONPATH's
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"{operation} on {tree} failed ({done.returncode}):\n{done.stderr[-4000:]}"
        )
    data = json.loads(result.read_text(encoding="utf-8"))
    board = read_leaderboard(run_dir / "leaderboard.csv") if operation == "report" else None
    shutil.rmtree(run_dir)
    seconds, imported = data["seconds"], data["import_s"]
    return Measurement(seconds, imported, seconds + imported, data["rss_mb"], data["shapes"], board)


def best(runs: list[Measurement]) -> Measurement:
    """The fastest run, with the best import and total times and the highest peak RSS."""
    fastest = min(runs, key=lambda m: m.seconds)
    return Measurement(
        fastest.seconds,
        min(m.import_s for m in runs),
        min(m.total_s for m in runs),
        max(m.rss_mb for m in runs),
        fastest.shapes,
        fastest.leaderboard,
    )


SIDES = ("before", "after")
Results = dict[str, dict[str, Measurement]]  # operation -> side ("before", "after") -> best run


def measure_all(trees: dict[str, Path], store: Path, work: Path, repeat: int) -> Results:
    results: Results = {}
    for operation in OPERATIONS:
        runs: dict[str, list[Measurement]] = {side: [] for side in trees}
        for attempt in range(repeat):
            for side, tree in trees.items():
                run_dir = work / f"{side}-{operation.replace(' --', '-')}-{attempt}"
                runs[side].append(run_child(tree, operation, store, run_dir))
                print(f"  {operation:<15} {side:<6} {runs[side][-1].seconds:8.2f} s", flush=True)
        results[operation] = {side: best(found) for side, found in runs.items()}
    return results


# ---------------------------------------------------------------- printing and checking


NAME_WIDTH = 30
COLUMNS = (
    ("before (s)", 10),
    ("after (s)", 9),
    ("speed-up", 8),
    ("with import", 11),
    ("before RSS (MB)", 15),
    ("after RSS (MB)", 14),
)


def ratio(before: float, after: float) -> str:
    return f"{before / after:.1f}x" if after > 0 else "-"


def table_line(name: str, cells: Sequence[str]) -> str:
    padded = [f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True)]
    return " | ".join([f"{name:<{NAME_WIDTH}}", *padded])


def operation_line(operation: str, before: Measurement, after: Measurement) -> str:
    name = f"skillmix {operation}" if operation != "load_run" else "skillmix.load_run(RUN_DIR)"
    cells = [
        f"{before.seconds:.2f}",
        f"{after.seconds:.2f}",
        ratio(before.seconds, after.seconds),
        ratio(before.total_s, after.total_s),
        f"{before.rss_mb:.0f}",
        f"{after.rss_mb:.0f}",
    ]
    return table_line(name, cells)


def print_table(results: Results) -> None:
    header = table_line("operation", [title for title, _ in COLUMNS])
    print(header)
    print("-" * len(header))
    for operation, sides in results.items():
        print(operation_line(operation, sides["before"], sides["after"]))
    before, after = (min(sides[side].import_s for sides in results.values()) for side in SIDES)
    cells = [f"{before:.2f}", f"{after:.2f}", ratio(before, after), "", "", ""]
    print(table_line("(import skillmix + its CLI)", cells))


# Since 6651989 an item whose gradings are all unscored counts as 0 in value and n (before, it
# left them): those columns may differ by design; the counts must not.
POLICY_COLUMNS = {"value", "stderr", "n"}


def without_policy_columns(board: list[tuple[str, ...]] | None) -> list[tuple[str, ...]]:
    kept = [i for i, c in enumerate(LEADERBOARD_COLUMNS) if c not in POLICY_COLUMNS]
    return [tuple(row[i] for i in kept) for row in board or []]


def agree(results: Results) -> bool:
    boards = results["report"]
    before, after = boards["before"].leaderboard, boards["after"].leaderboard
    rows = len(before or [])
    if before == after:
        verdict = "equal"
    elif without_policy_columns(before) == without_policy_columns(after):
        verdict = "equal but for value, stderr, n of items with unscored gradings (now counted 0)"
    else:
        verdict = "DIFFERENT"
    same_board = verdict != "DIFFERENT"
    print(f"leaderboard.csv ({rows} rows, columns {', '.join(LEADERBOARD_COLUMNS)}): {verdict}")
    frames = results["load_run"]
    same_shapes = frames["before"].shapes == frames["after"].shapes
    print(f"load_run shapes before: {frames['before'].shapes}")
    print(f"load_run shapes after:  {frames['after'].shapes}")
    ok = same_board and same_shapes
    print(f"results agree: {'yes' if ok else 'no'}")
    return ok


# ---------------------------------------------------------------- the parent process


def git(*args: str) -> None:
    subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True)


@contextmanager
def worktree(commit: str, path: Path) -> Iterator[Path]:
    git("worktree", "add", "--detach", str(path), commit)
    try:
        yield path
    finally:
        git("worktree", "remove", "--force", str(path))


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=20000, help="items in the run (k=1..5)")
    parser.add_argument("--baseline", default="95ca2d6", help="the 'before' commit")
    parser.add_argument("--repeat", type=int, default=1, help="runs per operation; best is shown")
    parser.add_argument("--current", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.items < len(KS) or args.repeat < 1:
        parser.error(f"--items must be at least {len(KS)} and --repeat at least 1")
    return args


def print_header(args: argparse.Namespace, trees: dict[str, Path]) -> None:
    print(f"before: commit {args.baseline} (temporary git worktree); after: {trees['after']}")
    print(
        f"python {sys.version.split()[0]}; each operation in a fresh child process with "
        "PYTHONPATH=<tree>, on a fresh copy of the store;\n"
        "CLI commands are called in process through the tree's typer app (standalone_mode=False);\n"
        "seconds: perf_counter around that one call, import of skillmix and its CLI excluded "
        f"(timed on the last row); best of {args.repeat};\n"
        "speed-up = before / after; 'with import': the same ratio of import + call "
        "(modules a tree imports lazily count in its call);\n"
        "RSS: the child's peak resident memory (ru_maxrss), import included"
    )


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="results-scale-") as folder:
        work = Path(folder)
        with worktree(args.baseline, work / "baseline") as baseline:
            trees = {"before": baseline, "after": args.current.resolve()}
            store = build_store(work / "store", args.items, ROOT)
            results = measure_all(trees, store, work, args.repeat)
    print()
    print_header(args, trees)
    print_table(results)
    print()
    return 0 if agree(results) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == [CHILD_FLAG]:
        operation, tree, run_dir, result = sys.argv[2:6]
        child_main(operation, Path(tree), Path(run_dir), Path(result))
    else:
        sys.exit(main(sys.argv[1:]))
