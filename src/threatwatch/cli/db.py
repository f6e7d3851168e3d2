"""`threatwatch db`: the schema."""

from __future__ import annotations

import typer

from threatwatch.cli._common import app, console
from threatwatch.config import get_settings

db_app = typer.Typer(help="Database schema.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema; data is kept."""
    from threatwatch.db.migrate import upgrade_database

    settings = get_settings()
    upgrade_database(settings.database_url, revision)
    console.print(f"database at revision {revision}: {settings.database_url}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Step the schema back to REVISION (e.g. 'base'); columns added later are dropped."""
    from threatwatch.db.migrate import downgrade_database

    downgrade_database(get_settings().database_url, revision)
    console.print(f"database downgraded to {revision}")
