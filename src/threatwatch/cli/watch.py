"""`threatwatch officials`, `sources`, `collect`: what we watch and collecting it."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table
from sqlalchemy import select

from threatwatch.cli._common import app, console, err, fail, open_session
from threatwatch.config import get_settings

if TYPE_CHECKING:
    from threatwatch.collect.backfill import BackfillReport
    from threatwatch.flows.collect import CollectSummary

officials_app = typer.Typer(help="The watchlist of officials.")
sources_app = typer.Typer(help="Sources to collect from.")
app.add_typer(officials_app, name="officials")
app.add_typer(sources_app, name="sources")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "never"


@officials_app.command("import")
def officials_import(
    path: Path,
    searches: Annotated[
        bool | None,
        typer.Option(
            "--searches/--no-searches",
            help="Generate per-official search sources (default: THREATWATCH_SEARCH_SOURCES, on).",
        ),
    ] = None,
) -> None:
    """Import officials from a CSV or YAML file (all rows, or none when any row is bad)."""
    from threatwatch.collect.searches import SyncReport, sync_searches
    from threatwatch.watchlist import WatchlistError, import_officials

    settings = get_settings()
    generate = settings.search_sources if searches is None else searches
    try:
        with open_session(settings) as session, session.begin():
            report = import_officials(session, path=path)
            sync = (
                sync_searches(session, officials=report.officials, settings=settings)
                if generate
                else SyncReport()
            )
    except WatchlistError as exc:
        raise fail(str(exc)) from None
    except FileNotFoundError:
        raise fail(f"file not found: {path}") from None
    console.print(
        f"{report.created} official(s) added, {report.updated} updated; search sources: "
        f"{sync.created} added, {sync.paused} paused"
    )


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


@officials_app.command("remove")
def officials_remove(official_id: int) -> None:
    """Remove an official; their search sources are paused and what they collected is kept."""
    from threatwatch.collect.searches import remove_official
    from threatwatch.db.models import Official

    with open_session(get_settings()) as session, session.begin():
        official = session.get(Official, official_id)
        if official is None:
            raise fail(f"no official with id {official_id}")
        paused = remove_official(session, official=official)
    console.print(f"official {official_id} removed; {paused} search source(s) paused")


@sources_app.command("add")
def sources_add(
    url: str,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    interval: Annotated[int | None, typer.Option(help="Poll interval in seconds.", min=30)] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            help="feed, mastodon, bluesky, reddit, google_news, youtube, municipal (default: from URL)."
        ),
    ] = None,
) -> None:
    """Add a source by http(s) URL, file:// URL or local path; the kind follows from the URL."""
    from threatwatch.collect.sources import SourceError, add_source, parse_kind

    settings = get_settings()
    try:
        with open_session(settings) as session, session.begin():
            source = add_source(
                session,
                url=url,
                name=name,
                kind=parse_kind(kind) if kind else None,
                poll_interval_s=interval or settings.default_poll_interval_s,
            )
            console.print(f"source {source.id} ({source.kind}): {source.url}")
    except SourceError as exc:
        raise fail(str(exc)) from None


@sources_app.command("import")
def sources_import(
    path: Path,
    interval: Annotated[
        int | None,
        typer.Option(help="Poll interval in seconds for rows that do not set poll_interval_s.", min=30),
    ] = None,
) -> None:
    """Add many sources from a CSV (url[,name,kind,poll_interval_s]) or OPML file, in one transaction:
    all rows, or none when any row is bad (each one is listed with its line)."""
    from threatwatch.collect.source_import import SourceImportError, import_sources

    settings = get_settings()
    try:
        with open_session(settings) as session, session.begin():
            report = import_sources(
                session, path=path, default_poll_interval_s=interval or settings.default_poll_interval_s
            )
    except SourceImportError as exc:
        raise fail(str(exc)) from None
    except FileNotFoundError:
        raise fail(f"file not found: {path}") from None
    console.print(f"{report.added} source(s) added, {report.already_present} already present")


@sources_app.command("list")
def sources_list(
    all_: Annotated[bool, typer.Option("--all", help="Also show full URLs and paused reasons.")] = False,
) -> None:
    """Sources with their health: last success and error, failures in a row, items per run, pauses."""
    from threatwatch.db.models import Source

    with open_session(get_settings()) as session:
        table = Table(
            "id", "kind", "name", "status", "every", "last success", "last error at", "fails", "items",
            "total", "next poll", "last error / paused because",
        )  # fmt: skip
        for s in session.scalars(select(Source).order_by(Source.id)):
            problem = s.paused_reason or s.last_error or ""
            table.add_row(
                str(s.id),
                s.kind,
                s.name if not all_ else f"{s.name}\n{s.url}",
                s.status,
                f"{s.poll_interval_s}s",
                _when(s.last_success_at),
                _when(s.last_error_at),
                str(s.consecutive_failures),
                str(s.items_last_run),
                str(s.posts_total),
                _when(s.next_poll_at) if s.status != "paused" else "-",
                problem if all_ else problem[:80],
            )
    console.print(table)


def _source_action(source_id: int, action: str) -> None:
    from threatwatch.collect.sources import pause_source, resume_source
    from threatwatch.db.models import Source

    with open_session(get_settings()) as session, session.begin():
        source = session.get(Source, source_id)
        if source is None:
            raise fail(f"no source with id {source_id}")
        if action == "pause":
            pause_source(source=source, reason="paused by hand")
        elif action == "resume":
            resume_source(source=source, now=datetime.now(UTC))
        else:
            session.delete(source)
    console.print(f"source {source_id}: {action}d")


@sources_app.command("pause")
def sources_pause(source_id: int) -> None:
    """Stop polling a source (kept, with its posts)."""
    _source_action(source_id, "pause")


@sources_app.command("resume")
def sources_resume(source_id: int) -> None:
    """Poll a paused source again at the next run, with a clean failure count."""
    _source_action(source_id, "resume")


@sources_app.command("remove")
def sources_remove(source_id: int) -> None:
    """Delete a source AND the posts collected from it."""
    _source_action(source_id, "remove")


def _parse_since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--since {value!r} is not a date (YYYY-MM-DD or an ISO timestamp)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def collect(
    force: Annotated[bool, typer.Option(help="Poll every active source, due or not.")] = False,
    kind: Annotated[list[str] | None, typer.Option(help="Only sources of this kind (repeatable).")] = None,
    since: Annotated[
        str | None, typer.Option(help="Backfill first: page back to this date (YYYY-MM-DD) where possible.")
    ] = None,
) -> None:
    """Run one collection round (a Prefect flow run): fetch, store, classify, queue."""
    from threatwatch.collect.sources import SourceError, parse_kind
    from threatwatch.flows.collect import collect_flow

    try:
        kinds = [parse_kind(k).value for k in kind] if kind else None
    except SourceError as exc:
        raise fail(str(exc)) from None
    if since is not None:
        backfill(_parse_since(since), kinds=kinds)
    summary = collect_flow(force=force, kinds=kinds)
    print_collect_summary(summary)
    explain_queued()


def _show_page(progress: Progress, task: TaskID, done: int, report: BackfillReport) -> None:
    progress.update(task, posts=done + report.new_posts)


def backfill(since: datetime, *, kinds: list[str] | None = None) -> None:
    """Page back through every active source with a progress bar; classification follows in the round."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from threatwatch.collect.backfill import backfill_snapshots, backfill_source
    from threatwatch.db.engine import engine_for, session_factory

    settings = get_settings()
    sessions = session_factory(engine_for(settings.database_url))
    snapshots = [s for s in backfill_snapshots(sessions) if kinds is None or s.kind in kinds]
    total_new = 0
    with Progress(
        TextColumn("[bold]backfill[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[posts]} new posts"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("sources", total=len(snapshots), posts=0)
        for snapshot in snapshots:
            progress.update(task, description=snapshot.url[:60])
            report = backfill_source(
                sessions,
                snapshot=snapshot,
                since=since,
                settings=settings,
                on_page=partial(_show_page, progress, task, total_new),
            )
            total_new += report.new_posts
            progress.update(task, advance=1, posts=total_new)
            if report.error:
                err.print(f"  source {snapshot.id}: {report.error}", highlight=False)
    console.print(f"backfill since {since:%Y-%m-%d}: {total_new} new post(s) from {len(snapshots)} source(s)")


def print_collect_summary(summary: CollectSummary) -> None:
    console.print(
        f"sources polled {summary.sources_polled} (failed {summary.sources_failed}, "
        f"unchanged {summary.sources_not_modified}); new posts {summary.new_posts} "
        f"(linked duplicates {summary.linked}), already known {summary.duplicates}, mentions "
        f"{summary.mentions}; classified {summary.classified}, flagged {summary.flagged}, "
        f"queued {summary.queued}"
    )
    if summary.entries_skipped:
        err.print(
            f"  {summary.entries_skipped} unreadable entries left out (reasons: `threatwatch sources list`)",
            highlight=False,
        )
    for source_id, reason in summary.errors.items():
        err.print(f"  source {source_id}: {reason}", highlight=False)
    console.print(
        "queue: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.queue.items())) or "queue: empty"
    )


def explain_queued() -> None:
    """After a one-off round: the decisive words of what it flagged (``serve`` does this on a schedule)."""
    from threatwatch.flows.explain import explain_flow

    explained = explain_flow()
    if explained:
        console.print(f"explained {explained} flagged post(s)")
