"""`threatwatch serve` and `demo`: the web app, and the whole path on embedded defaults."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from threatwatch.cli._common import app, console, open_session
from threatwatch.cli.watch import explain_queued, print_collect_summary
from threatwatch.config import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


#: How long the scheduler may take to stop after the stop signal (it pauses its deployments), so that
#: `serve` as a container's PID 1 ends well inside the 10 s an orchestrator waits before killing it.
SCHEDULER_STOP_GRACE_S = 2.0


def start_scheduler() -> subprocess.Popen[bytes]:
    """Serve the Prefect deployments (``pipelines.deployments``) in a child process: Prefect's runner
    wants the main thread's signals, and a crash there must not take the web app down. It gets its own
    process group, so stopping it also ends the temporary Prefect server it may start."""
    env = dict(os.environ)
    # Without PREFECT_API_URL Prefect starts a temporary server of its own; on a busy machine that takes
    # longer than Prefect's default 20 s wait.
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    return subprocess.Popen([sys.executable, "-m", "pipelines.deployments"], env=env, start_new_session=True)


def signal_scheduler(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()


def stop_scheduler(process: subprocess.Popen[bytes], *, grace_s: float = SCHEDULER_STOP_GRACE_S) -> None:
    """SIGTERM (if not sent yet), then SIGKILL to its whole group once ``grace_s`` has passed."""
    signal_scheduler(process)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # also what it started (the temporary Prefect server)
    process.wait()


def _run_web_app(settings: Settings, host: str, port: int, scheduler: subprocess.Popen[bytes] | None) -> None:
    """uvicorn, passing a stop signal on to the scheduler at once: both wind down at the same time."""
    import uvicorn

    from threatwatch.web import create_app

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if scheduler is not None:
                signal_scheduler(scheduler)
            super().handle_exit(sig, frame)

    # After a graceful shutdown uvicorn raises the signal again under the handler it found; with
    # Python's default SIGTERM handler the process would die there, skipping the caller's clean-up.
    signal.signal(signal.SIGTERM, _exit_quietly)
    Server(uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")).run()


def _exit_quietly(sig: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    schedule: Annotated[
        bool,
        typer.Option("--schedule/--no-schedule", help="Also run the scheduled Prefect deployments."),
    ] = True,
) -> None:
    """Serve the web app and API, and (unless --no-schedule) the scheduled collection deployments."""
    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    scheduler = start_scheduler() if schedule else None
    if scheduler is not None:
        console.print(f"scheduled deployments served by Prefect (pid {scheduler.pid}); see the Prefect UI")
    console.print(f"serving on http://{host}:{port}/ (API docs at /api/docs); Ctrl-C stops")
    code = 0
    try:
        _run_web_app(settings, host, port, scheduler)
    except SystemExit as stop:  # the stop signal, after a graceful shutdown (see _exit_quietly)
        code = stop.code if isinstance(stop.code, int) else 0
    finally:
        if scheduler is not None:
            stop_scheduler(scheduler)
    _exit_without_teardown(code)


def _exit_without_teardown(code: int) -> None:
    """Leave once everything is shut down and flushed. Tearing down an interpreter that holds the model
    is seconds of garbage collection, more than an orchestrator waits between its stop signal and a
    kill; nothing is left to release that the operating system does not release anyway."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


DEMO_ADMIN = "demo"


def _first_admin(session: Session) -> str | None:
    """On a database without accounts, an admin ``demo`` with a random password (returned to print once);
    None when accounts exist, so a second demo run changes no one's password."""
    import secrets

    from threatwatch.accounts import create_user, list_users
    from threatwatch.domain import Role

    if list_users(session):
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, username=DEMO_ADMIN, password=password, role=Role.ADMIN, display_name="Demo admin")
    return password


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the web app afterwards.")
    ] = True,
) -> None:
    """The whole path on embedded defaults: migrate, load the demo watchlist and feeds, collect, serve."""
    from threatwatch.collect.sources import add_source
    from threatwatch.db.migrate import upgrade_database
    from threatwatch.watchlist import import_officials

    settings = get_settings()
    console.print(f"database: {settings.database_url}")
    upgrade_database(settings.database_url)
    demo_dir = Path(str(files("threatwatch") / "demo"))
    with open_session(settings) as session, session.begin():
        report = import_officials(session, path=demo_dir / "watchlist.yaml")
        for feed in sorted((demo_dir / "feeds").glob("*.xml")):
            add_source(session, url=feed.resolve().as_uri(), name=feed.stem, poll_interval_s=300)
        demo_password = _first_admin(session)
    console.print(f"watchlist: {report.created} added, {report.updated} updated")
    if demo_password is not None:
        console.print(
            f"first account: log in as [bold]{DEMO_ADMIN}[/] with password [bold]{demo_password}[/] "
            "(admin; shown only now: note it, or add your own with `threatwatch users add`)",
            highlight=False,
        )
    from threatwatch.flows.collect import collect_flow

    print_collect_summary(collect_flow(force=True))
    explain_queued()
    if serve_after:
        serve(host=None, port=None)
