"""Shared pieces of the command line: the root app, consoles, error exit, database sessions, acting as
a user under the role table, JSON output."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from threatwatch.config import Settings, get_settings

if TYPE_CHECKING:
    from threatwatch.accounts.access import Permission
    from threatwatch.db.models import User

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


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str, ensure_ascii=False) + "\n")


@contextmanager
def acting_as(username: str, permission: Permission) -> Iterator[tuple[Session, User]]:
    """A transaction acting as ``username``, refused unless the role table lets its role do
    ``permission`` (as the web app would); service errors become one-line CLI errors (and roll back)."""
    from threatwatch.accounts import get_user
    from threatwatch.review import ReviewError
    from threatwatch.review.authorise import ensure_allowed

    with open_session(get_settings()) as session:
        user = get_user(session, username=username)
        if user is None or not user.active:
            raise fail(f"no active user {username!r}")
        try:
            ensure_allowed(user, permission)
            yield session, user
            session.commit()
        except (ReviewError, ValueError) as exc:
            session.rollback()
            raise fail(str(exc)) from exc


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
) -> None:
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
