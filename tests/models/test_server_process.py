"""The managed server process of `vllm-server/` (start, readiness, stop), without vLLM.

A stand-in server module (Python's http.server serving a `v1/models` file, plus a child that
ignores SIGTERM, as vLLM's engine processes may) is started exactly as the backend starts vLLM's
api_server: by `python_module_command` through `ServerProcess`. Linux only (process groups,
/proc, PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skillmix.models.vllm_server import (
    ServerProcess,
    ServerStartError,
    free_port,
    python_module_command,
)
from tests.helpers.paths import ROOT
from tests.helpers.runs import living_in_group, wait_until_gone

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

FAKE_SERVER = """
import http.server, subprocess, sys
port, folder, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if mode == "fail":
    print("boom: no such model", flush=True)
    sys.exit(3)
# an "engine process" in the server's group that ignores SIGTERM
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
if mode == "slow":
    import time; time.sleep(600)
handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=folder)
http.server.ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()
"""


@pytest.fixture
def fake_server(tmp_path: Path) -> Path:
    """A folder holding the stand-in server module and the files it serves."""
    (tmp_path / "fake_vllm_server.py").write_text(FAKE_SERVER)
    (tmp_path / "site" / "v1").mkdir(parents=True)
    (tmp_path / "site" / "v1" / "models").write_text('{"data": []}')
    return tmp_path


def start(folder: Path, mode: str) -> ServerProcess:
    port = free_port()
    command = python_module_command("fake_vllm_server", [str(port), str(folder / "site"), mode])
    env = {**os.environ, "PYTHONPATH": str(folder)}
    return ServerProcess(command, env, folder / "server.log", port, temporary=True)


def test_ready_server_stops_with_its_whole_group(fake_server: Path) -> None:
    server = start(fake_server, "serve")
    asyncio.run(server.wait_ready(30))
    assert len(living_in_group(server.pid)) == 2  # the server and its child
    server.stop()
    assert server.process.poll() is not None
    assert wait_until_gone(server.pid) == []  # the SIGTERM-deaf child too (SIGKILL)
    assert not (fake_server / "server.log").exists()  # a temporary log goes with it


def test_server_that_exits_while_starting_fails_with_its_log(fake_server: Path) -> None:
    server = start(fake_server, "fail")
    with pytest.raises(ServerStartError, match=r"exited with status 3[\s\S]*boom: no such model"):
        asyncio.run(server.wait_ready(30))
    server.stop()
    assert (fake_server / "server.log").exists()  # kept: the error names it


def test_server_not_ready_in_time_fails_and_is_stopped(fake_server: Path) -> None:
    server = start(fake_server, "slow")
    with pytest.raises(ServerStartError, match=r"not ready after 1 s \(log: .*server\.log\)"):
        asyncio.run(server.wait_ready(1))
    server.stop()
    assert wait_until_gone(server.pid) == []


STARTER = """
import asyncio, sys, time
sys.path.insert(0, sys.argv[1])
from tests.models.test_server_process import start
from pathlib import Path
server = start(Path(sys.argv[2]), "serve")
asyncio.run(server.wait_ready(30))
print(server.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_server_stops_when_the_process_that_started_it_is_interrupted_or_killed(
    fake_server: Path, sent: signal.Signals
) -> None:
    """Ctrl-C: the atexit hook stops the server and its group. SIGKILL runs no hook: the
    server gets SIGTERM from the kernel (PR_SET_PDEATHSIG) and exits."""
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(ROOT), str(fake_server)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert starter.stdout is not None
    server_pid = int(starter.stdout.readline())
    try:
        starter.send_signal(sent)
        starter.wait(60)
        if sent == signal.SIGINT:
            assert wait_until_gone(server_pid) == []
            return
        # only the server itself is told; its SIGTERM-deaf child stays (vLLM's server stops
        # its engine processes on SIGTERM)
        deadline = time.monotonic() + 30
        while server_pid in living_in_group(server_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server_pid not in living_in_group(server_pid)
    finally:  # whatever is left of the server's group, even when the test failed
        starter.stdout.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server_pid, signal.SIGKILL)


def test_startup_script_is_python_module_command() -> None:
    command = python_module_command("some.module", ["--flag", "1"])
    assert command[0] == sys.executable
    assert command[-3:] == ["some.module", "--flag", "1"]
    assert "prctl" in " ".join(command)  # Linux: asks for SIGTERM when its parent dies
