"""A real browser against the real app: Debian's Chromium driven by Playwright, uvicorn on loopback.

Never ``playwright install``: the browser is the system one (``/usr/bin/chromium``), started with no
network features so nothing leaves the machine.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for
from threatwatch.db.migrate import upgrade_database
from threatwatch.web import create_app

from ..conftest import MODEL_CACHE, SHIPPED_MODELS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def e2e_settings(tmp_path: Path) -> Iterator[Settings]:
    """A fresh migrated SQLite file (the API tests cover PostgreSQL; the browser flow is the same code)."""
    url = f"sqlite:///{tmp_path / 'e2e.db'}"
    upgrade_database(url)
    yield Settings(data_dir=tmp_path, database_url=url, model_dir=SHIPPED_MODELS, cache_dir=MODEL_CACHE)
    engine_for(url).dispose()


@pytest.fixture
def live_url(e2e_settings: Settings) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free loopback port."""
    port = _free_port()
    config = uvicorn.Config(create_app(e2e_settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


# Module scope, not session: while Playwright's sync API is open it marks an asyncio loop as running in
# the main thread, and every later synchronous API that checks for one (Prefect's run_deployment, a
# second Playwright) would refuse to run. Closing it after each module keeps the rest of the suite clean.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
