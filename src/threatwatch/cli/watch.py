"""`threatwatch officials`, `sources`, `collect`: what we watch and collecting it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from threatwatch.cli._common import app, console, err, fail, open_session
from threatwatch.config import get_settings

if TYPE_CHECKING:
    from pipelines.collect import CollectSummary

officials_app = typer.Typer(help="The watchlist of officials.")
sources_app = typer.Typer(help="Sources to collect from.")
app.add_typer(officials_app, name="officials")
app.add_typer(sources_app, name="sources")


@officials_app.command("import")
def officials_import(path: Path) -> None:
    """Import officials from a CSV or YAML file (all rows, or none when any row is bad)."""
    from threatwatch.watchlist import WatchlistError, import_officials

    settings = get_settings()
    try:
        with open_session(settings) as session, session.begin():
            report = import_officials(session, path=path)
    except WatchlistError as exc:
        raise fail(str(exc)) from None
    except FileNotFoundError:
        raise fail(f"file not found: {path}") from None
    console.print(f"{report.created} official(s) added, {report.updated} updated")


@officials_app.command("list")
def officials_list() -> None:
    from threatwatch.db.models import Official

    with open_session(get_settings()) as session:
        officials = session.scalars(select(Official).order_by(Official.organisation, Official.name)).all()
        table = Table("id", "name", "role", "organisation", "aliases", "handles")
        for o in officials:
            table.add_row(
                str(o.id), o.name, o.role, o.organisation, ", ".join(o.aliases), ", ".join(o.handles)
            )
    console.print(table)


@sources_app.command("add")
def sources_add(
    url: str,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    interval: Annotated[int | None, typer.Option(help="Poll interval in seconds.", min=30)] = None,
) -> None:
    """Add an RSS/Atom feed by http(s) URL, file:// URL or local path."""
    from threatwatch.collect.sources import SourceError, add_source

    settings = get_settings()
    try:
        with open_session(settings) as session, session.begin():
            source = add_source(
                session, url=url, name=name, poll_interval_s=interval or settings.default_poll_interval_s
            )
            console.print(f"source {source.id}: {source.url}")
    except SourceError as exc:
        raise fail(str(exc)) from None


@sources_app.command("list")
def sources_list() -> None:
    """Sources with their health: last success, failures in a row, last error."""
    from threatwatch.db.models import Source

    with open_session(get_settings()) as session:
        table = Table("id", "name", "status", "interval", "last success", "fails", "items", "last error")
        for s in session.scalars(select(Source).order_by(Source.id)):
            table.add_row(
                str(s.id),
                s.name,
                s.status,
                f"{s.poll_interval_s}s",
                s.last_success_at.strftime("%Y-%m-%d %H:%M") if s.last_success_at else "never",
                str(s.consecutive_failures),
                str(s.items_last_run),
                (s.last_error or "")[:80],
            )
    console.print(table)


@app.command()
def collect(
    force: Annotated[bool, typer.Option(help="Poll every active source, due or not.")] = False,
) -> None:
    """Run one collection round (a Prefect flow run): fetch, store, classify, queue."""
    from pipelines.collect import collect_flow

    summary = collect_flow(force=force)
    print_collect_summary(summary)


def print_collect_summary(summary: CollectSummary) -> None:
    console.print(
        f"sources polled {summary.sources_polled} (failed {summary.sources_failed}, "
        f"unchanged {summary.sources_not_modified}); new posts {summary.new_posts}, "
        f"already known {summary.duplicates}, mentions {summary.mentions}; classified {summary.classified}, "
        f"flagged {summary.flagged}, queued {summary.queued}"
    )
    for source_id, reason in summary.errors.items():
        err.print(f"  source {source_id}: {reason}", highlight=False)
    console.print(
        "queue: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.queue.items())) or "queue: empty"
    )
