"""A scale-out Prefect installation on one machine, for tests, benchmarks and a first look.

It starts what docs/scale-out.md runs on separate machines: ``prefect server start`` (its own
PostgreSQL database), a process work pool, and ``prefect worker start`` processes, each a real
process with its own environment. Production runs the same commands under a service manager.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, cast

import httpx

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

logger = logging.getLogger(__name__)


class ClusterError(RuntimeError):
    """A Prefect process did not start or a command failed; the message carries its log's tail."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_executable() -> str:
    """The ``prefect`` beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("prefect")
    found = str(beside) if beside.exists() else shutil.which("prefect")
    if found is None:
        raise ClusterError("the prefect command is not installed")
    return found


def prefect_healthy(api_url: str) -> bool:
    """Whether the Prefect server at ``api_url`` (``http://host:4200/api``) answers its health check."""
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_prefect(api_url: str, *, timeout_s: float, interval_s: float = 1.0) -> None:
    """Return once the Prefect server answers; `ClusterError` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not prefect_healthy(api_url):
        if time.monotonic() >= deadline:
            raise ClusterError(f"the Prefect server at {api_url} did not answer within {timeout_s:.0f} s")
        time.sleep(interval_s)


@dataclass
class PrefectCluster:
    """``prefect server`` on ``port`` with its database at ``database_url`` (postgresql+asyncpg://...),
    plus workers on ``pool``; ``app_env`` (THREATWATCH_*) is given to every worker and its flow runs."""

    home: Path
    database_url: str
    app_env: dict[str, str]
    pool: str = "threatwatch"
    port: int = field(default_factory=free_port)
    startup_timeout_s: float = 240.0
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(self.app_env)
        env.update(
            {
                "PREFECT_HOME": str(self.home),
                "PREFECT_API_URL": self.api_url,
                "PREFECT_API_DATABASE_CONNECTION_URL": self.database_url,
                "PREFECT_SERVER_API_HOST": "127.0.0.1",
                "PREFECT_SERVER_API_PORT": str(self.port),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_UI_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "INFO",
                "DO_NOT_TRACK": "1",
            }
        )
        return env

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        self.home.mkdir(parents=True, exist_ok=True)
        log = (self.home / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [prefect_executable(), *args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it and its children
        )
        self.processes.append((name, process))
        return process

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def start_server(self) -> None:
        server = self._spawn("server", "server", "start", "--host", "127.0.0.1", "--port", str(self.port))
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise ClusterError(
                    f"prefect server exited with {server.returncode}:\n{self.log_tail('server')}"
                )
            if prefect_healthy(self.api_url):
                logger.info("prefect server up on %s", self.api_url)
                return
            time.sleep(1)
        raise ClusterError(
            f"prefect server not healthy after {self.startup_timeout_s:.0f} s:\n{self.log_tail('server')}"
        )

    def run_cli(self, *args: str, timeout_s: float = 120) -> str:
        done = subprocess.run(
            [prefect_executable(), *args], env=self.env(), capture_output=True, timeout=timeout_s, check=False
        )
        output = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0:
            raise ClusterError(f"prefect {' '.join(args)} failed ({done.returncode}):\n{output[-3000:]}")
        return output

    def create_pool(self, concurrency: int | None = None) -> None:
        self.run_cli("work-pool", "create", self.pool, "--type", "process", "--overwrite")
        if concurrency is not None:
            self.run_cli("work-pool", "set-concurrency-limit", self.pool, str(concurrency))

    def start_worker(self, name: str, *, limit: int | None = None) -> None:
        args = ["worker", "start", "--pool", self.pool, "--type", "process", "--name", name]
        if limit is not None:
            args += ["--limit", str(limit)]
        self._spawn(name, *args)

    def stop(self) -> None:
        """SIGTERM each process group we started, then SIGKILL what is left after 20 s."""
        for _, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, process in reversed(self.processes):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()

    def __enter__(self) -> PrefectCluster:
        try:
            self.start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def deploy_from_source(
    api_url: str,
    *,
    source_dir: Path,
    entrypoint: str,
    name: str,
    pool: str,
    parameters: dict[str, object] | None = None,
) -> str:
    """Register ``entrypoint`` (``path/to/file.py:flow``) under ``source_dir`` as a deployment on
    ``pool``; workers run it from that directory (shared code or the same image on every machine)."""
    from prefect import Flow
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        flow = cast("Flow[..., object]", Flow.from_source(source=str(source_dir), entrypoint=entrypoint))
        deployment_id = flow.deploy(
            name=name,
            work_pool_name=pool,
            parameters=parameters or {},
            build=False,
            push=False,
            print_next_steps=False,
            ignore_warnings=True,
        )
    return str(deployment_id)


def run_deployment_and_wait(
    api_url: str, *, name: str, parameters: dict[str, object] | None = None, timeout_s: float = 600
) -> str:
    """Trigger a run through the API, wait for it to finish, and return its final state's name.

    The flow's return value stays on the worker (results are not persisted); callers check its
    effects in the application database instead.
    """
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        flow_run = cast(FlowRun, run_deployment(name=name, parameters=parameters or {}, timeout=timeout_s))
    if flow_run.state is None:
        raise ClusterError(f"flow run {flow_run.id} has no state")
    return str(flow_run.state.name)


def flows_source_dir() -> Path:
    """The directory that holds the ``threatwatch`` package (``src/`` of a checkout, or the image's
    site-packages): workers load ``threatwatch/flows/<file>.py`` from there."""
    import threatwatch

    return Path(threatwatch.__file__).resolve().parent.parent


def _file_entrypoint(entrypoint: str) -> str:
    """``threatwatch/flows/x.py:flow`` from either form Prefect records (a file path, or a dotted
    module)."""
    if ":" in entrypoint:
        path, func = entrypoint.rsplit(":", 1)
        return f"threatwatch/flows/{Path(path).name}:{func}"
    module, func = entrypoint.rsplit(".", 1)
    return f"{module.replace('.', '/')}.py:{func}"


def deploy_all(
    deployments: Sequence[RunnerDeployment],
    *,
    api_url: str | None,
    pool: str,
    source_dir: Path,
    paused: bool = False,
) -> list[str]:
    """Register ``deployments`` (those ``pipelines/deployments.py`` declares) on a work pool, from
    source. Workers on any machine with the same code at ``source_dir`` (the same image) pick their
    runs up. Returns the "flow/deployment" names.
    """
    from datetime import timedelta

    from prefect import Flow
    from prefect.settings import PREFECT_API_URL, temporary_settings

    names: list[str] = []
    updates = {PREFECT_API_URL: api_url} if api_url else {}
    with temporary_settings(updates=updates):
        for deployment in deployments:
            if deployment.entrypoint is None:
                raise ClusterError(f"deployment {deployment.name} has no entrypoint")
            entrypoint = _file_entrypoint(deployment.entrypoint)
            flow = cast("Flow[..., object]", Flow.from_source(source=str(source_dir), entrypoint=entrypoint))
            intervals = [getattr(s.schedule, "interval", None) for s in deployment.schedules or []]
            interval = next((i for i in intervals if isinstance(i, timedelta)), None)
            flow.deploy(
                name=deployment.name,
                work_pool_name=pool,
                build=False,
                push=False,
                interval=interval,
                paused=paused,
                parameters=deployment.parameters,
                description=deployment.description,
                tags=deployment.tags,
                print_next_steps=False,
                ignore_warnings=True,
            )
            names.append(f"{flow.name}/{deployment.name}")
    return names
