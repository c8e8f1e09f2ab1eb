"""Consoles shared by the CLI modules, and the one-line handling of bad input."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from skillmix.errors import SkillmixError

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Bad input ends the command with one line and exit code 2, never a traceback."""
    try:
        yield
    except (SkillmixError, FileNotFoundError) as exc:
        errors.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None
