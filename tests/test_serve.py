"""`threatwatch serve` as a real process on loopback, as the README runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
        [sys.executable, "-m", "threatwatch", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                assert time.monotonic() < deadline, "server did not start within 30 s"
                time.sleep(0.2)
        assert page.status_code == 200 and "De wachtrij is leeg." in page.text
        api = httpx.get(f"http://127.0.0.1:{port}/api/v1/queue", timeout=5).json()
        assert api == {"items": [], "counts": {}}
        assert httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
