"""Group commits: a run's writes of one turn of the event loop share a commit, and none is
used before it is committed (what a reader on another connection sees tells)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from skillmix.errors import SkillmixError
from skillmix.models import ModelOutput
from skillmix.records import Item, Usage
from skillmix.run.store import DB_NAME, RunStore


def put(store: RunStore, key: str) -> None:
    store.put_response(
        key,
        backend="openai",
        model="m",
        resolved_model="m",
        base_url=None,
        request={"messages": []},
        output=ModelOutput(f"text of {key}", Usage(1, 1)),
        cost_usd=None,
        latency_s=0.0,
    )


def committed_keys(run_dir: Path) -> set[str]:
    reader = sqlite3.connect(run_dir / DB_NAME)
    try:
        return {row[0] for row in reader.execute("SELECT key FROM responses")}
    finally:
        reader.close()


def grouped_store(run_dir: Path) -> RunStore:
    store = RunStore(run_dir)
    store.group_commits = True
    return store


def test_writes_of_one_turn_share_one_commit_that_comes_before_their_use(tmp_path: Path) -> None:
    store = grouped_store(tmp_path)
    seen: dict[str, set[str]] = {}

    async def respond(key: str) -> None:
        put(store, key)
        seen[f"{key} before"] = committed_keys(tmp_path)
        await store.committed()
        seen[f"{key} after"] = committed_keys(tmp_path)

    async def main() -> None:
        await asyncio.gather(*(respond(key) for key in ("a", "b", "c")))
        await respond("d")  # a later turn: a commit of its own

    try:
        asyncio.run(main())
    finally:
        store.close()
    assert seen["a before"] == seen["c before"] == set()  # waiting in the open transaction
    assert seen["a after"] == seen["c after"] == {"a", "b", "c"}  # one commit for the three
    assert seen["d before"] == {"a", "b", "c"} and seen["d after"] == {"a", "b", "c", "d"}


def test_without_group_commits_every_write_commits_at_once(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    try:
        put(store, "a")
        assert committed_keys(tmp_path) == {"a"}
        asyncio.run(store.committed())  # nothing to wait for
    finally:
        store.close()


def test_records_written_after_the_last_response_are_committed_at_close(tmp_path: Path) -> None:
    store = grouped_store(tmp_path)
    put(store, "a")
    store.put_items(
        [Item(item_id="k1-0", k=1, index=0, skills=("s",), topic="t", has_common_skill=False)]
    )  # a transaction: commits the group first
    assert committed_keys(tmp_path) == {"a"}
    put(store, "b")
    store.close()
    assert committed_keys(tmp_path) == {"a", "b"}


def test_a_failed_write_fails_every_writer_of_its_group(tmp_path: Path) -> None:
    """SQLite may roll the whole group back when a write fails: the writers whose rows it held
    get the error too, rather than use a response that is not stored."""
    store = grouped_store(tmp_path)
    put(store, "kept")
    store.flush()
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages + 1}")  # full for real: SQLite's limit
    outcomes: dict[str, str] = {}

    async def respond(key: str) -> None:
        try:
            put(store, key)
            await store.committed()
            outcomes[key[:5]] = "used"
        except SkillmixError as exc:
            outcomes[key[:5]] = str(exc)

    async def main() -> None:
        await asyncio.gather(respond("small"), respond("large" * 100_000))

    try:
        asyncio.run(main())
        assert not store.db.in_transaction
    finally:
        store.close()
    assert committed_keys(tmp_path) == {"kept"}
    assert outcomes.keys() == {"small", "large"}
    assert all("the disk is full" in outcome for outcome in outcomes.values()), outcomes


@pytest.mark.parametrize("grouped", [True, False])
def test_a_reread_response_is_the_one_written(tmp_path: Path, grouped: bool) -> None:
    store = grouped_store(tmp_path) if grouped else RunStore(tmp_path)
    try:
        put(store, "a")  # not committed yet when grouped: this connection still reads it
        found = store.get_response("a")
        assert found is not None and found[0].text == "text of a"
    finally:
        store.close()
