"""The container files, read: compose.yaml parses and wires the services scale-out mode needs, every
THREATWATCH_ variable it sets is a real setting, the commands it runs exist, and the Dockerfile keeps
its promises (multi-stage, CPU torch, non-root, baked model and base weights, health check).

Reading is not running: `make container-test` (tests/container/run.sh, called by .ci/run) builds the
image and runs it and the compose stack. These checks only catch a broken file before that slow run."""

from __future__ import annotations

import re
import shlex
from typing import Any

import yaml
from typer.testing import CliRunner

from threatwatch.cli import app
from threatwatch.config import Settings

from ..conftest import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text(encoding="utf-8"))
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _command(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def _steps(service: str) -> list[list[str]]:
    """The commands a service runs, its ``sh -c`` script split at ``&&`` (``exec`` dropped)."""
    command = _command(service)
    if command[:2] != ["sh", "-c"]:
        return [command]
    steps = [shlex.split(part.replace("$$", "$")) for part in command[2].split("&&")]
    return [step[1:] if step[0] == "exec" else step for step in steps]


def test_compose_has_the_scale_out_services_wired_together() -> None:
    assert {"app", "postgres", "prefect-server", "worker", "deploy"} <= set(SERVICES)
    prefect_db = SERVICES["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert prefect_db.startswith("postgresql+asyncpg://") and prefect_db.endswith("@postgres:5432/prefect")
    # Prefect's database is made by the server's own start, not by an init script (which podman-compose
    # and older Compose cannot mount from `configs: content:`, and which skips an existing volume).
    assert _steps("prefect-server")[0][:3] == ["threatwatch", "db", "create-database"]
    assert _steps("prefect-server")[-1][:3] == ["prefect", "server", "start"]
    for name in ("app", "worker", "deploy"):
        env = SERVICES[name]["environment"]
        assert env["THREATWATCH_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert "models:/opt/threatwatch/models" in SERVICES[name]["volumes"]
    worker = _steps("worker")[-1]
    assert worker[:3] == ["prefect", "worker", "start"] and worker[worker.index("--type") + 1] == "process"


def test_compose_start_order_needs_no_health_conditions() -> None:
    """Every service waits for what it needs itself; `depends_on` is a plain list (start order only)."""
    for name, service in SERVICES.items():
        assert isinstance(service.get("depends_on", []), list), name
    waits = {name: " ".join(" ".join(step) for step in _steps(name)) for name in ("deploy", "app", "worker")}
    assert "--wait" in waits["deploy"] and "wait --prefect" in waits["deploy"]
    assert "db upgrade --wait" in waits["app"]
    assert "wait --database --prefect" in waits["worker"]
    assert "--wait" in " ".join(_steps("prefect-server")[0])
    for name in ("app", "worker", "prefect-server"):  # the long-running process gets the stop signal
        assert "&& exec " in _command(name)[2], name


def test_every_threatwatch_variable_in_compose_is_a_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for service in SERVICES.values():
        for key in service.get("environment") or {}:
            if key.startswith("THREATWATCH_"):
                assert key.removeprefix("THREATWATCH_") in fields, key


def test_the_threatwatch_commands_compose_runs_exist() -> None:
    runner = CliRunner()
    commands = [step for name in SERVICES if "command" in SERVICES[name] for step in _steps(name)]
    ours = [command for command in commands if command[0] == "threatwatch"]
    assert len(ours) >= 6
    for command in ours:
        args = [arg for arg in command[1:] if not arg.startswith("$")]
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, f"{command}: {result.output}"


def test_dockerfile_is_multi_stage_cpu_non_root_with_baked_weights_and_health_check() -> None:
    stages = re.findall(r"^FROM \S+ AS (\w+)$", DOCKERFILE, flags=re.MULTILINE)
    assert stages == ["builder", "runtime"]
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in DOCKERFILE
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    user = re.search(r"^USER (\S+)$", runtime, flags=re.MULTILINE)
    assert user is not None and user.group(1) not in {"root", "0"}
    assert "load_classifier(" in DOCKERFILE.split("AS runtime", 1)[0]  # base weights built at build time
    assert "COPY --from=builder /opt/threatwatch/cache /opt/threatwatch/cache" in runtime
    assert "THREATWATCH_CACHE_DIR=/opt/threatwatch/cache" in runtime
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD .*/healthz", runtime, flags=re.MULTILINE)
    assert '&& exec threatwatch serve"]' in runtime  # the server is PID 1 and gets the stop signal
