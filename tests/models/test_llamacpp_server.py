"""The OpenAI backend against a real OpenAI-compatible server: llama.cpp serving SmolLM2."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers.configs import run_config, write_config

pytest.importorskip("llama_cpp.server.app")  # the llama-cpp-python[server] extra

from skillmix.cli import app
from skillmix.models.llamacpp import gguf_path

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf_path("smollm2")),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "2",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/models", timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "llama.cpp server exited"
                assert time.monotonic() < deadline, "llama.cpp server not ready in 60 s"
                time.sleep(0.2)
        yield base_url
    finally:
        process.kill()
        process.wait()


def test_openai_backend_runs_the_protocol_on_llama_cpp_server(
    tmp_path: Path, llama_server: str
) -> None:
    entry = {
        "model": "openai/smollm2",
        "base_url": llama_server,
        "max_concurrency": 1,  # the server answers one request at a time
        "options": {"json_mode": "json_object"},  # llama.cpp: json_object with a schema
    }
    config = run_config(
        tmp_path / "run",
        k=[1, 2],
        items_per_k=1,
        common_skills="keep",
        students=[{**entry, "params": {"temperature": 0.7, "max_tokens": 40}}],
        grader={**entry, "params": {"temperature": 0, "max_tokens": 120}},
    )
    path = write_config(tmp_path / "server.yaml", config)
    result = CliRunner().invoke(app, ["eval", str(path), "-q"])
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    assert db.execute("SELECT status FROM generations").fetchall() == [("ok",), ("ok",)]
    gradings = db.execute("SELECT status, points FROM gradings").fetchall()
    assert [status for status, _ in gradings] == ["scored", "scored"]  # schema-constrained JSON
    served = db.execute("SELECT DISTINCT served_model, base_url FROM responses").fetchall()
    assert served == [("smollm2", llama_server)]
    usage = db.execute("SELECT MIN(input_tokens), MIN(output_tokens) FROM responses").fetchone()
    assert usage[0] > 0 and usage[1] > 0
