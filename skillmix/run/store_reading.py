"""Opening a run store for reading without writing anything beside it (store.py's reader)."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path


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
