"""The run store's schema version is checked on open: another version is refused, untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.errors import SkillmixError
from skillmix.run.store import DB_NAME, RunStore
from skillmix.run.store_reading import SCHEMA_VERSION
from tests.helpers.configs import run_config, write_config


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def store_of_version(folder: Path, version: str) -> Path:
    store = RunStore(folder)
    store.set_meta("schema_version", version)
    store.set_meta("config", "{}")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return folder / DB_NAME


def test_a_new_store_records_its_version(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    try:
        assert store.get_meta("schema_version") == SCHEMA_VERSION
    finally:
        store.close()
    reopened = RunStore.open_for_reading(tmp_path)  # the same version opens
    reopened.close()


def test_a_store_of_another_version_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = store_of_version(tmp_path, "99")
    before = digest(tmp_path)
    with pytest.raises(SkillmixError) as caught:
        RunStore(tmp_path)
    message = str(caught.value)
    assert str(path) in message and "schema version 99" in message and "\n" not in message
    assert digest(tmp_path) == before


def test_a_file_that_is_not_a_store_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"not a database at all, just text " * 100)
    before = digest(tmp_path)
    with pytest.raises(SkillmixError, match="not a skillmix run store"):
        RunStore(tmp_path)
    assert digest(tmp_path) == before


@pytest.mark.parametrize("command", ["report", "eval"])
def test_commands_name_the_store_in_one_line(tmp_path: Path, command: str) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    store_of_version(run_dir, "0")
    before = digest(run_dir)
    config = write_config(tmp_path / "c.yaml", run_config(run_dir))
    argument = str(run_dir) if command == "report" else str(config)
    result = CliRunner().invoke(app, [command, argument])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "schema version 0" in lines[0] and DB_NAME in lines[0]
    assert digest(run_dir) == before
    assert sqlite3.connect(run_dir / DB_NAME).execute("SELECT 1").fetchone() == (1,)
