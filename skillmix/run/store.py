"""The run store: one SQLite database (WAL) per run directory.

Every model response is committed here before anything uses it, under a content key,
so a rerun of the same work finds it instead of calling the model again.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.models import ModelOutput
from skillmix.records import GenerationRecord, GradingRecord, Item, Usage
from skillmix.run.lock import RunLock

DB_NAME = "run.sqlite"
SCHEMA_VERSION = "1"

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


@dataclass(frozen=True)
class StoredResponse:
    """A stored response as the report shows it: the request sent and the text that came back."""

    request: dict[str, Any]
    text: str


def stored_schema_version(path: Path) -> str | None:
    """The schema version a store file records, read without changing anything (immutable: no
    -wal or -shm file is created); None for a file with no tables yet. A file that is not a
    run store is bad input."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "meta" not in tables:
                return None if not tables else "unknown"
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise SkillmixError(f"not a skillmix run store ({exc})", file=path) from None
    return None if row is None else str(row[0])


def check_schema_version(path: Path, version: str | None) -> None:
    if version not in (None, SCHEMA_VERSION):
        raise SkillmixError(
            f"run store of schema version {version}; this skillmix reads version "
            f"{SCHEMA_VERSION} (left untouched: use the skillmix that wrote it)",
            file=path,
        )


class RunStore:
    def __init__(self, run_dir: Path, lock: RunLock | None = None):
        """The store of a run directory, created if missing; `lock`, held by the caller, is
        released when the store closes."""
        self.path = run_dir / DB_NAME
        self.lock = lock
        if self.path.is_file():
            check_schema_version(self.path, stored_schema_version(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process
        self._check_open_version()  # a version written only to the WAL (after a kill -9)
        self.db.executescript(SCHEMA)
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
        if self.get_meta("run_id") is None:
            self.set_meta("run_id", uuid.uuid4().hex[:12])

    def _check_open_version(self) -> None:
        tables = self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone()
        if tables is not None:
            try:
                check_schema_version(self.path, self.get_meta("schema_version"))
            except SkillmixError:
                self.db.close()
                raise

    @classmethod
    def open_existing(cls, run_dir: Path) -> RunStore:
        if not (run_dir / DB_NAME).is_file():
            raise FileNotFoundError(f"{run_dir}: no run store ({DB_NAME}) here")
        return cls(run_dir)

    def close(self) -> None:
        self.db.close()
        if self.lock is not None:
            self.lock.release()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # meta
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # items
    def put_items(self, items: list[Item]) -> None:
        rows = [
            (i.item_id, i.k, i.index, json.dumps(i.skills), i.topic, int(i.has_common_skill))
            for i in items
        ]
        with self.transaction():
            self.db.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?)", rows)

    def items(self) -> list[Item]:
        rows = self.db.execute("SELECT * FROM items ORDER BY k, idx").fetchall()
        return [
            Item(
                item_id=r["item_id"],
                k=r["k"],
                index=r["idx"],
                skills=tuple(json.loads(r["skills"])),
                topic=r["topic"],
                has_common_skill=bool(r["has_common"]),
            )
            for r in rows
        ]

    # responses
    def log_call(self, key: str) -> None:
        self.db.execute("INSERT INTO calls (key, started) VALUES (?, ?)", (key, time.time()))

    def get_response(self, key: str) -> tuple[ModelOutput, float | None] | None:
        """A stored response and its cost."""
        row = self.db.execute(
            "SELECT text, input_tokens, output_tokens, finish_reason, cost_usd FROM responses "
            "WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        usage = Usage(row["input_tokens"], row["output_tokens"])
        output = ModelOutput(text=row["text"], usage=usage, finish_reason=row["finish_reason"])
        return output, row["cost_usd"]

    def spent_usd(self) -> float:
        return float(self.db.execute("SELECT TOTAL(cost_usd) FROM responses").fetchone()[0])

    def put_response(
        self,
        key: str,
        *,
        backend: str,
        model: str,
        resolved_model: str,
        base_url: str | None,
        request: dict[str, Any],
        output: ModelOutput,
        cost_usd: float | None,
        latency_s: float,
    ) -> None:
        usage = output.usage
        self.db.execute(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                backend,
                model,
                resolved_model,
                base_url,
                json.dumps(request),
                output.text,
                usage.input_tokens,
                usage.output_tokens,
                cost_usd,
                output.finish_reason,
                output.served_model,
                latency_s,
                time.time(),
            ),
        )

    def stored_responses(self, keys: Iterable[str | None]) -> dict[str, StoredResponse]:
        """The stored responses among `keys` (missing and None keys are left out)."""
        wanted = sorted({key for key in keys if key is not None})
        found: dict[str, StoredResponse] = {}
        for start in range(0, len(wanted), 500):  # under SQLite's limit of bound variables
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT key, request, text FROM responses WHERE key IN ({marks})", chunk
            )
            for row in rows:
                found[row["key"]] = StoredResponse(json.loads(row["request"]), row["text"])
        return found

    def response_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    # derived records
    def put_generation(self, record: GenerationRecord) -> None:
        data = record.model_dump(mode="json")
        self.db.execute(
            "INSERT OR REPLACE INTO generations VALUES (:student, :item_id, :gen, :status, "
            ":answer, :reason, :turn1_key, :turn2_key, :input_tokens, :output_tokens, :cost_usd)",
            data,
        )

    def put_grading(self, record: GradingRecord) -> None:
        data = record.model_dump(mode="json")
        for field in ("points", "grader_points"):
            data[field] = None if data[field] is None else json.dumps(data[field])
        self.db.execute(
            "INSERT OR REPLACE INTO gradings VALUES (:student, :item_id, :gen, :grader, :grading, "
            ":status, :points, :grader_points, :reason, :reply, :response_key, :attempts, "
            ":input_tokens, :output_tokens, :cost_usd)",
            data,
        )

    def generations(self) -> list[GenerationRecord]:
        rows = self.db.execute(
            "SELECT * FROM generations ORDER BY student, item_id, gen"
        ).fetchall()
        return [GenerationRecord(**dict(r)) for r in rows]

    def gradings(self) -> list[GradingRecord]:
        rows = self.db.execute(
            "SELECT * FROM gradings ORDER BY student, item_id, gen, grader, grading"
        )
        records = []
        for row in rows.fetchall():
            data = dict(row)
            for field in ("points", "grader_points"):
                data[field] = None if data[field] is None else json.loads(data[field])
            records.append(GradingRecord(**data))
        return records
