"""`threatwatch retrain`, `labels export|import|conflicts`, `models list|promote|rollback` (issue 7)."""

from __future__ import annotations

import getpass
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from threatwatch.cli._common import app, console, err, fail, open_session
from threatwatch.config import get_settings
from threatwatch.domain import ModelStatus

labels_app = typer.Typer(help="Analysts' labels: export, import, conflicts to adjudicate.")
models_app = typer.Typer(help="Model versions: history, promotion, rollback.")
app.add_typer(labels_app, name="labels")
app.add_typer(models_app, name="models")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@app.command()
def retrain(
    stage: Annotated[
        str | None, typer.Option(help="'cascade' (both stages) or 'fast'; default THREATWATCH_RETRAIN_STAGE.")
    ] = None,
) -> None:
    """Train a challenger on labelled_data/ plus analysts' labels; promote it only if it is not worse."""
    from threatwatch.flows.retrain import retrain_flow

    if stage is not None and stage not in ("cascade", "fast"):
        raise fail(f"unknown stage {stage!r}: use 'cascade' or 'fast'", 2)
    summary = retrain_flow(trigger="manual", stage=stage)
    verdict = "[bold green]PROMOTED[/]" if summary.promoted else "[bold red]REJECTED[/]"
    console.print(f"{verdict} {summary.challenger} (champion was {summary.champion})")
    console.print(f"reason: {summary.reason}", highlight=False)
    console.print(f"data: {json.dumps(summary.counts)}")
    console.print(f"comparison card: {Path(summary.path) / 'COMPARISON.md'}")


@labels_app.command("export")
def labels_export(
    path: Annotated[Path, typer.Argument(help="Output .csv or .jsonl; '-' writes CSV to stdout.")],
) -> None:
    """Every live analyst decision and imported label, with who and when."""
    from threatwatch.retrain.io import LabelImportError, export_labels, file_format
    from threatwatch.retrain.labels import all_records

    with open_session(get_settings()) as session:
        records = all_records(session)
    if str(path) == "-":
        export_labels(records, sys.stdout, fmt="csv")
        return
    try:
        fmt = file_format(path)
    except LabelImportError as exc:
        raise fail(exc.problems[0], 2) from None
    with path.open("w", encoding="utf-8", newline="") as handle:
        count = export_labels(records, handle, fmt=fmt)
    console.print(f"{count} labels written to {path}")


@labels_app.command("import")
def labels_import(path: Annotated[Path, typer.Argument(help="A .csv or .jsonl file.")]) -> None:
    """Import labels made outside the app: columns id, text, label (labeller, labelled_at, note optional).
    A file with any bad row is refused whole, with line numbers."""
    from threatwatch.audit import record
    from threatwatch.db.types import utcnow
    from threatwatch.retrain.io import LabelImportError, import_labels

    if not path.is_file():
        raise fail(f"no such file: {path}", 2)
    with open_session(get_settings()) as session:
        try:
            with session.begin():
                report = import_labels(session, path=path, now=utcnow())
                record(
                    session,
                    actor=_actor(),
                    action="labels.import",
                    object_type="file",
                    object_id=path.name,
                    details=asdict(report),
                )
        except LabelImportError as exc:
            raise fail(str(exc)) from None
    console.print(f"{path.name}: {report.added} labels added, {report.updated} updated")


@labels_app.command("conflicts")
def labels_conflicts(
    with_model: Annotated[
        bool, typer.Option("--model/--no-model", help="Also list labels the live model confidently rejects.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per conflict.")] = False,
) -> None:
    """Labels to adjudicate: analysts who disagree, labels that contradict labelled_data, and (with
    --model) labels the live model confidently puts elsewhere. Also prints inter-analyst agreement."""
    from threatwatch.classify.training.data import load_labelled_data
    from threatwatch.registry import ModelNotFoundError, live_classifier
    from threatwatch.retrain.labels import all_records, group_items
    from threatwatch.retrain.quality import agreement, contradictions, disagreements, model_disagreements

    settings = get_settings()
    with open_session(settings) as session:
        items = group_items(all_records(session))
    conflicts = disagreements(items) + contradictions(items, load_labelled_data(settings.labelled_data_dir))
    if with_model and items:
        try:
            model = live_classifier(settings)
        except ModelNotFoundError as exc:
            raise fail(str(exc)) from None
        conflicts += model_disagreements(items, model)
    if as_json:
        for conflict in conflicts:
            sys.stdout.write(json.dumps(conflict.__dict__, ensure_ascii=False) + "\n")
        return
    quality = agreement(items)
    kappa = "n/a" if quality.kappa is None else f"{quality.kappa:.3f}"
    err.print(f"{len(items)} labelled messages; {quality.items} labelled twice, Cohen's kappa {kappa}")
    table = Table("kind", "id", "labels", "other side", "text", show_lines=True)
    for c in conflicts:
        table.add_row(c.kind, c.key, c.labels, c.other, c.text)
    console.print(table)


@models_app.command("list")
def models_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every model version the registry knows, newest first, with status and reason."""
    from threatwatch.db.types import utcnow
    from threatwatch.registry.versions import history, sync_with_current

    settings = get_settings()
    with open_session(settings) as session, session.begin():
        sync_with_current(session, model_dir=settings.model_dir, now=utcnow())
        rows = [
            {
                "name": v.name,
                "kind": v.kind,
                "status": v.status,
                "trigger": v.trigger,
                "created_at": v.created_at.isoformat(),
                "promoted_at": v.promoted_at.isoformat() if v.promoted_at else None,
                "reason": v.reason,
            }
            for v in history(session)
        ]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("name", "kind", "status", "trigger", "created", "reason", show_lines=True)
    for row in rows:
        style = "bold green" if row["status"] == ModelStatus.LIVE else ""
        table.add_row(
            f"[{style}]{row['name']}[/]" if style else str(row["name"]),
            str(row["kind"]),
            str(row["status"]),
            str(row["trigger"]),
            str(row["created_at"])[:19],
            str(row["reason"] or ""),
        )
    console.print(table)


@models_app.command("promote")
def models_promote(
    name: str,
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "promoted by hand",
) -> None:
    """Make NAME the live model now (running services pick it up on their next batch)."""
    promote_by_hand(name, reason=reason)
    console.print(f"{name} is now the live model")


def promote_by_hand(name: str, *, reason: str) -> None:
    """A person makes a model live (`models promote`, `train --promote`) through the registry's one
    promotion path: a registry row and an audit record, then the ``CURRENT`` swap."""
    from threatwatch.db.types import utcnow
    from threatwatch.registry import RegistryError, promote

    settings = get_settings()
    with open_session(settings) as session:
        try:
            with session.begin():
                promote(
                    session,
                    model_dir=settings.model_dir,
                    name=name,
                    reason=reason,
                    actor=_actor(),
                    now=utcnow(),
                )
        except RegistryError as exc:
            raise fail(str(exc)) from None


@models_app.command("rollback")
def models_rollback(
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "rolled back by hand",
) -> None:
    """Put back the model that was live before the current one; the current one is marked rejected."""
    from threatwatch.db.types import utcnow
    from threatwatch.registry import RegistryError, rollback

    settings = get_settings()
    with open_session(settings) as session:
        try:
            with session.begin():
                restored = rollback(
                    session, model_dir=settings.model_dir, reason=reason, actor=_actor(), now=utcnow()
                )
        except RegistryError as exc:
            raise fail(str(exc)) from None
    console.print(f"rolled back: {restored.name} is the live model again")
