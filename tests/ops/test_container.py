"""The container files, checked without a Docker engine (none runs where these tests run): compose.yaml
parses and wires the services scale-out mode needs, every THREATWATCH_ variable it sets is a real
setting, the commands it runs exist, and the Dockerfile keeps its promises (multi-stage, CPU torch,
non-root, baked model and base weights, health check)."""

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


def test_compose_has_the_scale_out_services_wired_together() -> None:
    assert {"app", "postgres", "prefect-server", "worker", "deploy"} <= set(SERVICES)
    prefect_db = SERVICES["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert prefect_db.startswith("postgresql+asyncpg://") and prefect_db.endswith("@postgres:5432/prefect")
    init_sql = COMPOSE["configs"]["create-prefect-database"]["content"]
    assert re.search(r"CREATE DATABASE prefect\b", init_sql)
    for name in ("app", "worker", "deploy"):
        env = SERVICES[name]["environment"]
        assert env["THREATWATCH_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert "models:/opt/threatwatch/models" in SERVICES[name]["volumes"]
    assert _command("worker")[:3] == ["prefect", "worker", "start"]
    assert _command("worker")[_command("worker").index("--type") + 1] == "process"
    assert SERVICES["app"]["depends_on"]["deploy"]["condition"] == "service_completed_successfully"
    assert SERVICES["deploy"]["depends_on"]["prefect-server"]["condition"] == "service_healthy"


def test_every_threatwatch_variable_in_compose_is_a_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for service in SERVICES.values():
        for key in service.get("environment") or {}:
            if key.startswith("THREATWATCH_"):
                assert key.removeprefix("THREATWATCH_") in fields, key


def test_the_threatwatch_commands_compose_runs_exist() -> None:
    runner = CliRunner()
    shell, flag, script = _command("deploy")
    assert (shell, flag) == ("sh", "-c")
    steps = [shlex.split(part) for part in script.split("&&")]
    commands = [_command("app"), *(step for step in steps if step[0] == "threatwatch")]
    assert len(commands) == 3
    for command in commands:
        result = runner.invoke(app, [*command[1:], "--help"])
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
