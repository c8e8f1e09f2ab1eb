"""`vllm-server/<name-or-path>`: vLLM's OpenAI-compatible server, started for the run.

The model name is resolved as for `vllm/...` (`smollm2` is the bundled model, converted once;
anything else a local model folder). On the first `generate` (never at config validation or
`--dry-run`) the backend starts

    python -m vllm.entrypoints.openai.api_server --model FOLDER --served-model-name NAME
        --host 127.0.0.1 --port FREE_PORT [--dtype ... --max-model-len ... --enforce-eager ...]

with this environment's Python, waits until `GET /v1/models` answers, and from then on sends
every call through the `openai/...` backend (Chat Completions, JSON via `json_schema` response
formats, which vLLM serves with structured outputs). The server is stopped in `aclose` (the
runner calls it at the end of every run, also after errors and Ctrl-C): SIGTERM, a wait, then
SIGKILL of its process group; an atexit hook does the same if the process exits without
`aclose`, and on Linux the server gets SIGTERM if the process that started it dies.

With `base_url` in the model entry, the backend attaches to that running server instead (the
model name is then its served model name) and starts nothing.

Options: the engine options of `vllm/...` (`tensor_parallel_size`, `dtype`, `max_model_len`,
`gpu_memory_utilization`, `seed`, `enforce_eager`; same CPU defaults), `extra_args` (further
server arguments, a list of strings), `startup_timeout_s` (default 300) and `log_file` (the
server's output; default a temporary file, named in errors).

`gpu_groups: [[0, 1], [2, 3]]` starts one server per group, all at once, and spreads the calls
over them as replicas (models/replicas.py: fewest in flight, a failing server rested). A group's
server sees only its GPUs (CUDA_VISIBLE_DEVICES) and is tensor-parallel over them unless the
parallel sizes are given (their product must then be the group's size); on vLLM's CPU build a
group names the CPU cores its server's threads are bound to (VLLM_CPU_OMP_THREADS_BIND).
`max_concurrency` counts per server.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import IO, Annotated, Any

import httpx2
import openai
from pydantic import Field, model_validator

from skillmix.errors import BackendError, SkillmixError
from skillmix.models.base import (
    BackendSettings,
    ModelBackend,
    ModelOutput,
    ModelRequest,
    RetryAdvice,
)
from skillmix.models.folders import check_model_name, folder_identity, model_folder
from skillmix.models.llamacpp import BUNDLED
from skillmix.models.openai_api import OpenAIBackend
from skillmix.models.replicas import ReplicaBackend
from skillmix.models.vllm_engine import (
    CPU_KV_CACHE_GIB,
    EngineOptions,
    on_cpu_build,
    require_vllm,
)

STOP_WAIT_S = 30.0  # after SIGTERM, before SIGKILL


class ServerOptions(EngineOptions):
    extra_args: list[str] = Field(default_factory=list)  # further api_server arguments
    startup_timeout_s: float = Field(default=300.0, gt=0)
    log_file: str | None = None  # the server's output; None: a temporary file
    gpu_groups: list[list[Annotated[int, Field(ge=0)]]] | None = None  # one server per group

    @model_validator(mode="after")
    def _groups_fit(self) -> ServerOptions:
        groups = self.gpu_groups
        if groups is None:
            return self
        if not groups or not all(groups):
            raise ValueError("gpu_groups: give one or more groups, each of one or more devices")
        devices = [device for group in groups for device in group]
        if len(set(devices)) != len(devices):
            raise ValueError("gpu_groups: a device is in two groups (or twice in one)")
        sizes = (self.tensor_parallel_size, self.pipeline_parallel_size, self.data_parallel_size)
        if any(sizes):
            product = math.prod(size or 1 for size in sizes)
            if any(len(group) != product for group in groups):
                raise ValueError(
                    f"gpu_groups: the parallel sizes make {product} devices per server, "
                    "so every group must have that many"
                )
        return self

    def group_kwargs(self, group: list[int] | None, cpu: bool) -> dict[str, Any]:
        """The engine options of one group's server: tensor-parallel over its GPUs by default."""
        kwargs = self.engine_kwargs(cpu)
        parallel = ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size")
        if group is not None and not cpu and not any(key in kwargs for key in parallel):
            kwargs["tensor_parallel_size"] = len(group)
        return kwargs


def group_environment(group: list[int] | None, cpu: bool) -> dict[str, str]:
    """What a group's server is told of its devices (nothing without groups)."""
    if group is None:
        return {}
    devices = ",".join(map(str, group))
    return {"VLLM_CPU_OMP_THREADS_BIND": devices} if cpu else {"CUDA_VISIBLE_DEVICES": devices}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_arguments(kwargs: dict[str, Any]) -> list[str]:
    """`vllm.LLM`-style keyword arguments as api_server command-line flags."""
    arguments: list[str] = []
    for key, value in kwargs.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            arguments += [flag] if value else [f"--no-{key.replace('_', '-')}"]
        else:
            arguments += [flag, str(value)]
    return arguments


# Linux: `python -m MODULE ARGS` that first asks for SIGTERM when its parent dies
# (PR_SET_PDEATHSIG), so a killed skillmix does not leave a server behind.
LINUX_LAUNCHER = (
    "import ctypes, runpy, signal, sys; "
    "ctypes.CDLL(None).prctl(1, signal.SIGTERM); "
    "sys.argv = sys.argv[1:]; "
    "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)"
)
SERVER_MODULE = "vllm.entrypoints.openai.api_server"


def python_module_command(module: str, arguments: list[str]) -> list[str]:
    if sys.platform.startswith("linux"):
        return [sys.executable, "-c", LINUX_LAUNCHER, module, *arguments]
    return [sys.executable, "-m", module, *arguments]


class ServerStartError(BackendError):
    """The server did not start: the calls fail (not retried), the run goes on."""


class ServerProcess:
    """A started api_server: its process, address and log."""

    def __init__(
        self, command: list[str], env: dict[str, str], log_path: Path, port: int, temporary: bool
    ):
        self.log_path = log_path
        self.remove_log = temporary  # a temporary log is removed at stop unless start failed
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._log: IO[bytes] = log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: engine processes stop with it
        )
        self.pid = self.process.pid
        atexit.register(self.stop)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait_ready(self, timeout_s: float) -> None:
        """Poll GET /v1/models until it answers; fail if the server exits or times out."""
        deadline = time.monotonic() + timeout_s
        async with httpx2.AsyncClient(timeout=5.0) as client:
            while True:
                if self.process.poll() is not None:
                    self.remove_log = False
                    raise ServerStartError(
                        f"the vLLM server exited with status {self.process.returncode} while "
                        f"starting (log: {self.log_path}):\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx2.HTTPError):
                    response = await client.get(f"{self.base_url}/models")
                    if response.status_code == 200:
                        return
                if time.monotonic() > deadline:
                    self.remove_log = False
                    raise ServerStartError(
                        f"the vLLM server was not ready after {timeout_s:.0f} s "
                        f"(log: {self.log_path}):\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM, wait, SIGKILL: the server and whatever is left in its process group."""
        atexit.unregister(self.stop)
        process = self.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # the group we created (pgid = its pid)
        self._log.close()
        if self.remove_log:
            self.log_path.unlink(missing_ok=True)


class VLLMServerBackend(ModelBackend):
    prefix = "vllm-server"
    # failures of the OpenAI backend (HTTP, malformed replies) and of starting the server
    failure_types = (BackendError, openai.APIError, json.JSONDecodeError)
    default_concurrency = 64  # the server batches what is in flight
    supports_json_schema = True
    options_model = ServerOptions
    options: ServerOptions

    def __init__(self, name: str, settings: BackendSettings):
        super().__init__(name, settings)
        log_file = self.options.log_file
        self.log_file = Path(log_file) if log_file is not None else None
        self.attached = settings.base_url is not None
        if self.attached and self.options.gpu_groups is not None:
            raise SkillmixError(
                "gpu_groups starts servers; base_url attaches to one: give one of them",
                field="gpu_groups",
            )
        if not self.attached:  # we start the server: vLLM must be here, the model a folder
            require_vllm(self.prefix)
            check_model_name(self.prefix, name)
        self.served_name = name if self.attached or name in BUNDLED else Path(name).name
        self.servers: list[ServerProcess] = []
        self._delegate: ModelBackend | None = None
        self._advisor: ModelBackend | None = None  # the last delegate, kept to classify errors
        self._start_error: ServerStartError | None = None  # a failed start is not retried
        self._start_lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    @property
    def concurrency(self) -> int:
        return super().concurrency * len(self.options.gpu_groups or [None])

    @cached_property
    def folder(self) -> Path:
        return model_folder(self.prefix, self.name)

    @cached_property
    def resolved_model(self) -> str:
        if self.attached:
            return self.name  # the served snapshot is stored with each reply
        return folder_identity(self.folder, self.options.dtype)

    # -- the server ------------------------------------------------------------------------

    def _command(
        self, folder: Path, port: int, cpu: bool, group: list[int] | None = None
    ) -> list[str]:
        arguments = [
            "--model",
            str(folder),
            "--served-model-name",
            self.served_name,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *server_arguments(self.options.group_kwargs(group, cpu)),
            *self.options.extra_args,
        ]
        return python_module_command(SERVER_MODULE, arguments)

    def _launch(self, group: list[int] | None = None, number: int = 0) -> ServerProcess:
        """Start a server process, for a device group where given (blocking parts:
        conversion, platform check)."""
        folder = self.folder
        cpu = on_cpu_build()
        env = {**os.environ, **group_environment(group, cpu)}
        env.setdefault("HF_HUB_OFFLINE", "1")
        if cpu:
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KV_CACHE_GIB)
        port = free_port()
        if self.log_file is not None:
            log_path = self.log_file
            if number:
                log_path = log_path.with_name(f"{log_path.stem}-{number}{log_path.suffix}")
            log_path.parent.mkdir(parents=True, exist_ok=True)
        else:
            handle, name = tempfile.mkstemp(prefix="skillmix-vllm-server-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        command = self._command(folder, port, cpu, group)
        return ServerProcess(command, env, log_path, port, temporary=self.log_file is None)

    def _delegate_for(self, base_urls: list[str]) -> ModelBackend:
        """The OpenAI backend of the server, or the replicas of the servers."""
        settings = BackendSettings(
            options={"json_mode": "json_schema"},
            base_url=base_urls[0],
            api_key_env=self.settings.api_key_env,
            timeout_s=self.settings.timeout_s,
            max_concurrency=super().concurrency,
        )
        if len(base_urls) == 1:
            return OpenAIBackend(self.served_name, settings)
        replicas = replace(settings, base_url=None, replicas=tuple(base_urls))
        return ReplicaBackend(OpenAIBackend, self.served_name, replicas)

    async def _start_servers(self) -> list[str]:
        """Every server started and ready, or none left running."""
        given = self.options.gpu_groups
        groups: list[list[int] | None] = [None] if given is None else list(given)
        try:
            for number, group in enumerate(groups):
                self.servers.append(self._launch(group, number))
            timeout = self.options.startup_timeout_s
            await asyncio.gather(*(server.wait_ready(timeout) for server in self.servers))
        except BaseException:
            servers, self.servers = self.servers, []
            await asyncio.gather(*(asyncio.to_thread(server.stop) for server in servers))
            raise
        return [server.base_url for server in self.servers]

    async def _ensure_started(self) -> ModelBackend:
        if self._delegate is not None:
            return self._delegate
        if self._start_error is not None:
            raise self._start_error
        loop = asyncio.get_running_loop()
        if self._start_lock is None or self._lock_loop is not loop:
            self._start_lock, self._lock_loop = asyncio.Lock(), loop
        async with self._start_lock:
            if self._delegate is not None:
                return self._delegate
            if self._start_error is not None:
                raise self._start_error
            if self.attached:
                assert self.settings.base_url is not None
                self._delegate = self._advisor = self._delegate_for([self.settings.base_url])
                return self._delegate
            try:
                # The slow parts first, off the loop (converting the bundled model once);
                # then Popen on the loop's thread, which outlives the run (PR_SET_PDEATHSIG
                # fires when the thread that started the child ends).
                await asyncio.to_thread(lambda: (self.folder, on_cpu_build()))
                base_urls = await self._start_servers()
            except ServerStartError as exc:
                self._start_error = exc
                raise
            self._delegate = self._advisor = self._delegate_for(base_urls)
            return self._delegate

    # -- the ModelBackend interface ----------------------------------------------------------

    async def generate(self, request: ModelRequest) -> ModelOutput:
        delegate = await self._ensure_started()
        return await delegate.generate(request)

    def secrets(self) -> tuple[str, ...]:
        return self._advisor.secrets() if self._advisor is not None else ()

    def advise(self, error: Exception) -> RetryAdvice:
        if isinstance(error, ServerStartError) or self._advisor is None:
            return RetryAdvice(retry=False)
        return self._advisor.advise(error)  # transient HTTP failures are retried

    async def aclose(self) -> None:
        delegate, self._delegate = self._delegate, None
        servers, self.servers = self.servers, []
        self._start_error = None
        try:
            if delegate is not None:
                await delegate.aclose()
        finally:
            await asyncio.gather(*(asyncio.to_thread(server.stop) for server in servers))
