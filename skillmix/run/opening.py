"""Opening a plan's run directory for a run: its lock, its store, and what the run is
(configuration, catalog and prompt hashes, items) recorded before any call."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skillmix.config import stored_config
from skillmix.errors import SkillmixError
from skillmix.models.provenance import model_provenance
from skillmix.run.conceptmix.store import is_conceptmix
from skillmix.run.identity import changed_items, changes, identity
from skillmix.run.lock import RunLock
from skillmix.run.plan import RunPlan
from skillmix.run.store import DB_NAME, RunStore
from skillmix.run.store_reading import stored_schema_version

TRAINING_KEYS = {"data_sha256", "runs", "split", "skills", "topics"}


def open_run(plan: RunPlan, *, new_run: bool = False) -> RunStore:
    """The plan's run store, created or reopened, with its configuration and items recorded;
    it holds the run directory's lock until it is closed. A store holding another run is
    refused, or with `new_run` set aside (moved into previous/<run id>/) for a fresh one."""
    store = open_store(plan.config.output_dir, lambda found: another_run(found, plan), new_run)
    try:
        record_run(store, plan)
    except BaseException:
        store.close()
        raise
    return store


def open_store(run_dir: Path, another: Callable[[RunStore], str | None], new_run: bool) -> RunStore:
    """A run directory's store, locked, created or reopened. `another` says why it holds
    another run (None: it holds this one or none): refused, or with `new_run` set aside."""
    check_output_dir(run_dir)  # refused before the lock touches the folder
    if (run_dir / DB_NAME).is_file():  # checked (whole) before the lock touches the folder
        stored_schema_version(run_dir / DB_NAME)
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        store = RunStore(run_dir, lock, checked=True)
    except BaseException:
        lock.release()
        raise
    try:
        conflict = another(store)
        if conflict is not None and new_run:
            store = set_aside(store, lock)
        elif conflict is not None:
            raise SkillmixError(conflict, file=run_dir)
    except BaseException:
        store.close()
        raise
    return store


def check_output_dir(run_dir: Path) -> None:
    """output_dir must be a directory this process can write (or create), with a writable run
    store in it if it has one: bad input otherwise."""
    existing = next(folder for folder in (run_dir, *run_dir.parents) if folder.exists())
    if not existing.is_dir():
        what = "is a file" if existing == run_dir else f"cannot be created: {existing} is a file"
        raise SkillmixError(f"{what}, not a directory", file=run_dir, field="output_dir")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SkillmixError(
            f"read-only{'' if existing == run_dir else f' ({existing})'}: a run writes its store "
            "here (reading a finished run needs no write access: skillmix report)",
            file=run_dir,
            field="output_dir",
        )
    store = run_dir / DB_NAME
    if store.exists() and not (store.is_file() and os.access(store, os.R_OK | os.W_OK)):
        why = "read-only" if store.is_file() else "not a file"
        raise SkillmixError(f"{why}: a run writes its store here", file=store)


def another_run(store: RunStore, plan: RunPlan) -> str | None:
    """Why the store holds another run than the plan's, or None if it holds this one (or none)."""
    if store.get_meta("source") is not None:
        return "holds an imported official run: give the evaluation its own output_dir"
    if is_conceptmix(store):
        return "holds a ConceptMix run: give the Skill-Mix run its own output_dir"
    wanted = identity(plan.config, plan.catalog.content_hash, plan.prompts.content_hash)
    differ = changes(stored_identity(store), wanted)
    moved = changed_items(store.items(), plan.items)
    if not differ and not moved:
        return None
    what = ", ".join(differ) if differ else f"the items ({', '.join(moved[:3])})"
    return (
        f"holds another run: this config changes its {what}; use a new output_dir, or "
        "`skillmix eval --new-run` to set the stored run aside and start afresh"
    )


def stored_identity(store: RunStore) -> dict[str, Any]:
    stored = store.get_meta("config")
    if stored is None:
        return {}
    config = stored_config(stored, store.path)
    hashes = (store.get_meta("catalog_hash") or "", store.get_meta("prompt_hash") or "")
    return identity(config, *hashes)


def set_aside(store: RunStore, lock: RunLock) -> RunStore:
    """Move the store's files into previous/<run id>/ and open a fresh store in their place."""
    run_dir = store.path.parent
    target = run_dir / "previous" / (store.get_meta("run_id") or "unknown")
    store.lock = None  # keep holding the directory
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    target.mkdir(parents=True, exist_ok=True)
    for path in run_dir.glob(f"{DB_NAME}*"):
        path.rename(target / path.name)
    return RunStore(run_dir, lock)


def record_run(store: RunStore, plan: RunPlan) -> None:
    """What the run is, recorded before any call: config, hashes, catalog sizes, items."""
    store.set_meta("config", plan.config.model_dump_json())
    store.set_meta("catalog_hash", plan.catalog.content_hash)
    store.set_meta("prompt_hash", plan.prompts.content_hash)
    catalog = plan.catalog
    sizes = {
        "skills": len(catalog.skills),
        "common": sum(s.common for s in catalog.skills),
        "topics": len(catalog.topics),
    }
    store.set_meta("catalog_sizes", json.dumps(sizes))
    store.set_meta("training_data", json.dumps(training_data(plan)))
    store.put_items(plan.items)


def training_data(plan: RunPlan) -> dict[str, dict[str, object]]:
    """What each fine-tuned student was trained on (skills, topics, source runs, split), so
    that the report can flag items whose skills it has seen."""
    seen: dict[str, dict[str, object]] = {}
    for entry in plan.config.students:
        provenance = model_provenance(entry.model)
        if provenance is not None:
            data = provenance.data
            seen[entry.label] = data.model_dump(mode="json", include=TRAINING_KEYS)
    return seen
