"""The vLLM backends for real, on the CPU build of vLLM (`vllm-cpu`) with the bundled model.

Run in .venv-vllm (made by scripts/vllm_env.sh):

    .venv-vllm/bin/python -m pytest tests/models/test_vllm_backend.py

The main environment has no vLLM and skips this file. One engine serves the in-process tests
(loading one takes about a minute on 2 cores); the kill-and-resume test runs skillmix in
subprocesses and the server test starts vLLM's OpenAI server, each loading its own.

Everything runs in float32: on the CPU build, bfloat16 greedy replies of a request run alone
can differ from the same request in a batch (small batches likely take other kernels), and a
resumed run batches its remaining calls differently from an uninterrupted one. In float32 they
do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import configs
from tests.helpers.configs import model_entry
from tests.helpers.paths import ROOT
from tests.helpers.runs import (
    count_responses,
    eval_command,
    graded,
    kill_after_responses,
    results,
    stored,
    wait_until_gone,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
pytest.importorskip("vllm")


from skillmix.api import evaluate
from skillmix.models import BackendSettings, GenerationParams, ModelRequest, create_backend
from skillmix.models.folders import model_folder
from skillmix.models.vllm_engine import (
    SharedEngine,
    VLLMBackend,
    acquire_engine,
    release_engine,
)
from skillmix.models.vllm_server import ServerProcess, VLLMServerBackend
from skillmix.protocol.grading import points_schema
from skillmix.protocol.rubric import build_rubric
from skillmix.results.leaderboard import results_frame
from skillmix.run.plan import build_plan

pytestmark = pytest.mark.slow

OPTIONS: dict[str, Any] = {"dtype": "float32"}  # batch-independent greedy output (see above)


# -- helpers ----------------------------------------------------------------------------------


def request(text: str, seed: int = 0, **params: Any) -> ModelRequest:
    return ModelRequest(
        messages=[{"role": "user", "content": text}],
        params=GenerationParams(**params),
        seed=seed,
    )


def make_backend(**options: Any) -> VLLMBackend:
    backend = create_backend("vllm/smollm2", BackendSettings(options={**OPTIONS, **options}))
    assert isinstance(backend, VLLMBackend)
    return backend


def generate_all(requests: list[ModelRequest], **options: Any) -> list[Any]:
    """All requests at once through a fresh backend on the shared engine, then closed."""

    async def run() -> list[Any]:
        backend = make_backend(**options)
        try:
            return await asyncio.gather(*(backend.generate(r) for r in requests))
        finally:
            await backend.aclose()

    return asyncio.run(run())


def run_config(
    tmp_path: Path,
    name: str,
    model: str = "vllm/smollm2",
    ks: list[int] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """A tiny run, greedy so that it is deterministic: 4 items at k=1, 2 (2 at k=1 alone)."""
    entry = model_entry(model, options={**OPTIONS, **options})
    return configs.run_config(
        tmp_path / name,
        seed=7,
        k=ks or [1, 2],
        students=[{**entry, "params": {"temperature": 0, "max_tokens": 32}}],
        # the grader's JSON object needs room: at 32 tokens it is cut off (unscored)
        grader={**entry, "params": {"temperature": 0, "max_tokens": 128}},
    )


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Iterator[SharedEngine]:
    """The module's engine: backends made by the tests (and runs in this process) share it."""
    key, shared = acquire_engine(model_folder("vllm", "smollm2"), OPTIONS)
    yield shared
    release_engine(key)


@pytest.fixture
def chat_calls(engine: SharedEngine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch size of every `llm.chat` call on the real engine during the test."""
    sizes: list[int] = []
    real_chat: Callable[..., Any] = engine.llm.chat

    def counting_chat(messages: list[Any], *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(messages))
        return real_chat(messages, *args, **kwargs)

    monkeypatch.setattr(engine.llm, "chat", counting_chat)
    return sizes


@pytest.fixture(scope="module")
def straight_run(engine: SharedEngine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted mini run through the real runner, in process, on the shared engine."""
    tmp_path = tmp_path_factory.mktemp("straight")
    run_results = evaluate(run_config(tmp_path, "straight"))
    run_dir = tmp_path / "straight"
    # the leaderboard CSV as `skillmix eval` writes it
    results_frame(run_results).to_csv(run_dir / "leaderboard.csv", index=False, float_format="%.6g")
    return run_dir


# -- the in-process engine --------------------------------------------------------------------


def test_concurrent_calls_reach_the_engine_as_one_batch(chat_calls: list[int]) -> None:
    topics = ["gardening", "curling", "piano tuning", "locksmithing"] * 2
    requests = [
        request(f"Write one sentence about {topic}.", seed=i, temperature=0.8, max_tokens=8)
        for i, topic in enumerate(topics)
    ]
    outputs = generate_all(requests)
    assert chat_calls == [8]
    for output in outputs:
        assert output.text.strip()
        assert output.usage.input_tokens > 10
        assert 0 < output.usage.output_tokens <= 8
        assert output.finish_reason in ("stop", "length")


def test_sampling_follows_the_seed_and_greedy_ignores_the_batch(chat_calls: list[int]) -> None:
    sampled = request("Invent a name for a city.", seed=1234, temperature=1.0, max_tokens=12)
    others = [request(f"Count to {n}.", seed=n, temperature=1.0, max_tokens=12) for n in (3, 5, 7)]
    in_batch = generate_all([*others, sampled])[-1].text
    alone = generate_all([sampled])[0].text
    assert in_batch == alone
    assert generate_all([sampled])[0].text == alone  # the same seed, the same text

    greedy = [
        request(f"Describe {thing} in one sentence.", temperature=0, max_tokens=16)
        for thing in ("a lighthouse", "a violin", "rain", "a market")
    ]
    batched = [output.text for output in generate_all(greedy)]
    one_by_one = [generate_all([r])[0].text for r in greedy]
    assert batched == one_by_one
    assert chat_calls == [4, 1, 1, 4, 1, 1, 1, 1]


def test_top_logprobs_are_the_first_token_s_likeliest_alternatives(engine: SharedEngine) -> None:
    ask = request("Is the sky blue? Answer Yes or No.", temperature=0, max_tokens=1, top_logprobs=5)
    output = generate_all([ask])[0]
    assert output.top_logprobs is not None and len(output.top_logprobs) == 5
    tokens = [token for token, _ in output.top_logprobs]
    logprobs = [logprob for _, logprob in output.top_logprobs]
    assert logprobs == sorted(logprobs, reverse=True) and all(lp <= 0 for lp in logprobs)
    assert tokens[0] == output.text  # greedy: the reply is the likeliest first token
    assert 0.0 < sum(math.exp(lp) for lp in logprobs) <= 1.0 + 1e-6


def test_json_schema_requests_return_a_json_object_of_that_shape(engine: SharedEngine) -> None:
    rubric = build_rubric(("hedging (linguistics)",), "Gardening")
    schema = points_schema(rubric)
    ask = request(
        "Grade this text about gardening: 'Perhaps the roses might bloom.' "
        "Give 1 or 0 for each criterion as JSON.",
        temperature=0,
        max_tokens=128,
    )
    output = generate_all([ModelRequest(ask.messages, ask.params, 0, json_schema=schema)])[0]
    reply = json.loads(output.text)
    assert isinstance(reply, dict)
    assert set(reply) == set(schema["required"])
    assert all(value in (0, 1) for value in reply.values())


def test_a_mini_run_through_the_runner(straight_run: Path) -> None:
    generations = stored(straight_run, "SELECT status FROM generations")
    gradings = stored(straight_run, "SELECT status FROM gradings")
    assert [status for (status,) in generations] == ["ok"] * 4
    assert [status for (status,) in gradings] == ["scored"] * 4
    backends = stored(straight_run, "SELECT DISTINCT backend, resolved_model FROM responses")
    assert len(backends) == 1 and backends[0][0] == "vllm"


# -- a run in a subprocess, killed and resumed -------------------------------------------------


def test_killed_run_resumes_without_repeating_calls_and_matches_uninterrupted(
    tmp_path: Path, straight_run: Path
) -> None:
    config = tmp_path / "resumed.yaml"
    # batches of 2, so that the 4 turn-1 calls take two engine calls: killed after the first,
    # the run stops in the middle of a phase (its replies must not depend on the batching)
    config.write_text(yaml.safe_dump(run_config(tmp_path, "resumed", max_batch_size=2)))
    run_dir = tmp_path / "resumed"
    total = count_responses(straight_run)  # 4 turn-1, 4 turn-2 and 4 grading calls

    # a process group of its own, so that its engine processes can be found
    pid = kill_after_responses(config, run_dir, 1, timeout_s=600, start_new_session=True)
    try:  # vLLM's engine processes would outlive it; the backend's watchdog kills them
        assert wait_until_gone(pid) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    before = {key for (key,) in stored(run_dir, "SELECT key FROM responses")}
    assert 0 < len(before) < 4  # part of the turn-1 phase

    finished = subprocess.run(eval_command(config), cwd=ROOT, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]

    calls = dict(stored(run_dir, "SELECT key, COUNT(*) FROM calls GROUP BY key"))
    repeated = [key for key in before if calls[key] != 1]
    assert not repeated, f"{len(repeated)} stored responses were requested again"
    assert count_responses(run_dir) == total
    assert results(run_dir).equals(results(straight_run))
    assert graded(run_dir) == graded(straight_run)


# -- vLLM's OpenAI server ---------------------------------------------------------------------


def test_server_backend_runs_an_eval_and_stops_its_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: list[ServerProcess] = []
    launch = VLLMServerBackend._launch

    def spy(self: VLLMServerBackend, group: list[int] | None = None, number: int = 0) -> Any:
        server = launch(self, group, number)
        launched.append(server)
        return server

    monkeypatch.setattr(VLLMServerBackend, "_launch", spy)
    config = run_config(tmp_path, "served", model="vllm-server/smollm2", ks=[1])

    build_plan(config)  # validating the config and building backends starts nothing
    assert launched == []

    evaluate(config)
    run_dir = tmp_path / "served"
    assert [status for (status,) in stored(run_dir, "SELECT status FROM generations")] == [
        "ok",
        "ok",
    ]
    assert [s for (s,) in stored(run_dir, "SELECT status FROM gradings")] == ["scored"] * 2
    backends = {b for (b,) in stored(run_dir, "SELECT DISTINCT backend FROM responses")}
    assert backends == {"vllm-server"}
    assert len(launched) == 1  # student and grader share one backend, so one server
    server = launched[0]
    assert server.process.poll() is not None  # the server has exited (and was reaped)
    assert wait_until_gone(server.pid) == []  # so have its engine processes (its group)


def test_gpu_groups_start_one_server_each_and_share_the_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the CPU build a group names the cores its server's threads are bound to: two groups
    of one core, two servers, the run's calls spread over both as replicas."""
    launched: list[tuple[ServerProcess, dict[str, str]]] = []
    launch = VLLMServerBackend._launch

    def spy(self: VLLMServerBackend, group: list[int] | None = None, number: int = 0) -> Any:
        server = launch(self, group, number)
        environ = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
        told = dict(e.decode().split("=", 1) for e in environ if e.startswith(b"VLLM_CPU_OMP"))
        launched.append((server, told))
        return server

    monkeypatch.setattr(VLLMServerBackend, "_launch", spy)
    model = "vllm-server/smollm2"
    config = run_config(tmp_path, "groups", model=model, ks=[1], gpu_groups=[[0], [1]])
    evaluate(config)
    run_dir = tmp_path / "groups"
    assert [told for _, told in launched] == [
        {"VLLM_CPU_OMP_THREADS_BIND": "0"},
        {"VLLM_CPU_OMP_THREADS_BIND": "1"},
    ]
    statuses = [s for (s,) in stored(run_dir, "SELECT status FROM generations")]
    assert statuses == ["ok", "ok"]
    served = dict(stored(run_dir, "SELECT base_url, COUNT(*) FROM responses GROUP BY base_url"))
    assert set(served) == {server.base_url for server, _ in launched}  # both servers answered
    assert sum(served.values()) == count_responses(run_dir)
    for server, _ in launched:
        assert server.process.poll() is not None
        assert wait_until_gone(server.pid) == []
