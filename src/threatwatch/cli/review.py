"""`threatwatch queue`: the review queue."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from threatwatch.cli._common import app, console, open_session
from threatwatch.config import get_settings

queue_app = typer.Typer(help="The review queue.")
app.add_typer(queue_app, name="queue")


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

    with open_session(get_settings()) as session, session.begin():
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
