"""`threatwatch serve` and `demo`: the web app, and the whole path on embedded defaults."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer

from threatwatch.cli._common import app, console, open_session
from threatwatch.cli.watch import print_collect_summary
from threatwatch.config import get_settings


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Serve the web app and API."""
    import uvicorn

    from threatwatch.web import create_app

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    console.print(f"serving on http://{host}:{port}/ (API docs at /api/docs); Ctrl-C stops")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


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
    console.print(f"watchlist: {report.created} added, {report.updated} updated")
    from pipelines.collect import collect_flow

    print_collect_summary(collect_flow(force=True))
    if serve_after:
        serve(host=None, port=None)
