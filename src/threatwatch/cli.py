"""The ``threatwatch`` command line: every operation an operator or analyst runs by hand."""

from __future__ import annotations

import json
import logging
import os
import sys
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.config import Settings, get_settings

if TYPE_CHECKING:
    from pipelines.collect import CollectSummary

app = typer.Typer(help="threatwatch: early warning for online threats against Dutch public officials.")
db_app = typer.Typer(help="Database schema.")
officials_app = typer.Typer(help="The watchlist of officials.")
sources_app = typer.Typer(help="Sources to collect from.")
queue_app = typer.Typer(help="The review queue.")
app.add_typer(db_app, name="db")
app.add_typer(officials_app, name="officials")
app.add_typer(sources_app, name="sources")
app.add_typer(queue_app, name="queue")

console = Console()
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _session(settings: Settings) -> Session:
    from threatwatch.db.engine import engine_for, session_factory

    return session_factory(engine_for(settings.database_url))()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


# -- db ---------------------------------------------------------------------------------------------------


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


# -- officials --------------------------------------------------------------------------------------------


@officials_app.command("import")
def officials_import(path: Path) -> None:
    """Import officials from a CSV or YAML file (all rows, or none when any row is bad)."""
    from threatwatch.watchlist import WatchlistError, import_officials

    settings = get_settings()
    try:
        with _session(settings) as session, session.begin():
            report = import_officials(session, path=path)
    except WatchlistError as exc:
        raise _fail(str(exc)) from None
    except FileNotFoundError:
        raise _fail(f"file not found: {path}") from None
    console.print(f"{report.created} official(s) added, {report.updated} updated")


@officials_app.command("list")
def officials_list() -> None:
    from threatwatch.db.models import Official

    with _session(get_settings()) as session:
        officials = session.scalars(select(Official).order_by(Official.organisation, Official.name)).all()
        table = Table("id", "name", "role", "organisation", "aliases", "handles")
        for o in officials:
            table.add_row(
                str(o.id), o.name, o.role, o.organisation, ", ".join(o.aliases), ", ".join(o.handles)
            )
    console.print(table)


# -- sources ----------------------------------------------------------------------------------------------


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
        with _session(settings) as session, session.begin():
            source = add_source(
                session, url=url, name=name, poll_interval_s=interval or settings.default_poll_interval_s
            )
            console.print(f"source {source.id}: {source.url}")
    except SourceError as exc:
        raise _fail(str(exc)) from None


@sources_app.command("list")
def sources_list() -> None:
    """Sources with their health: last success, failures in a row, last error."""
    from threatwatch.db.models import Source

    with _session(get_settings()) as session:
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


# -- collect & queue --------------------------------------------------------------------------------------


@app.command()
def collect(
    force: Annotated[bool, typer.Option(help="Poll every active source, due or not.")] = False,
) -> None:
    """Run one collection round (a Prefect flow run): fetch, store, classify, queue."""
    from pipelines.collect import collect_flow

    summary = collect_flow(force=force)
    _print_summary(summary)


def _print_summary(summary: CollectSummary) -> None:
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


@queue_app.command("list")
def queue_list(
    limit: int = 20,
    label: Annotated[str | None, typer.Option(help="Only this label.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Open and claimed review items, most urgent first."""
    from dataclasses import asdict

    from threatwatch import audit
    from threatwatch.review.queue import list_queue

    with _session(get_settings()) as session, session.begin():
        entries = list_queue(session, limit=limit, label=label)
        audit.record(session, actor="cli", action="view_queue", details={"items": [e.id for e in entries]})
    if as_json:
        for e in entries:
            sys.stdout.write(json.dumps(asdict(e), default=str, ensure_ascii=False) + "\n")
        return
    table = Table("id", "prio", "label", "score", "officials", "text", show_lines=True)
    for e in entries:
        table.add_row(
            str(e.id),
            f"{e.priority:.2f}",
            e.label,
            f"{e.scores[e.label]:.2f}",
            ", ".join(e.officials),
            e.text[:160],
        )
    console.print(table)


# -- classifier -------------------------------------------------------------------------------------------


@app.command()
def classify(
    texts: Annotated[list[str] | None, typer.Argument(help="Messages to classify.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="CSV, or text file with one message per line.")
    ] = None,
    text_column: Annotated[str, typer.Option(help="CSV column holding the text.")] = "text",
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per input row, in order.")] = False,
) -> None:
    """Classify messages with the live model; flagged ones come with the words that drove the decision."""
    from threatwatch.classify import ModelNotFoundError, load_classifier
    from threatwatch.classify.inputs import InputError, read_texts

    if file is not None and texts:
        raise _fail("give texts or --file, not both", 2)
    if file is not None:
        try:
            inputs = read_texts(file, text_column=text_column)
        except InputError as exc:
            raise _fail(str(exc), 2) from None
    else:
        inputs = [t for t in (texts or [])]
        if not inputs:
            raise _fail("nothing to classify: give one or more texts, or --file PATH", 2)
        if any(not t.strip() for t in inputs):
            raise _fail("empty text given", 2)
    settings = get_settings()
    try:
        with err.status("loading the model"):
            classifier = load_classifier(
                settings.model_dir, settings.model_name, cache_dir=settings.cache_dir
            )
    except ModelNotFoundError as exc:
        raise _fail(str(exc)) from None
    results = classifier.predict(inputs)
    if jsonl:
        for result in results:
            sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        return
    table = Table(
        "label", "flagged", "score", "text", "why", show_lines=True, title=f"model {classifier.version}"
    )
    for text, result in zip(inputs, results, strict=True):
        why = ", ".join(f"{s.text} ({s.weight:+.2f})" for s in result.explanation)
        style = "bold red" if result.flagged else ""
        table.add_row(
            f"[{style}]{result.label.value}[/]" if style else result.label.value,
            "yes" if result.flagged else "no",
            f"{result.scores[result.label.value]:.2f}",
            text,
            why,
        )
    console.print(table)


@app.command()
def train(
    promote: Annotated[bool, typer.Option(help="Make the new model the live one (models/CURRENT).")] = False,
    stage: Annotated[
        str, typer.Option(help="'cascade' (both stages) or 'fast' (fast stage alone).")
    ] = "cascade",
    seed: int = 13,
) -> None:
    """Train the classifier from labelled_data/ and write a model directory with metrics and a card."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from threatwatch.classify.evaluate import format_evaluation
    from threatwatch.classify.fast import FastTrainingArguments
    from threatwatch.classify.registry import set_current_model
    from threatwatch.classify.train import train_cascade_model, train_fast_model

    if stage not in ("cascade", "fast"):
        raise _fail(f"unknown stage {stage!r}: use 'cascade' or 'fast'", 2)
    settings = get_settings()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as bar:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        if stage == "fast":
            report = train_fast_model(
                data_dir=settings.labelled_data_dir,
                model_dir=settings.model_dir,
                args=FastTrainingArguments(seed=seed),
                progress=progress,
            )
        else:
            from threatwatch.classify.transformer import TransformerTrainingArguments

            report = train_cascade_model(
                data_dir=settings.labelled_data_dir,
                model_dir=settings.model_dir,
                cache_dir=settings.cache_dir,
                fast_args=FastTrainingArguments(seed=seed),
                transformer_args=TransformerTrainingArguments(seed=seed),
                progress=progress,
            )
    console.print(f"model {report.version} written to {report.path} in {report.seconds:.0f} s")
    console.print("[bold]test split[/]")
    console.print(format_evaluation(report.card.test), highlight=False)
    if promote:
        set_current_model(settings.model_dir, report.version)
        console.print(f"{report.version} is now the live model")


@app.command()
def evaluate(
    model: Annotated[str | None, typer.Option(help="Model directory name; default: the live model.")] = None,
) -> None:
    """Evaluate a model on the fixed test split, print P/R/F1 and the confusion matrix, rewrite its card."""
    from threatwatch.classify.card import read_description, write_model_card
    from threatwatch.classify.data import load_labelled_data
    from threatwatch.classify.evaluate import format_evaluation
    from threatwatch.classify.registry import ModelNotFoundError, current_model_path, load_model

    settings = get_settings()
    try:
        path = current_model_path(settings.model_dir, model or settings.model_name)
    except ModelNotFoundError as exc:
        raise _fail(str(exc)) from None
    with err.status(f"evaluating {path.name}"):
        classifier = load_model(path, cache_dir=settings.cache_dir)
        card = write_model_card(
            path,
            classifier,
            load_labelled_data(settings.labelled_data_dir),
            description=read_description(path) or path.name,
        )
    console.print(f"[bold]{path.name}: test split[/]")
    console.print(format_evaluation(card.test), highlight=False)
    console.print(f"model card: {path / 'README.md'}")


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
    with _session(settings) as session, session.begin():
        report = import_officials(session, path=demo_dir / "watchlist.yaml")
        for feed in sorted((demo_dir / "feeds").glob("*.xml")):
            add_source(session, url=feed.resolve().as_uri(), name=feed.stem, poll_interval_s=300)
    console.print(f"watchlist: {report.created} added, {report.updated} updated")
    from pipelines.collect import collect_flow

    _print_summary(collect_flow(force=True))
    if serve_after:
        serve(host=None, port=None)


def main() -> None:
    # No telemetry from the embedded Prefect server: this runs on closed networks with personal data.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    app()
