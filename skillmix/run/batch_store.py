"""The batch ledger of a run store: each provider batch a run makes, written before it is
created (its job and member keys), its batch id as soon as the create returns. A rerun reads
it to re-attach to its batches instead of paying for them again."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from skillmix.run.store import RunStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_jobs (
    job TEXT PRIMARY KEY, model TEXT NOT NULL, batch_id TEXT, status TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS batch_members (
    job TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (job, key));
"""
CREATING, SUBMITTED, ENDED, ABANDONED = "creating", "submitted", "ended", "abandoned"


@dataclass(frozen=True)
class Job:
    job: str
    batch_id: str | None  # None: created or not, unknown yet (a create that did not return)
    status: str
    keys: tuple[str, ...]
    created: float  # time.time() of its entry


class BatchLedger:
    def __init__(self, store: RunStore):
        self.store = store
        with store.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    store.db.execute(statement)

    def open_job(self, model: str, keys: list[str]) -> str:
        """A new job and its keys, committed: the create call comes after."""
        job = uuid.uuid4().hex
        with self.store.transaction():
            self.store.db.execute(
                "INSERT INTO batch_jobs VALUES (?, ?, NULL, ?, ?)",
                (job, model, CREATING, time.time()),
            )
            self.store.db.executemany(
                "INSERT INTO batch_members VALUES (?, ?)", [(job, key) for key in keys]
            )
        return job

    def set_batch(self, job: str, batch_id: str) -> None:
        self._update(
            "UPDATE batch_jobs SET batch_id = ?, status = ? WHERE job = ?",
            (batch_id, SUBMITTED, job),
        )

    def set_status(self, job: str, status: str) -> None:
        self._update("UPDATE batch_jobs SET status = ? WHERE job = ?", (status, job))

    def _update(self, sql: str, values: tuple[str, ...]) -> None:
        with self.store.transaction():
            self.store.db.execute(sql, values)

    def unfinished(self, model: str) -> list[Job]:
        """The model's jobs, oldest first, that hold a key with no stored response (their
        batches are polled again, or harvested again, on a rerun)."""
        rows = self.store.db.execute(
            "SELECT j.job, j.batch_id, j.status, j.created, m.key FROM batch_jobs j "
            "JOIN batch_members m ON m.job = j.job WHERE j.model = ? AND j.status != ? "
            "AND j.job IN (SELECT m2.job FROM batch_members m2 WHERE NOT EXISTS "
            "(SELECT 1 FROM responses r WHERE r.key = m2.key)) ORDER BY j.created, m.key",
            (model, ABANDONED),
        ).fetchall()
        jobs: dict[str, tuple[str | None, str, float, list[str]]] = {}
        for job, batch_id, status, created, key in rows:
            jobs.setdefault(job, (batch_id, status, created, []))[3].append(key)
        return [Job(job, b, s, tuple(keys), c) for job, (b, s, c, keys) in jobs.items()]

    def batch_ids(self, model: str) -> set[str]:
        rows = self.store.db.execute(
            "SELECT batch_id FROM batch_jobs WHERE model = ? AND batch_id IS NOT NULL", (model,)
        )
        return {str(row[0]) for row in rows}
