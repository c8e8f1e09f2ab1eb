"""`skillmix export-sft`: a graded run's best answers as fine-tuning data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skillmix.catalog.splits import SplitConfig, SplitPart, load_split
from skillmix.cli.console import console, user_errors
from skillmix.errors import SkillmixError


def parse_k(text: str | None) -> tuple[int, ...] | None:
    """'2,3' -> (2, 3); bad input names --k."""
    if text is None:
        return None
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise SkillmixError(
            f"not a comma-separated list of k values: {text!r}", field="--k"
        ) from None
    if any(k < 1 for k in values):
        raise SkillmixError(f"k values are at least 1: {text!r}", field="--k")
    return values


def export_sft_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Graded run directories (teacher runs).")],
    out: Annotated[Path, typer.Option(help="The JSONL to write (OpenAI fine-tuning format).")],
    only: Annotated[
        str, typer.Option(help="Which answers: full_marks or all_skills (each generation).")
    ] = "full_marks",
    k: Annotated[str | None, typer.Option(help="Only these k values, e.g. 2,3.")] = None,
    student: Annotated[
        list[str] | None, typer.Option(help="Only this student's answers (repeatable).")
    ] = None,
    split: Annotated[
        SplitPart | None,
        typer.Option(help="The part to export: train (default with a split) or held_out."),
    ] = None,
    split_file: Annotated[
        Path | None, typer.Option(help="The split's definition (else the run's own split).")
    ] = None,
    include_held_out: Annotated[
        bool, typer.Option(help="Also export items with skills or topics outside the part.")
    ] = False,
    hf_dataset: Annotated[
        Path | None, typer.Option(help="Also write a Hugging Face datasets folder here.")
    ] = None,
) -> None:
    """Write the graded answers that earned full credit as chat-format fine-tuning examples
    (turn-1 prompt -> final answer), with their metadata and a manifest of where they came
    from. With a train/held_out split, items holding a held-out skill or topic are left out."""
    from skillmix.finetune.examples import Selection
    from skillmix.finetune.export import build_export, metadata_path, write_export
    from skillmix.models.provenance import manifest_path

    with user_errors():
        if only not in ("full_marks", "all_skills"):
            raise SkillmixError(f"unknown filter {only!r} (full_marks, all_skills)", field="--only")
        selection = Selection(
            only="full_marks" if only == "full_marks" else "all_skills",
            k=parse_k(k),
            students=tuple(student) if student else None,
            include_held_out=include_held_out,
        )
        given = (
            None
            if split_file is None
            else load_split(split_file, split or SplitPart.TRAIN, "--split-file")
        )
        export = build_export(run_dirs, selection, split, given, out.name)
        write_export(export, out, hf_dataset)
    manifest = export.manifest
    say = console.print
    say(f"wrote {manifest.examples} examples to {out}", markup=False, highlight=False)
    left = ", ".join(f"{reason}: {n}" for reason, n in manifest.left_out.items() if n)
    say(f"left out: {left or 'none'}", markup=False, highlight=False)
    chosen = SplitConfig.model_validate(manifest.split) if manifest.split else None
    say(f"split: {chosen.describe() if chosen else 'none'}", markup=False, highlight=False)
    written = [metadata_path(out), manifest_path(out), *([hf_dataset] if hf_dataset else [])]
    say(f"beside it: {', '.join(str(p) for p in written)}", markup=False, highlight=False)
