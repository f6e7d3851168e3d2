"""`threatwatch persons`: persons of concern at a terminal: list, show, link and unlink accounts, status,
recompute, and the evidence pack across incidents. Analysts and admins only (``--user``, checked
against the role table as the web app does); every look and change is audited."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from threatwatch.accounts.access import Permission
from threatwatch.cli._common import acting_as, app, console, emit_json

persons_app = typer.Typer(help="Persons of concern: the accounts behind posts and their signals.")
app.add_typer(persons_app, name="persons")

UserOpt = Annotated[str, typer.Option("--user", envvar="THREATWATCH_USER", help="Act as this account.")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why (required, kept on the person).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON output.")]


@persons_app.command("list")
def persons_list(
    user: UserOpt,
    everyone: Annotated[bool, typer.Option("--all", help="Every person, not only those with flags.")] = False,
    official: Annotated[int | None, typer.Option(help="Only persons who wrote about this official.")] = None,
    status: Annotated[str | None, typer.Option(help="watching, escalated or closed.")] = None,
    signal: Annotated[str | None, typer.Option(help="Only persons raising this signal.")] = None,
    limit: int = 50,
    as_json: JsonOpt = False,
) -> None:
    """Persons of concern, highest concern first."""
    from threatwatch.domain import PersonStatus
    from threatwatch.persons.views import list_persons

    with acting_as(user, Permission.VIEW_PERSONS) as (session, acting):
        try:
            chosen = None if status is None else PersonStatus(status)
        except ValueError:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(PersonStatus)}") from None
        found = list_persons(
            session,
            actor=acting.username,
            official_id=official,
            status=chosen,
            signal=signal,
            everyone=everyone,
            limit=limit,
        )
    if as_json:
        for row in found.rows:
            emit_json(asdict(row))
        return
    table = Table("id", "concern", "status", "signals", "posts", "flagged", "last post", "accounts")
    for r in found.rows:
        table.add_row(
            str(r.id),
            f"{r.concern:.2f}",
            r.status or "",
            ", ".join(r.signals),
            str(r.post_count),
            str(r.flagged_count),
            r.last_post_at.strftime("%Y-%m-%d %H:%M") if r.last_post_at else "",
            ", ".join(r.accounts),
        )
    console.print(table)
    console.print(f"{len(found.rows)} of {found.total}")


@persons_app.command("show")
def persons_show(
    person_id: Annotated[int, typer.Argument(help="The person.")], user: UserOpt, as_json: JsonOpt = False
) -> None:
    """One person: accounts, signals, posts per official, notes."""
    from threatwatch.persons.views import person_page

    with acting_as(user, Permission.VIEW_PERSONS) as (session, acting):
        page = person_page(session, person_id=person_id, actor=acting.username, timeline_limit=None)
        data: dict[str, Any] = {
            "id": page.id,
            "status": page.status,
            "concern": page.concern,
            "accounts": [asdict(a) for a in page.accounts],
            "signals": [asdict(s) for s in page.signals],
            "officials": [asdict(o) for o in page.officials],
            "label_counts": page.label_counts,
            "timeline": [asdict(t) for t in page.timeline],
            "notes": [{"by": n.author_label, "at": n.created_at, "text": n.text} for n in page.notes],
        }
    if as_json:
        emit_json(data)
        return
    console.print(
        f"[bold]person {data['id']}[/]  concern {data['concern']:.2f}  status {data['status'] or '-'}"
    )
    for a in page.accounts:
        names = ", ".join(n for n, _f, _l in a.names)
        line = f"  account {a.id}: {a.handle} ({a.platform})" + (f"  names: {names}" if names else "")
        console.print(line, markup=False, highlight=False)
    for s in page.signals:
        console.print(f"  signal {s.name}: {s.detail} (posts {', '.join(map(str, s.post_ids))})")
    for o in page.officials:
        console.print(f"  about {o.name}: {o.posts} posts, {o.flagged} flagged")
    table = Table("post", "at", "label", "account", "officials", "text", show_lines=True)
    for t in page.timeline:
        table.add_row(
            str(t.post_id),
            t.at.strftime("%Y-%m-%d %H:%M"),
            t.label,
            t.account,
            ", ".join(t.officials),
            t.text[:160],
        )
    console.print(table)
    for n in page.notes:
        note = f"  note by {n.author_label} {n.created_at:%Y-%m-%d %H:%M}: {n.text}"
        console.print(note, markup=False, highlight=False)


@persons_app.command("link")
def persons_link(
    person_id: Annotated[int, typer.Argument(help="The person the account belongs to.")],
    author_id: Annotated[int, typer.Argument(help="The account (author id) to move into it.")],
    note: NoteOpt,
    user: UserOpt,
) -> None:
    """Link an account to a person: the analyst judges them one person."""
    from threatwatch.persons.casework import link_account

    with acting_as(user, Permission.MANAGE_PERSONS) as (session, acting):
        person = link_account(
            session, person_id=person_id, author_id=author_id, user=acting, note=note, now=datetime.now(UTC)
        )
        target = person.id
    console.print(f"account {author_id} linked to person {target}")


@persons_app.command("unlink")
def persons_unlink(
    author_id: Annotated[int, typer.Argument(help="The account (author id) to take out.")],
    note: NoteOpt,
    user: UserOpt,
) -> None:
    """Take an account out of its person into a person of its own."""
    from threatwatch.persons.casework import unlink_account

    with acting_as(user, Permission.MANAGE_PERSONS) as (session, acting):
        new = unlink_account(session, author_id=author_id, user=acting, note=note, now=datetime.now(UTC))
        new_id = new.id
    console.print(f"account {author_id} is now person {new_id}")


@persons_app.command("status")
def persons_status(
    person_id: Annotated[int, typer.Argument(help="The person.")],
    status: Annotated[str, typer.Argument(help="watching, escalated, closed, or none to clear.")],
    user: UserOpt,
) -> None:
    """Set the analysts' assessment of a person."""
    from threatwatch.persons.casework import set_status

    with acting_as(user, Permission.MANAGE_PERSONS) as (session, acting):
        set_status(
            session,
            person_id=person_id,
            status=None if status == "none" else status,
            user=acting,
            now=datetime.now(UTC),
        )
    console.print(f"person {person_id}: status {status}")


@persons_app.command("refresh")
def persons_refresh(
    user: UserOpt,
    everyone: Annotated[
        bool, typer.Option("--all", help="Every person; default: those never computed (after the migration).")
    ] = False,
) -> None:
    """Recompute persons' signals, concern and counts from their posts (no alerts are sent for signals
    found this way: they are not new, only newly computed)."""
    from threatwatch import audit
    from threatwatch.db.models import Person
    from threatwatch.persons.profile import refresh_persons

    with acting_as(user, Permission.MANAGE_PERSONS) as (session, acting):
        query = select(Person.id)
        if not everyone:
            query = query.where(Person.post_count == 0)
        ids = list(session.scalars(query.order_by(Person.id)))
        refresh_persons(session, person_ids=ids, now=datetime.now(UTC))
        audit.record(
            session,
            actor=acting.username,
            action="person.refresh",
            details={"all": everyone, "persons": len(ids)},
        )
    console.print(f"{len(ids)} persons recomputed")


@persons_app.command("export")
def persons_export(
    person_id: Annotated[int, typer.Argument(help="The person.")],
    user: UserOpt,
    out: Annotated[Path, typer.Option(help="Folder for the .json and .html files.")] = Path(),
) -> None:
    """Write the evidence across incidents (JSON record + printable HTML) for a police report."""
    from threatwatch.evidence import build_person_evidence_pack
    from threatwatch.review.authorise import ensure_allowed

    with acting_as(user, Permission.VIEW_PERSONS) as (session, acting):
        # Evidence for a police report: the role must both see persons and export evidence.
        ensure_allowed(acting, Permission.EXPORT_EVIDENCE)
        pack = build_person_evidence_pack(session, person_id=person_id, actor=acting, now=datetime.now(UTC))
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / f"{pack.filename_stem}.json", out / f"{pack.filename_stem}.html"
    json_path.write_bytes(pack.json_bytes())
    html_path.write_text(pack.html(), encoding="utf-8")
    console.print(f"{len(pack.posts)} posts written to {json_path} and {html_path}")
