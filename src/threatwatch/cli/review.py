"""`threatwatch queue`: the review queue, for people at a terminal and for scripts (JSON output)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from threatwatch.accounts.access import Permission, can
from threatwatch.cli._common import acting_as, app, console, emit_json, fail, open_session
from threatwatch.config import get_settings
from threatwatch.db.models import ReviewItem, User

queue_app = typer.Typer(help="The review queue.")
app.add_typer(queue_app, name="queue")

UserOpt = Annotated[str, typer.Option("--user", envvar="THREATWATCH_USER", help="Act as this account.")]
NoteOpt = Annotated[str | None, typer.Option(help="A note for the record.")]
T = TypeVar("T")


def _item_json(item: ReviewItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "status": item.status,
        "assignee_id": item.assignee_id,
        "lease_expires_at": item.lease_expires_at,
    }


def _run(
    username: str,
    action: Callable[[Session, User, datetime], T],
    *,
    permission: Permission = Permission.REVIEW,
    items: Sequence[int] = (),
) -> T:
    """``action`` as ``username`` once the role may do ``permission`` and may see each of ``items``."""
    from threatwatch.review.authorise import ensure_item_visible

    with acting_as(username, permission) as (session, user):
        for item_id in items:
            ensure_item_visible(session, user=user, item_id=item_id)
        return action(session, user, datetime.now(UTC))


@queue_app.command("list")
def queue_list(
    limit: int = 20,
    label: Annotated[str | None, typer.Option(help="Only this label.")] = None,
    official: Annotated[int | None, typer.Option(help="Only items about this official id.")] = None,
    status: Annotated[str | None, typer.Option(help="open, claimed, decided, escalated, dismissed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Open and claimed review items, most urgent first."""
    from threatwatch.review.queue import view_queue

    with open_session(get_settings()) as session, session.begin():
        try:
            entries, _ = view_queue(
                session, viewer="cli", page_size=limit, label=label, official_id=official, status=status
            )
        except ValueError as exc:
            raise fail(str(exc)) from exc
    if as_json:
        for e in entries:
            emit_json(asdict(e))
        return
    table = Table("id", "prio", "status", "label", "score", "officials", "text", show_lines=True)
    for e in entries:
        table.add_row(
            str(e.id),
            f"{e.priority:.2f}",
            e.status + (f" ({e.assignee})" if e.assignee else ""),
            e.label,
            f"{e.scores[e.label]:.2f}",
            ", ".join(e.officials),
            e.text[:160],
        )
    console.print(table)


@queue_app.command("claim")
def queue_claim(
    user: UserOpt,
    item_id: Annotated[int | None, typer.Argument(help="Item to claim; omit: the most urgent.")] = None,
    official: Annotated[int | None, typer.Option(help="With no ITEM_ID: only about this official.")] = None,
    label: Annotated[str | None, typer.Option(help="With no ITEM_ID: only this label.")] = None,
) -> None:
    """Claim an item under a lease; prints it as JSON ('null' when the queue is empty)."""
    from threatwatch.review import claim_item, claim_next

    def act(session: Session, who: User, now: datetime) -> dict[str, Any] | None:
        if item_id is not None:
            return _item_json(claim_item(session, item_id=item_id, user=who, now=now))
        item = claim_next(session, user=who, now=now, official_id=official, label=label)
        return None if item is None else _item_json(item)

    emit_json(_run(user, act, items=[item_id] if item_id is not None else []))


@queue_app.command("release")
def queue_release(user: UserOpt, item_id: int) -> None:
    """Give a claimed item back to the queue."""
    from threatwatch.review import release_item

    _run(user, lambda s, who, now: release_item(s, item_id=item_id, user=who, now=now), items=[item_id])
    emit_json({"id": item_id, "status": "open"})


@queue_app.command("decide")
def queue_decide(user: UserOpt, item_id: int, label: str, note: NoteOpt = None) -> None:
    """Decide an item: threat, coercion, doxxing, abuse or none (stored as a training label)."""
    from threatwatch.review import decide_item

    def act(session: Session, who: User, now: datetime) -> dict[str, Any]:
        d = decide_item(session, item_id=item_id, user=who, label=label, note=note, now=now)
        return {"decision_id": d.id, "item_id": item_id, "label": d.label, "corrected": d.corrected}

    emit_json(_run(user, act, items=[item_id]))


@queue_app.command("undo")
def queue_undo(user: UserOpt, decision_id: int) -> None:
    """Take back one's own decision within the undo window."""
    from threatwatch.review import undo_decision

    _run(user, lambda s, who, now: undo_decision(s, decision_id=decision_id, user=who, now=now))
    emit_json({"decision_id": decision_id, "undone": True})


@queue_app.command("dismiss")
def queue_dismiss(user: UserOpt, item_ids: list[int], note: NoteOpt = None) -> None:
    """Bulk-dismiss items as noise (label none); items others hold are skipped."""
    from threatwatch.review import bulk_dismiss

    count = _run(user, lambda s, who, now: bulk_dismiss(s, item_ids=item_ids, user=who, now=now, note=note))
    emit_json({"dismissed": count, "requested": len(set(item_ids))})


@queue_app.command("escalate")
def queue_escalate(
    user: UserOpt,
    item_id: int,
    urgency: Annotated[str, typer.Option(help="low, high or critical.")] = "high",
    note: NoteOpt = None,
) -> None:
    """Escalate a decided item to the support team of its officials."""
    from threatwatch.review import escalate_item

    def act(session: Session, who: User, now: datetime) -> dict[str, Any]:
        e = escalate_item(
            session, item_id=item_id, user=who, urgency=urgency, note=note, now=now, settings=get_settings()
        )
        return {"escalation_id": e.id, "item_id": item_id, "urgency": e.urgency}

    emit_json(_run(user, act, items=[item_id]))


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"not an ISO date or time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@queue_app.command("export")
def queue_export(
    user: UserOpt,
    item: Annotated[list[int] | None, typer.Option("--item", help="An item to include (repeatable).")] = None,
    official: Annotated[int | None, typer.Option(help="All flagged items about this official.")] = None,
    since: Annotated[str | None, typer.Option(help="From this ISO date/time (UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this ISO date/time (UTC).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the .json and .html files.")] = Path(),
) -> None:
    """Write an evidence pack (JSON record + printable HTML) for a police report."""
    from threatwatch.evidence import EvidencePack, build_evidence_pack
    from threatwatch.review import DecisionError
    from threatwatch.review.authorise import escalated_item_ids

    start, end = _when(since), _when(until)

    def act(session: Session, who: User, now: datetime) -> EvidencePack:
        item_ids = item or None
        if item_ids is None and official is not None and not can(who.role, Permission.VIEW_QUEUE):
            # Roles that see only escalated items export only those (as on the official's web page).
            item_ids = escalated_item_ids(session, official_id=official, start=start, end=end)
            if not item_ids:
                raise DecisionError("no escalated items about this official in that period")
        return build_evidence_pack(
            session, actor=who, item_ids=item_ids, official_id=official, since=start, until=end, now=now
        )

    pack = _run(user, act, permission=Permission.EXPORT_EVIDENCE, items=item or [])
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / f"{pack.filename_stem}.json", out / f"{pack.filename_stem}.html"
    json_path.write_bytes(pack.json_bytes())
    html_path.write_text(pack.html(), encoding="utf-8")
    emit_json({"items": len(pack.items), "json": str(json_path), "html": str(html_path)})
