"""The ConceptMix tables of a run store, and the run's image files.

A ConceptMix run uses the same SQLite store as Skill-Mix (meta, calls, responses) plus its
items, its images and its verdicts, and for written items (items.generate) how each was
written. Image bytes live beside the store, content addressed
(images/<sha256[:2]>/<sha256>.<ext>), each written whole (temporary file, fsync, rename) before
the response that names it is committed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from skillmix.errors import SkillmixError
from skillmix.records import ConceptItem, ImageRecord, VerdictRecord, WritingRecord
from skillmix.run.store import RunStore

SUITE = "conceptmix"
IMAGES_DIR = "images"
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS concept_items (
    item_id TEXT PRIMARY KEY, k INTEGER NOT NULL, idx INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    model TEXT NOT NULL, item_id TEXT NOT NULL, image INTEGER NOT NULL, status TEXT NOT NULL,
    sha256 TEXT, media_type TEXT, width INTEGER, height INTEGER, revised_prompt TEXT,
    reason TEXT, response_key TEXT, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cost_usd REAL, PRIMARY KEY (model, item_id, image));
CREATE TABLE IF NOT EXISTS verdicts (
    model TEXT NOT NULL, item_id TEXT NOT NULL, image INTEGER NOT NULL, grader TEXT NOT NULL,
    question INTEGER NOT NULL, status TEXT NOT NULL, p_yes REAL, reply TEXT, reason TEXT,
    response_key TEXT, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cost_usd REAL, PRIMARY KEY (model, item_id, image, grader, question));
CREATE TABLE IF NOT EXISTS concept_writing (
    item_id TEXT PRIMARY KEY, k INTEGER NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL, reason TEXT, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cost_usd REAL);
"""
IMAGE_COLUMNS = (
    "model, item_id, image, status, sha256, media_type, width, height, revised_prompt, reason, "
    "response_key, input_tokens, output_tokens, cost_usd"
)
WRITING_COLUMNS = "item_id, k, status, attempts, reason, input_tokens, output_tokens, cost_usd"
VERDICT_COLUMNS = (
    "model, item_id, image, grader, question, status, p_yes, reply, reason, response_key, "
    "input_tokens, output_tokens, cost_usd"
)


def is_conceptmix(store: RunStore) -> bool:
    return store.get_meta("suite") == SUITE


class ImageFiles:
    """A run's image files, content addressed under run_dir/images/."""

    def __init__(self, run_dir: Path):
        self.root = run_dir / IMAGES_DIR

    def path(self, sha256: str, media_type: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{EXTENSIONS.get(media_type, 'bin')}"

    def write(self, data: bytes, media_type: str) -> str:
        """Store an image whole (once per content) and return its sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256, media_type)
        if target.is_file() and target.stat().st_size == len(data):
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return sha256

    def read(self, sha256: str, media_type: str) -> bytes:
        path = self.path(sha256, media_type)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SkillmixError("image file missing from the run", file=path) from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise SkillmixError("image file damaged (its sha256 differs)", file=path)
        return data


class ConceptStore:
    """The ConceptMix records of a run store (its connection, its transactions)."""

    def __init__(self, store: RunStore):
        self.store = store
        self.files = ImageFiles(store.path.parent)

    def create_tables(self) -> None:
        self.store.db.executescript(SCHEMA)
        self.store.set_meta("suite", SUITE)

    def put_items(self, items: list[ConceptItem], *, transaction: bool = True) -> None:
        rows = [(i.item_id, i.k, i.index, i.model_dump_json()) for i in items]
        sql = "INSERT OR REPLACE INTO concept_items VALUES (?, ?, ?, ?)"
        if not transaction:
            self.store.db.executemany(sql, rows)
            return
        with self.store.transaction():
            self.store.db.executemany(sql, rows)

    def items(self) -> list[ConceptItem]:
        rows = self.store.db.execute("SELECT data FROM concept_items ORDER BY k, idx")
        return [ConceptItem.model_validate_json(row[0]) for row in rows.fetchall()]

    def put_image(self, record: ImageRecord) -> None:
        self._put("images", IMAGE_COLUMNS, record)

    def images(self) -> list[ImageRecord]:
        rows = self._rows("images", IMAGE_COLUMNS, "model, item_id, image")
        return [ImageRecord(**row) for row in rows]

    def put_verdict(self, record: VerdictRecord) -> None:
        self._put("verdicts", VERDICT_COLUMNS, record)

    def verdicts(self) -> list[VerdictRecord]:
        rows = self._rows("verdicts", VERDICT_COLUMNS, "model, item_id, image, grader, question")
        return [VerdictRecord(**row) for row in rows]

    def put_writing(self, record: WritingRecord, item: ConceptItem | None) -> None:
        """How an item was written, and the item when it was, in one transaction."""
        with self.store.transaction():
            self._put("concept_writing", WRITING_COLUMNS, record)
            if item is not None:
                self.put_items([item], transaction=False)

    def writings(self) -> list[WritingRecord]:
        tables = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'concept_writing'"
        if self.store.db.execute(tables).fetchone() is None:  # a store from before it
            return []
        rows = self._rows("concept_writing", WRITING_COLUMNS, "k, item_id")
        return [WritingRecord(**row) for row in rows]

    def _put(self, table: str, columns: str, record: BaseModel) -> None:
        marks = ", ".join(f":{name.strip()}" for name in columns.split(","))
        self.store.db.execute(
            f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})",
            record.model_dump(mode="json"),
        )

    def _rows(self, table: str, columns: str, order: str) -> list[dict[str, Any]]:
        rows = self.store.db.execute(f"SELECT {columns} FROM {table} ORDER BY {order}")
        return [dict(row) for row in rows.fetchall()]

    def config_json(self) -> str | None:
        return self.store.get_meta("config")
