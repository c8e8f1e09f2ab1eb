"""One error type for bad input: its message is a single line that names the file and field."""

from __future__ import annotations

from pathlib import Path


class SkillmixError(Exception):
    """Bad user input (config, catalog, template, model string). The CLI prints it and exits 2."""

    def __init__(self, message: str, *, file: Path | str | None = None, field: str | None = None):
        self.file = str(file) if file is not None else None
        self.field = field
        where = ": ".join(part for part in (self.file, field) if part)
        text = f"{where}: {message}" if where else message
        super().__init__(" ".join(text.split()))


class BackendError(Exception):
    """A model call failed in a way the caller records against the item (not bad input)."""
