"""`threatwatch purge`, `export-subject`, `erase-subject`, `backup`, `restore`: running it for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from threatwatch.cli._common import app, console, err, fail, open_session
from threatwatch.config import get_settings

OPERATOR = os.environ.get("USER") or "operator"


@app.command()
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be erased.")] = False,
) -> None:
    """Apply the retention policy now (the scheduled `purge` deployment does the same daily)."""
    from threatwatch.db.types import utcnow
    from threatwatch.ops.retention import RetentionPolicy, purge

    settings = get_settings()
    policy = RetentionPolicy.from_settings(settings)
    with open_session(settings) as session, session.begin():
        report = purge(session, policy=policy, now=utcnow(), dry_run=dry_run)
    verb = "would erase" if dry_run else "erased"
    console.print(
        f"{verb}: {report.not_flagged_posts} unflagged posts (>{policy.not_flagged_post_days} d), "
        f"{report.dismissed_items} dismissed items (>{policy.dismissed_days} d), "
        f"{report.closed_items} closed items (>{policy.closed_days} d), "
        f"{report.audit_events} audit events (>{policy.audit_days} d)",
        highlight=False,
    )


@app.command("export-subject")
def export_subject_command(
    author: Annotated[str | None, typer.Option(help="Everything about posts by this author.")] = None,
    official: Annotated[int | None, typer.Option(help="Everything about this official (id).")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Subject access request: everything stored about one author or official, as JSON (audited)."""
    from threatwatch.ops.export import SubjectNotFoundError, export_subject

    if (author is None) == (official is None):
        raise fail("give exactly one of --author or --official")
    with open_session(get_settings()) as session, session.begin():
        try:
            document = export_subject(session, actor=OPERATOR, author=author, official_id=official)
        except SubjectNotFoundError as exc:
            raise fail(str(exc)) from exc
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        err.print(f"written to {output}")


@app.command("erase-subject")
def erase_subject_command(
    author: Annotated[str, typer.Option(help="Erase the posts by this author.")],
    include_active: Annotated[
        bool,
        typer.Option("--include-active", help="Also erase posts whose item is open, claimed or escalated."),
    ] = False,
) -> None:
    """Right to erasure: erase an author's posts now (counts are kept; the erasure is audited)."""
    from threatwatch.db.types import utcnow
    from threatwatch.ops.retention import erase_author

    with open_session(get_settings()) as session, session.begin():
        report = erase_author(
            session, author=author, actor=OPERATOR, now=utcnow(), include_active=include_active
        )
    console.print(f"erased {report.erased} posts; kept {report.kept_active} still in review", highlight=False)
    if report.kept_active:
        err.print("items still in review may be evidence; re-run with --include-active once weighed")


@app.command()
def backup(path: Path) -> None:
    """Copy the embedded SQLite database to PATH, safely while it is in use."""
    from threatwatch.ops.backup import BackupError, backup_sqlite

    try:
        report = backup_sqlite(get_settings().database_url, path)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"backup written to {report.path} ({report.bytes / 1e6:.1f} MB, revision {report.revision}, "
        f"{report.tables.get('posts', 0)} posts)",
        highlight=False,
    )


@app.command()
def restore(
    path: Path,
    yes: Annotated[bool, typer.Option("--yes", help="Replace the current database without asking.")] = False,
) -> None:
    """Replace the embedded database with the backup at PATH (stop the app and workers first)."""
    from threatwatch.ops.backup import BackupError, restore_sqlite

    settings = get_settings()
    if not yes:
        typer.confirm(f"replace everything in {settings.database_url} with {path}?", abort=True)
    try:
        report = restore_sqlite(path, settings.database_url)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    console.print(f"restored {report.path} at revision {report.revision}", highlight=False)
    console.print("run `threatwatch db upgrade` if the backup is older than this version")


@app.command("wait")
def wait_for(
    database: Annotated[
        bool, typer.Option("--database", help="Wait for THREATWATCH_DATABASE_URL to accept connections.")
    ] = False,
    prefect: Annotated[
        bool, typer.Option("--prefect", help="Wait for the Prefect server at PREFECT_API_URL.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each before giving up.")] = 180.0,
) -> None:
    """Block until the services a container needs answer, so start order needs no health conditions."""
    from threatwatch.db.admin import DatabaseUnavailableError, wait_for_database
    from threatwatch.ops.cluster import ClusterError, wait_for_prefect

    try:
        if database:
            wait_for_database(get_settings().database_url, timeout_s=timeout)
        if prefect:
            api_url = os.environ.get("PREFECT_API_URL")
            if not api_url:
                raise fail("--prefect needs PREFECT_API_URL")
            wait_for_prefect(api_url, timeout_s=timeout)
    except (DatabaseUnavailableError, ClusterError) as exc:
        raise fail(str(exc)) from exc


@app.command()
def deploy(
    pool: Annotated[
        str, typer.Option(help="Prefect work pool (type process) the workers poll.")
    ] = "threatwatch",
    source_dir: Annotated[
        Path | None, typer.Option(help="Where workers find the code (default: this installation's).")
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Register with schedules paused.")] = False,
) -> None:
    """Scale-out: register every scheduled flow on a work pool of the Prefect server at PREFECT_API_URL.

    The deployments are declared in ``pipelines/deployments.py``, which this runs as a child process
    (the package never imports ``pipelines``)."""
    if not os.environ.get("PREFECT_API_URL"):
        raise fail(
            "set PREFECT_API_URL to the Prefect server (e.g. http://prefect:4200/api); see docs/scale-out.md"
        )
    command = [sys.executable, "-m", "pipelines.deployments", "register", "--pool", pool]
    if source_dir is not None:
        command += ["--source-dir", str(source_dir)]
    if paused:
        command.append("--paused")
    if subprocess.run(command, check=False).returncode:
        raise typer.Exit(1)
    console.print(f"start workers with: prefect worker start --pool {pool} --type process")
