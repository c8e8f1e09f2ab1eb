"""The run store: one SQLite database (WAL) per run directory.

Every model response is committed here before anything uses it, under a content key,
so a rerun of the same work finds it instead of calling the model again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from skillmix.errors import SkillmixError
from skillmix.models import ModelOutput
from skillmix.records import (
    GENERATIONS,
    GRADINGS,
    ITEMS,
    GenerationRecord,
    GradingRecord,
    Item,
    Usage,
)
from skillmix.run.lock import RunLock
from skillmix.run.store_reading import (
    CALL_TABLES,
    NESTED_COLUMNS,
    SCHEMA_VERSION,
    check_schema_version,
    checked_connection,
    generations_query,
    gradings_query,
    read_records,
    record_chunks,
    store_error,
    stored_schema_version,
)

DB_NAME = "run.sqlite"

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
    latency_s REAL NOT NULL, created REAL NOT NULL, top_logprobs TEXT);
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
P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class StoredResponse:
    """A stored response as the report shows it: the request sent and the text that came back."""

    request: dict[str, Any]
    text: str


def _store_errors(
    method: Callable[Concatenate[RunStore, P], T],
) -> Callable[Concatenate[RunStore, P], T]:
    """A store method whose file and disk errors come out as one line naming the store."""

    @functools.wraps(method)
    def guarded(self: RunStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) or exc from None

    return guarded


def add_missing_columns(db: sqlite3.Connection) -> None:
    """Columns later versions added (nullable): a store written before them gains them."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(responses)")}
    if "top_logprobs" not in columns:
        db.execute("ALTER TABLE responses ADD COLUMN top_logprobs TEXT")


class RunStore:
    """A run's records. With `group_commits` on (a run turns it on), writes wait in one open
    transaction and `committed()` commits them once per turn of the event loop: the responses
    that arrive together share one commit, and each is still committed before it is used."""

    group_commits = False
    _commit: asyncio.Future[None] | None = None  # the commit the writers so far wait for

    def __init__(self, run_dir: Path, lock: RunLock | None = None, *, checked: bool = False):
        """The store of a run directory for a run to write, created if missing (a damaged one is
        refused before it is opened, unless the caller has just `checked` it); `lock`, held by
        the caller, is released at close."""
        self.path = run_dir / DB_NAME
        self.lock = lock
        if self.path.is_file() and not checked:
            stored_schema_version(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open_for_writing()

    @_store_errors
    def _open_for_writing(self) -> None:
        self.db = sqlite3.connect(self.path, isolation_level=None)
        try:
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process
            # a version written only to the WAL (after a kill -9)
            if self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                check_schema_version(self.path, self.get_meta("schema_version"))
            self.db.executescript(SCHEMA)
            add_missing_columns(self.db)
            if self.get_meta("schema_version") is None:
                self.set_meta("schema_version", SCHEMA_VERSION)
            if self.get_meta("run_id") is None:
                self.set_meta("run_id", uuid.uuid4().hex[:12])
        except BaseException:
            self.db.close()
            raise

    @classmethod
    def open_for_reading(cls, run_dir: Path) -> RunStore:
        """The store of a run directory, read-only: nothing is created or written, so a run in
        a read-only folder reads as well (SQLite refuses any write on this connection)."""
        path = run_dir / DB_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{run_dir}: no run store ({DB_NAME}) here")
        store = cls.__new__(cls)
        store.path, store.lock = path, None
        store.db, version = checked_connection(path, skip=CALL_TABLES)
        if version is None:
            store.db.close()
            raise SkillmixError("holds no run yet (its eval stopped before recording)", file=path)
        store.db.row_factory = sqlite3.Row
        return store

    def close(self) -> None:
        self.flush()
        self.db.close()
        if self.lock is not None:
            self.lock.release()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.flush()
        self._execute("BEGIN IMMEDIATE")
        try:
            yield
            self._execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # SQLite rolls back by itself after some errors
                self.db.execute("ROLLBACK")
            raise

    @_store_errors
    def _execute(self, sql: str) -> None:
        self.db.execute(sql)

    @_store_errors
    def _write(self, sql: str, values: tuple[Any, ...] | dict[str, Any]) -> None:
        if self.group_commits and not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(sql, values)
        except sqlite3.Error as exc:  # SQLite may have rolled the whole group back
            if self.group_commits:
                self._abandon_group(store_error(self.path, exc) or exc)
            raise

    def _abandon_group(self, error: BaseException) -> None:
        """The writers waiting for the open group get `error`: none may use what it held."""
        waiting, self._commit = self._commit, None
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        if waiting is not None and not waiting.done():
            waiting.set_exception(error)

    async def committed(self) -> None:
        """Return once everything written so far is committed (at once, without group_commits);
        the writers of one turn of the event loop share the commit."""
        if not self.db.in_transaction:
            return
        if self._commit is None:
            loop = asyncio.get_running_loop()
            self._commit = loop.create_future()
            loop.call_soon(self._commit_group)
        await asyncio.shield(self._commit)

    def _commit_group(self) -> None:
        with contextlib.suppress(Exception):  # the waiting writers have it
            self.flush()

    def flush(self) -> None:
        """Commit the open group of writes now (a failed commit rolls the group back: no
        waiting writer has used what it wrote)."""
        try:
            if self.db.in_transaction:
                self._execute("COMMIT")
        except BaseException as exc:
            self._abandon_group(exc)
            raise
        waiting, self._commit = self._commit, None
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    # meta
    @_store_errors
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    @_store_errors
    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # items
    @_store_errors
    def put_items(self, items: list[Item]) -> None:
        rows = [
            (i.item_id, i.k, i.index, json.dumps(i.skills), i.topic, int(i.has_common_skill))
            for i in items
        ]
        with self.transaction():
            self.db.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?)", rows)

    @_store_errors
    def items(self) -> list[Item]:
        sql = (
            "SELECT item_id, k, idx AS 'index', skills, topic, has_common AS has_common_skill "
            "FROM items ORDER BY k, idx"
        )
        return read_records(self.db, sql, ITEMS, ("skills",))

    # responses
    @_store_errors
    def log_call(self, key: str) -> None:
        self._write("INSERT INTO calls (key, started) VALUES (?, ?)", (key, time.time()))

    @_store_errors
    def get_response(self, key: str) -> tuple[ModelOutput, float | None] | None:
        """A stored response and its cost."""
        row = self.db.execute("SELECT * FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        usage = Usage(row["input_tokens"], row["output_tokens"])
        logprobs = row["top_logprobs"] if "top_logprobs" in row.keys() else None  # noqa: SIM118
        output = ModelOutput(
            text=row["text"],
            usage=usage,
            finish_reason=row["finish_reason"],
            top_logprobs=None if logprobs is None else tuple(map(tuple, json.loads(logprobs))),
        )
        return output, row["cost_usd"]

    @_store_errors
    def spent_usd(self) -> float:
        return float(self.db.execute("SELECT TOTAL(cost_usd) FROM responses").fetchone()[0])

    @_store_errors
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
        logprobs = None if output.top_logprobs is None else json.dumps(output.top_logprobs)
        self._write(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                logprobs,
            ),
        )

    def put_recorded_response(
        self, key: str, model: str, request: dict[str, Any], text: str
    ) -> None:
        """A response another harness recorded (an imported official run): no call, no price."""
        self.put_response(
            key,
            backend="imported",
            model=model,
            resolved_model=model,
            base_url=None,
            request=request,
            output=ModelOutput(text),
            cost_usd=None,
            latency_s=0.0,
        )

    @_store_errors
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

    # derived records
    @_store_errors
    def put_generation(self, record: GenerationRecord) -> None:
        data = record.model_dump(mode="json")
        self._write(
            "INSERT OR REPLACE INTO generations VALUES (:student, :item_id, :gen, :status, "
            ":answer, :reason, :turn1_key, :turn2_key, :input_tokens, :output_tokens, :cost_usd)",
            data,
        )

    @_store_errors
    def put_grading(self, record: GradingRecord) -> None:
        data = record.model_dump(mode="json")
        for field in ("points", "grader_points"):
            data[field] = None if data[field] is None else json.dumps(data[field])
        self._write(
            "INSERT OR REPLACE INTO gradings VALUES (:student, :item_id, :gen, :grader, :grading, "
            ":status, :points, :grader_points, :reason, :reply, :response_key, :attempts, "
            ":input_tokens, :output_tokens, :cost_usd)",
            data,
        )

    @_store_errors
    def generations(self, *, texts: bool = True) -> list[GenerationRecord]:
        """Every generation; `texts=False` leaves out answers, reasons and response keys (what
        the tables and metrics do without: a big run reads faster, in less memory)."""
        return read_records(self.db, generations_query(texts), GENERATIONS)

    @_store_errors
    def gradings(self, *, texts: bool = True) -> list[GradingRecord]:
        """Every grading; `texts=False` leaves out replies, reasons, the grader's own points
        and response keys."""
        return read_records(self.db, gradings_query(texts), GRADINGS, NESTED_COLUMNS)

    def generation_chunks(self) -> Iterator[list[GenerationRecord]]:
        """Every generation, texts and all, a chunk at a time (an export's memory stays flat)."""
        return self._guarded(record_chunks(self.db, generations_query(True), GENERATIONS))

    def grading_chunks(self) -> Iterator[list[GradingRecord]]:
        chunks = record_chunks(self.db, gradings_query(True), GRADINGS, NESTED_COLUMNS)
        return self._guarded(chunks)

    def _guarded(self, chunks: Iterator[list[R]]) -> Iterator[list[R]]:
        try:
            yield from chunks
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) or exc from None
