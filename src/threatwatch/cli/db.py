"""`threatwatch db`: the schema."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from threatwatch.cli._common import app, console, fail
from threatwatch.config import get_settings

db_app = typer.Typer(help="Database schema.")
app.add_typer(db_app, name="db")


WaitOption = Annotated[
    float, typer.Option("--wait", help="Seconds to wait for the database server to accept connections.")
]


@db_app.command("upgrade")
def db_upgrade(revision: str = "head", wait: WaitOption = 0.0) -> None:
    """Create or migrate the schema; data is kept. Replicas that upgrade at once take turns."""
    from threatwatch.db.admin import DatabaseUnavailableError, wait_for_database
    from threatwatch.db.migrate import upgrade_database

    settings = get_settings()
    try:
        wait_for_database(settings.database_url, timeout_s=wait)
    except DatabaseUnavailableError as exc:
        raise fail(str(exc)) from exc
    upgrade_database(settings.database_url, revision)
    console.print(f"database at revision {revision}: {settings.database_url}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Step the schema back to REVISION (e.g. 'base'); columns added later are dropped."""
    from threatwatch.db.migrate import downgrade_database

    downgrade_database(get_settings().database_url, revision)
    console.print(f"database downgraded to {revision}")


@db_app.command("create-database")
def db_create_database(
    url: Annotated[str, typer.Argument(help="SQLAlchemy URL of the database to create (any driver).")],
    wait: WaitOption = 0.0,
) -> None:
    """Create a PostgreSQL database if it does not exist (e.g. Prefect's, before `prefect server start`)."""
    from threatwatch.db.admin import DatabaseUnavailableError, create_database

    try:
        created = create_database(url, timeout_s=wait)
    except (DatabaseUnavailableError, ValueError) as exc:
        raise fail(str(exc)) from exc
    name = make_url(url).database
    console.print(f"database {name} {'created' if created else 'already there'}")
