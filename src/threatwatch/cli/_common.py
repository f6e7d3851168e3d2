"""Shared pieces of the command line: the root app, consoles, error exit, database sessions."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from threatwatch.config import Settings

app = typer.Typer(help="threatwatch: early warning for online threats against Dutch public officials.")

console = Console()
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error (no traceback) and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def open_session(settings: Settings) -> Session:
    from threatwatch.db.engine import engine_for, session_factory

    return session_factory(engine_for(settings.database_url))()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
) -> None:
    from threatwatch.config import get_settings
    from threatwatch.ops.logs import configure_logging
    from threatwatch.wiring import connect_subscribers

    connect_subscribers()

    # THREATWATCH_LOG_FORMAT=json: one JSON object per line, for log shippers (set in one place).
    try:
        configure_logging(
            level=logging.INFO if verbose else logging.WARNING, log_format=get_settings().log_format
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
