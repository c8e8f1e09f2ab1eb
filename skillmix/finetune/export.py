"""`skillmix export-sft`: graded runs -> fine-tuning data.

Writes, each whole or not at all:
- `OUT.jsonl`: one example a line in the OpenAI fine-tuning format (`{"messages": [...]}`,
  nothing else: that API refuses extra keys);
- `OUT.meta.jsonl`: line for line, each example's run, item, student, generation and scores;
- `OUT.jsonl.manifest.json`: where the examples came from, the filter and the split
  (`TrainingData`), which `skillmix finetune` carries into the model folder;
- optionally a Hugging Face `datasets` folder holding the messages and the metadata columns.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from skillmix.catalog.splits import SplitConfig, SplitPart
from skillmix.errors import SkillmixError
from skillmix.finetune.examples import Example, RunExamples, Selection, run_examples
from skillmix.models.provenance import SourceRun, TrainingData, manifest_path
from skillmix.outputs import check_output_file, write_text


@dataclass(frozen=True)
class Export:
    examples: list[Example]
    manifest: TrainingData


def metadata_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".jsonl") + ".meta.jsonl")


def collect(
    run_dirs: list[Path],
    selection: Selection,
    part: SplitPart | None = None,
    split: SplitConfig | None = None,
) -> tuple[list[RunExamples], SplitConfig | None]:
    """The examples of each run; every run must be checked against the same split."""
    found: list[RunExamples] = []
    chosen: SplitConfig | None = None
    for index, run_dir in enumerate(run_dirs):
        examples, run_chosen = run_examples(run_dir, selection, part, split)
        if index and _definition(run_chosen) != _definition(chosen):
            raise SkillmixError(
                "the runs were sampled on different splits: export them one at a time or "
                "name the split with --split-file",
                file=run_dir,
            )
        found.append(examples)
        chosen = run_chosen
    return found, chosen


def _definition(split: SplitConfig | None) -> object:
    return None if split is None else (split.part, split.definition())


def build_export(
    run_dirs: list[Path],
    selection: Selection,
    part: SplitPart | None = None,
    split: SplitConfig | None = None,
    data_file: str = "train.jsonl",
) -> Export:
    runs, chosen = collect(run_dirs, selection, part, split)
    examples = [example for run in runs for example in run.examples]
    left_out: Counter[str] = Counter()
    for run in runs:
        left_out.update(run.left_out)
    if not examples:
        raise _selects_nothing(selection, left_out)
    manifest = TrainingData(
        data_file=data_file,
        data_sha256=hashlib.sha256(_jsonl(examples).encode()).hexdigest(),
        examples=len(examples),
        runs=[SourceRun(run_id=r.run_id, run_dir=str(r.run_dir)) for r in runs],
        selection=_selection_record(selection),
        split=None if chosen is None else chosen.model_dump(mode="json"),
        skills=sorted({s for e in examples for s in e.metadata["skills"]}),
        topics=sorted({e.metadata["topic"] for e in examples}),
        left_out=dict(sorted(left_out.items())),
    )
    return Export(examples, manifest)


def _selection_record(selection: Selection) -> dict[str, object]:
    record = asdict(selection)
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in record.items()
    }


def _selects_nothing(selection: Selection, left_out: Counter[str]) -> SkillmixError:
    """One line naming the filter that removed the last candidates (filters apply in order)."""
    fields = {
        "student not selected": "--student",
        "k not selected": "--k",
        "no scored answer": "RUN_DIR",
        f"not {selection.only}": "--only",
        "held-out skill or topic": "--split",
    }
    counts = ", ".join(f"{reason}: {n}" for reason, n in sorted(left_out.items()) if n)
    last = [field for reason, field in fields.items() if left_out[reason]]
    return SkillmixError(
        f"the export selects no example ({counts or 'the run holds no graded answer'})",
        field=last[-1] if last else "RUN_DIR",
    )


def _jsonl(examples: list[Example]) -> str:
    return "".join(
        json.dumps({"messages": e.messages}, ensure_ascii=False) + "\n" for e in examples
    )


def write_export(export: Export, out: Path, hf_dataset: Path | None = None) -> None:
    """The data, its metadata and its manifest (and the datasets folder), each atomically."""
    for path in (out, metadata_path(out), manifest_path(out)):
        check_output_file(path, "--out")
    if hf_dataset is not None and hf_dataset.is_file():
        raise SkillmixError("is a file: give a folder", file=hf_dataset, field="--hf-dataset")
    manifest = export.manifest.model_copy(update={"data_file": out.name})
    metadata = "".join(json.dumps(e.metadata, ensure_ascii=False) + "\n" for e in export.examples)
    write_text(out, _jsonl(export.examples))
    write_text(metadata_path(out), metadata)
    if hf_dataset is not None:
        write_dataset(export.examples, hf_dataset)
    write_text(manifest_path(out), manifest.model_dump_json(indent=2) + "\n")


def write_dataset(examples: list[Example], folder: Path) -> None:
    """A `datasets` folder (`load_from_disk`): the messages and every metadata column. Saved
    beside the target and moved into place, so a killed export leaves the old folder whole."""
    from datasets import Dataset  # the `train` extra

    rows = [
        {**e.metadata, "messages": e.messages, "points": json.dumps(e.metadata["points"])}
        for e in examples
    ]
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    try:
        Dataset.from_list(rows).save_to_disk(str(staging))
        if folder.exists():
            folder.rename(old)
        staging.rename(folder)
    except OSError as exc:
        raise SkillmixError(f"cannot write ({exc.strerror or exc})", file=folder) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
