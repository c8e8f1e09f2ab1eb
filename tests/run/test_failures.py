"""Failures are told plainly and never leak: keys are scrubbed from everything stored or
printed, refused credentials stop the run at once, a run where nothing succeeded exits
non-zero with the common reasons, and Ctrl-C lets the calls in flight be stored."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.errors import scrub
from tests.helpers.configs import model_entry, run_config, write_config
from tests.helpers.runs import start_eval, stored
from tests.helpers.wire_servers import running_server

SECRET = "sk-test-ECHOED-7777"


@dataclass
class Refusing:
    """An OpenAI-style server that answers every request with one error status, echoing the
    request's Authorization header in the message, as careless proxies do."""

    status: int
    requests: list[str] = field(default_factory=list)


def serve(refusing: Refusing) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            refusing.requests.append(self.path)
            sent = self.headers.get("authorization", "")
            body = json.dumps({"error": {"message": f"rejected request with {sent}"}}).encode()
            self.send_response(refusing.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def refusing_config(tmp_path: Path, base_url: str) -> Path:
    entry = model_entry(
        "openai/gpt-4o-mini",
        base_url=base_url,
        api_key_env="SKILLMIX_SECRET_KEY",
        max_concurrency=1,
        retries=0,
    )
    return write_config(tmp_path / "c.yaml", run_config(tmp_path / "run", students=[entry]))


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLMIX_SECRET_KEY", SECRET)


def test_scrub_removes_keys_and_credential_headers() -> None:
    text = f"sent Authorization: Bearer abc.def and x-api-key: {SECRET} and {SECRET}"
    assert scrub(text, (SECRET,)) == "sent Authorization: Bearer *** and x-api-key: *** and ***"


def test_an_echoed_key_is_stored_and_printed_nowhere(tmp_path: Path) -> None:
    refusing = Refusing(status=400)
    for base_url in serve(refusing):
        result = CliRunner().invoke(app, ["eval", str(refusing_config(tmp_path, base_url))])
    assert result.exit_code == 1, result.output  # nothing succeeded
    assert "calls failed; most common: BadRequestError" in result.stderr
    reasons = [r for (r,) in stored(tmp_path / "run", "SELECT reason FROM generations")]
    assert reasons and all("rejected request with Bearer ***" in r for r in reasons)
    export = tmp_path / "run.jsonl"
    CliRunner().invoke(app, ["export", str(tmp_path / "run"), "--jsonl", str(export)])
    places = [result.stdout, result.stderr, export.read_text(encoding="utf-8")]
    places += [p.read_bytes().decode("latin-1") for p in (tmp_path / "run").glob("run.sqlite*")]
    assert not [place for place in places if SECRET in place]


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_stop_the_run_at_once(tmp_path: Path, status: int) -> None:
    refusing = Refusing(status=status)
    for base_url in serve(refusing):
        result = CliRunner().invoke(app, ["eval", str(refusing_config(tmp_path, base_url))])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "refused the credentials" in lines[0] and SECRET not in lines[0]
    assert len(refusing.requests) == 1  # not once per item
    assert stored(tmp_path / "run", "SELECT COUNT(*) FROM generations") == [(0,)]  # pending


def test_ctrl_c_stores_the_calls_in_flight(tmp_path: Path) -> None:
    with running_server(latency_ms=1500) as server:
        entry = model_entry(
            "openai/gpt-4o-mini",
            base_url=f"{server.base_url}/v1",
            api_key_env="SKILLMIX_SECRET_KEY",
            max_concurrency=4,
        )
        config = run_config(tmp_path / "run", items_per_k=8, students=[entry])
        process = start_eval(write_config(tmp_path / "c.yaml", config), stderr=subprocess.PIPE)
        try:
            wait_for_calls(process, tmp_path / "run", 4)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 130, err
    logged = stored(tmp_path / "run", "SELECT COUNT(DISTINCT key) FROM calls")[0][0]
    answered = stored(tmp_path / "run", "SELECT COUNT(*) FROM responses")[0][0]
    assert logged >= 4 and answered == logged  # every call in flight came back and was stored
    assert answered < 8 * 4  # and no new call started: the run stopped


def wait_for_calls(process: subprocess.Popen[Any], run_dir: Path, calls: int) -> None:
    """Until the run has started `calls` calls (fails if it ends or a minute passes first)."""
    deadline = time.monotonic() + 60
    while not (run_dir / "run.sqlite").exists() or started(run_dir) < calls:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)


def started(run_dir: Path) -> int:
    try:
        return int(stored(run_dir, "SELECT COUNT(*) FROM calls")[0][0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
