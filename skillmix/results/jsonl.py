"""Every record of a run as JSON Lines, written and read back (pandas, DuckDB, jq)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from skillmix.config import ExtraGrader, RunConfig, stored_graders
from skillmix.outputs import write_lines
from skillmix.records import GENERATIONS, GRADINGS, Item
from skillmix.results.build import RunData, refuse_conceptmix
from skillmix.run.store import RunStore

TABLES = ("config", "grader", "item", "generation", "grading")


def export_jsonl(store: RunStore, out: Path) -> int:
    """Every stored item, generation and grading: one JSON object per line, tagged by `table`,
    the first line carrying the run's configuration, then one per grader `regrade` added.
    Written as read, a chunk of records at a time. Returns the number of lines."""
    refuse_conceptmix(store)
    config = {"table": "config", **json.loads(store.get_meta("config") or "{}")}
    graders = stored_graders(store.get_meta("graders"), store.path)

    def lines() -> Iterator[str]:
        yield json.dumps(config, ensure_ascii=False)
        yield from _tagged("grader", graders)
        yield from _tagged("item", store.items())
        for generations in store.generation_chunks():
            yield from _tagged("generation", generations)
        for gradings in store.grading_chunks():
            yield from _tagged("grading", gradings)

    return write_lines(out, lines())


def _tagged(table: str, records: Iterable[BaseModel]) -> Iterator[str]:
    """Each record as one JSON line, its table first: {"table": ..., <the record's fields>}
    (serialised by pydantic's core, a record at a time)."""
    head = json.dumps({"table": table})[:-1] + ", "
    return (head + record.model_dump_json()[1:] for record in records)


def read_jsonl(path: Path) -> RunData:
    """The records of a JSONL export, as the results builder takes them."""
    tables: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLES}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            record = json.loads(line)
            table = record.pop("table", None)
            if table not in tables:
                raise ValueError(f"{path}: line {number}: unknown table {table!r}")
            tables[table].append(record)
    if len(tables["config"]) != 1:
        raise ValueError(f"{path}: expected one config line")
    return RunData(
        RunConfig.model_validate(tables["config"][0]),
        [Item.model_validate(r) for r in tables["item"]],
        GENERATIONS.validate_python(tables["generation"]),
        GRADINGS.validate_python(tables["grading"]),
        graders=tuple(ExtraGrader.model_validate(g) for g in tables["grader"]),
    )
