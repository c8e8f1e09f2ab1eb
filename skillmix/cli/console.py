"""Consoles shared by the CLI modules, and the one-line handling of bad input."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from skillmix.errors import SkillmixError

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def warn(message: str) -> None:
    """One `warning: ` line on stderr: something the command could not do besides its work."""
    errors.print(f"warning: {message}", markup=False, highlight=False)


def _fail(message: str) -> typer.Exit:
    errors.print(f"error: {message}", markup=False, highlight=False)
    return typer.Exit(2)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Bad input ends the command with one line and exit code 2, never a traceback: so does a
    file the command cannot read or write (an OSError naming it: missing, read-only, a
    directory, a full disk)."""
    try:
        yield
    except SkillmixError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        if exc.filename is None and not isinstance(exc, FileNotFoundError):
            raise  # names no file: not the user's input
        where = f"{exc.filename}: " if exc.filename is not None else ""
        raise _fail(f"{where}{exc.strerror or exc}") from None
