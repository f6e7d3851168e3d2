"""`threatwatch serve` as a real process on loopback, as the README runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from threatwatch.accounts import authenticate
from threatwatch.cli.serve import DEMO_ADMIN, _first_admin
from threatwatch.db.migrate import upgrade_database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_on_loopback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tw.db'}"
    upgrade_database(url)
    port = _free_port()
    env = {**os.environ, "THREATWATCH_DATABASE_URL": url, "THREATWATCH_DATA_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "threatwatch", "serve", "--port", str(port), "--no-schedule"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2, follow_redirects=True)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                assert time.monotonic() < deadline, "server did not start within 30 s"
                time.sleep(0.2)
        # Everything but the login page and health checks asks for a login first.
        assert page.status_code == 200 and "<h1>Inloggen</h1>" in page.text
        assert str(page.url).endswith("/login")
        api = httpx.get(f"http://127.0.0.1:{port}/api/v1/queue", timeout=5)
        assert api.status_code == 401 and api.json() == {"detail": "not authenticated"}
        assert httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json() == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_stop_signal_ends_serve_and_everything_its_scheduler_started(tmp_path: Path) -> None:
    """As a container's PID 1: SIGTERM reaches uvicorn and the scheduler at once, and the scheduler's
    process group (its temporary Prefect server included) is gone afterwards. The 5-second stop is
    measured on the real image by `make container-test`."""
    url = f"sqlite:///{tmp_path / 'tw.db'}"
    upgrade_database(url)
    port = _free_port()
    env = {
        **os.environ,
        "THREATWATCH_DATABASE_URL": url,
        "THREATWATCH_DATA_DIR": str(tmp_path),
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    env.pop("PREFECT_API_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "threatwatch", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = ""
    try:
        assert process.stdout is not None
        while "scheduled deployments served by Prefect" not in output:
            line = process.stdout.readline()
            assert line, output
            output += line
        scheduler = int(output.split("(pid ", 1)[1].split(")", 1)[0])
        deadline = time.monotonic() + 60
        while "being served" not in output and time.monotonic() < deadline:  # the runner is up
            output += process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(scheduler, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise AssertionError(f"the scheduler's processes outlived serve:\n{output}")


def test_demo_makes_a_first_admin_once(session: Session) -> None:
    password = _first_admin(session)
    assert password is not None and len(password) >= 16
    user = authenticate(session, username=DEMO_ADMIN, password=password)
    assert user is not None and user.role == "admin"
    assert _first_admin(session) is None  # a second demo run changes nobody's password
