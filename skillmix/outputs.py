"""Files the harness writes for the user (reports, exports, catalogs, prompt listings): each
written whole or not at all."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError


def check_output_file(out: Path, field: str | None = None) -> None:
    """An output path that names a directory is bad input (before any work is done)."""
    if out.is_dir():
        raise SkillmixError("is a directory: give a file name", file=out, field=field)


def write_file(out: Path, write: Callable[[Path], object]) -> None:
    """`write(path)` into a temporary file beside `out`, moved onto it once complete: a full
    disk or a read-only folder leaves no half-written file (and an older `out` as it was).
    Failing to write is bad input naming the file."""
    check_output_file(out)
    if out.exists() and not out.is_file():  # a device or pipe (/dev/stdout): written directly
        target = out
    else:
        target = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            write(target)
            target.replace(out)
        finally:
            if target != out:
                target.unlink(missing_ok=True)
    except OSError as exc:
        raise SkillmixError(f"cannot write ({exc.strerror or exc})", file=out) from None


def write_text(out: Path, text: str) -> None:
    """`text` as UTF-8 into `out`, atomically (see `write_file`)."""
    write_file(out, lambda path: path.write_text(text, encoding="utf-8"))


def write_jsonl(out: Path, records: Iterable[Mapping[str, Any]]) -> int:
    """One JSON object per line into `out`, atomically (see `write_file`); `records` may be
    an iterator, written as it yields. Returns the number of lines."""
    return write_lines(out, (json.dumps(record, ensure_ascii=False) for record in records))


def write_lines(out: Path, lines: Iterable[str]) -> int:
    """Each line and a newline into `out` as UTF-8, atomically (see `write_file`); the number
    of lines."""
    written = 0

    def write(path: Path) -> None:
        nonlocal written
        with path.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line + "\n")
                written += 1

    write_file(out, write)
    return written
