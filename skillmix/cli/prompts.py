"""`skillmix prompts CONFIG`: every request a run would send, as its backend would send it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from skillmix.cli.console import console, user_errors
from skillmix.outputs import write_text


def prompts_command(
    config: Annotated[Path, typer.Argument(help="Run configuration (YAML).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write JSON Lines here (default: standard output).")
    ] = None,
    reply: Annotated[
        str | None,
        typer.Option(help="The turn-1 reply to build turn 2 with (default: a stand-in)."),
    ] = None,
    answer: Annotated[
        str | None, typer.Option(help="The answer to build grader requests with (a stand-in).")
    ] = None,
) -> None:
    """Write every request of the run (turn 1 exactly; turn 2 and the grader's with a stand-in
    reply and answer, marked stand_in) without calling any model."""
    from skillmix.run.plan import build_plan
    from skillmix.run.preview import (
        STAND_IN_ANSWER,
        STAND_IN_REPLY,
        grader_requests,
        student_requests,
    )

    with user_errors():
        plan = build_plan(config)
        rows = [
            *student_requests(plan, reply or STAND_IN_REPLY),
            *grader_requests(plan, answer or STAND_IN_ANSWER),
        ]
        lines = [json.dumps(row, ensure_ascii=False) for row in rows]
        if out is None:
            for line in lines:
                console.print(line, markup=False, highlight=False, soft_wrap=True)
            return
        write_text(out, "".join(f"{line}\n" for line in lines))
    console.print(f"{len(lines)} requests -> {out}", markup=False, highlight=False)
