"""Opening a run store file for reading, without writing anything beside it, and checking
it: its schema version, its tables, its pages; SQLite errors of the file or disk as one line."""

from __future__ import annotations

import gc
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter

from skillmix.errors import SkillmixError
from skillmix.records import GenerationRecord, GradingRecord

R = TypeVar("R")
CHECKED: dict[tuple[object, ...], str | None] = {}  # (file_state, skip) -> version, this process
RECORDS_PER_CHUNK = 10_000
SCHEMA_VERSION = "1"
TABLES = frozenset({"meta", "items", "calls", "responses", "generations", "gradings"})
# what a reader leaves unchecked: the requests and texts of every call, most of a big store (a
# reader that reads some is told of a damaged page when it meets one)
CALL_TABLES = ("calls", "responses")
NESTED_COLUMNS = ("points", "grader_points")  # a grading's rubric points, stored as JSON text
DAMAGED = "damaged run store ({}; left untouched: restore it or use a new output_dir)"
# SQLite result codes that mean the file or its disk, not our SQL: reported as bad input
WHAT_WENT_WRONG = {
    "SQLITE_FULL": "the disk is full ({}); what was stored before is intact: free space, rerun",
    "SQLITE_READONLY": "read-only: cannot write the run store ({})",
    "SQLITE_CANTOPEN": "cannot open the run store ({})",
    "SQLITE_PERM": "no permission to use the run store ({})",
    "SQLITE_IOERR": "disk I/O error on the run store ({})",
    "SQLITE_CORRUPT": DAMAGED,
    "SQLITE_NOTADB": "not a skillmix run store ({})",
}


def reading_connection(path: Path) -> sqlite3.Connection:
    """A connection that only reads the store and creates nothing beside it: immutable if
    there is no -wal file (closed cleanly), else mode=ro, which reads the WAL through its -shm
    file, or where that cannot be made (read-only folder) a copy of both read into memory."""
    wal = path.with_name(f"{path.name}-wal")
    if not wal.exists():
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        db.execute("SELECT 1 FROM sqlite_master").fetchall()  # opens the WAL and -shm
        return db
    except sqlite3.Error as exc:
        db.close()
        if getattr(exc, "sqlite_errorname", "") != "SQLITE_CANTOPEN":
            raise
    with tempfile.TemporaryDirectory(prefix="skillmix-read-") as scratch:
        copy = Path(scratch) / path.name
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, copy.with_name(wal.name))
        source = sqlite3.connect(copy)
        memory = sqlite3.connect(":memory:")
        source.backup(memory)
        source.close()
    memory.execute("PRAGMA query_only=1")  # refuses writes like the mode=ro connections
    return memory


def stored_schema_version(path: Path) -> str | None:
    """The schema version a store file records, read without writing anything (see
    check_store); None for a file with no tables yet. A damaged store is bad input."""
    db, version = checked_connection(path)
    db.close()
    return version


def store_error(path: Path, exc: sqlite3.Error) -> SkillmixError | None:
    """The one-line form of an SQLite error caused by the store file or its disk (None for
    any other error: a bug, left to propagate)."""
    code = getattr(exc, "sqlite_errorname", None) or ""
    for prefix, what in WHAT_WENT_WRONG.items():
        if code.startswith(prefix):  # extended codes too: SQLITE_IOERR_WRITE, ...
            return SkillmixError(what.format(exc), file=path)
    return None


def check_store(db: sqlite3.Connection, path: Path, skip: tuple[str, ...] = ()) -> str | None:
    """The schema version of an open store, checked to be this one, with every table there and
    the file whole (quick_check), or every table but those in `skip`; None: no schema yet (a
    run killed while creating the store)."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    version = None if not tables else "unknown"
    if "meta" in tables:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = None if row is None else str(row[0])
    check_schema_version(path, version)
    missing = sorted(TABLES - tables)
    if version is not None and missing:
        raise SkillmixError(DAMAGED.format(f"tables missing: {', '.join(missing)}"), file=path)
    whole = ["quick_check(1)"]  # one problem is enough to refuse the store
    checks = [f'quick_check("{table}")' for table in sorted(tables - set(skip))] if skip else whole
    for check in checks:
        problems = [row[0] for row in db.execute(f"PRAGMA {check}")]
        if problems != ["ok"]:
            found = problems[0] if problems else "unchecked"
            raise SkillmixError(DAMAGED.format(found), file=path)
    return version


def check_schema_version(path: Path, version: str | None) -> None:
    if version not in (None, SCHEMA_VERSION):
        raise SkillmixError(
            f"run store of schema version {version}; this skillmix reads version "
            f"{SCHEMA_VERSION} (left untouched: use the skillmix that wrote it)",
            file=path,
        )


def checked_connection(
    path: Path, skip: tuple[str, ...] = ()
) -> tuple[sqlite3.Connection, str | None]:
    """A reading connection to a store that check_store passed (the whole file, or every table
    but those in `skip`), and its schema version. A store checked before in this process and not
    changed since (its file and WAL the same size and age) is not checked again: quick_check
    reads every page it checks."""
    db = None
    try:
        state = file_state(path)
        db = reading_connection(path)
        for known in {(state, skip), (state, ())} & CHECKED.keys():
            return db, CHECKED[known]
        version = check_store(db, path, skip)
        CHECKED[(state, skip)] = version
        return db, version
    except BaseException as exc:
        if db is not None:
            db.close()
        if not isinstance(exc, sqlite3.DatabaseError):
            raise
        plain = SkillmixError(f"not a skillmix run store ({exc})", file=path)
        raise store_error(path, exc) or plain from None


def file_state(path: Path) -> tuple[int, ...]:
    """What changes when a store is written: its file's identity, size and times (ctime too,
    which a copy that keeps the mtime cannot set), and its WAL's, but for the WAL's ctime:
    SQLite run as root chowns the WAL each time it opens it, even to read."""
    wal = path.with_name(f"{path.name}-wal")
    fields = ("st_dev", "st_ino", "st_size", "st_mtime_ns")
    state = [getattr(path.stat(), name) for name in (*fields, "st_ctime_ns")]
    if wal.exists():
        state += [getattr(wal.stat(), name) for name in fields]
    return tuple(state)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off while many records are built. They hold no cycles, and
    each collection would walk every object built so far: at 100,000 items, a third of a
    reader's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def generations_query(texts: bool) -> str:
    columns = _columns(GenerationRecord, texts, ("answer", "reason", "turn1_key", "turn2_key"))
    return f"SELECT {columns} FROM generations ORDER BY student, item_id, gen"


def gradings_query(texts: bool) -> str:
    columns = _columns(GradingRecord, texts, ("grader_points", "reason", "reply", "response_key"))
    order = "student, item_id, gen, grader, grading"
    return f"SELECT {columns} FROM gradings ORDER BY {order}"


def _columns(record: type[BaseModel], texts: bool, text_fields: tuple[str, ...]) -> str:
    """A record's columns, its text fields read as NULL unless `texts`."""
    fields = list(record.model_fields)
    return ", ".join(f"NULL AS {f}" if f in text_fields and not texts else f for f in fields)


def read_records(
    db: sqlite3.Connection,
    sql: str,
    adapter: TypeAdapter[list[R]],
    json_columns: tuple[str, ...] = (),
) -> list[R]:
    """The rows of a query as records."""
    records: list[R] = []
    with gc_paused():
        for chunk in record_chunks(db, sql, adapter, json_columns):
            records += chunk
    return records


def record_chunks(
    db: sqlite3.Connection,
    sql: str,
    adapter: TypeAdapter[list[R]],
    json_columns: tuple[str, ...] = (),
) -> Iterator[list[R]]:
    """The rows of a query as records, validated a chunk at a time (pydantic's core takes a
    list at once; each chunk's rows are dropped once read)."""
    cursor = db.cursor()
    cursor.row_factory = None  # plain tuples
    cursor.execute(sql)
    names = [column[0] for column in cursor.description]
    shared: dict[str, str] = {}  # one string object for each rubric key and skill
    while rows := cursor.fetchmany(RECORDS_PER_CHUNK):
        with gc_paused():
            chunk = [dict(zip(names, row, strict=True)) for row in rows]
            for data in chunk:
                for name in json_columns:
                    if data[name] is not None:
                        data[name] = _shared_keys(json.loads(data[name]), shared)
            records = adapter.validate_python(chunk)
            share_fields_set(records)
        yield records


def _shared_keys(value: object, shared: dict[str, str]) -> object:
    """A decoded rubric dict (or a list of skills) holding the strings already seen."""
    if isinstance(value, dict):
        return {shared.setdefault(key, key): item for key, item in value.items()}
    if isinstance(value, list):
        return [shared.setdefault(item, item) if isinstance(item, str) else item for item in value]
    return value


def share_fields_set(records: list[R]) -> None:
    """One set of field names for records validated from rows of the same columns, where
    pydantic makes one per record (0.7 kB each; BaseModel.__setattr__ only adds names to it,
    all of which it holds)."""
    if records and isinstance(records[0], BaseModel):
        shared = records[0].__pydantic_fields_set__
        for record in records:
            object.__setattr__(record, "__pydantic_fields_set__", shared)
