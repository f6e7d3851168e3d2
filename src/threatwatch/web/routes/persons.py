"""Persons of concern in the web app and the API: analysts and admins only.

Support staff never see persons: they meet an author only through the escalated items they can open.
Pages: ``/persons`` (the list: sortable, filtered by official, status, signal) and ``/persons/{id}``
(accounts, the timeline of posts with labels, counts, a chart of labels per week, the signals with the
posts that raised them, status, notes, who changed what) with its forms, which post and redirect back
with a message. ``/api/v1/persons`` does the same for scripts. Every view is audited by
``persons.views`` (``person.view``, ``person.list``), every change by ``persons.casework``; a refused
change (``PersonError``) is shown as a message on the page, or a 404/422 in the API (``web/app.py``).

Linking names the other account either by its number (the ``#`` beside each account on every person
page; ``author_id`` in the API) or by platform and handle exactly as a person page shows them: an analyst
who found the account on another person's page has its number, one who knows it from elsewhere types
its handle. Both need a note saying why; so does unlinking.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.accounts.access import Permission
from threatwatch.db.models import Author, Official, Person, PersonNote
from threatwatch.domain import FLAGGED_LABELS, LABELS, PersonStatus
from threatwatch.evidence import build_person_evidence_pack
from threatwatch.persons.casework import (
    MAX_NOTE_LENGTH,
    PersonError,
    account_label,
    add_note,
    link_account,
    set_status,
    unlink_account,
)
from threatwatch.persons.signals import SIGNALS
from threatwatch.persons.views import (
    MAX_PAGE,
    TIMELINE_PAGE,
    AccountView,
    OfficialCount,
    PersonPage,
    PersonRow,
    PersonSort,
    SignalView,
    TimelineEntry,
    list_persons,
    person_page,
)
from threatwatch.web.charts import labels_per_week_svg
from threatwatch.web.common import NowDep, evidence_response, external_link
from threatwatch.web.deps import PersonsEditor, PersonsUser, SessionDep, require
from threatwatch.web.i18n import translator
from threatwatch.web.rendering import flash, render
from threatwatch.web.schemas import DbId, Offset, db_id_or_none

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["persons"])

PAGE_SIZE = 50
LABEL_VALUES = [label.value for label in LABELS]
FLAGGED_VALUES = {label.value for label in FLAGGED_LABELS}
STATUS_VALUES = [s.value for s in PersonStatus]
# Exporting a person's evidence needs both: seeing persons and exporting evidence.
EXPORT = [Depends(require(Permission.EXPORT_EVIDENCE))]
EvidenceFormat = Annotated[Literal["json", "html"], Query(alias="format")]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _account_id(session: Session, *, account: str | None, platform: str | None, handle: str | None) -> int:
    """The account to link: its number, else the one account with that platform and handle (exact, else
    ignoring case and a missing leading ``@``)."""
    account, platform, handle = (account or "").strip(), (platform or "").strip(), (handle or "").strip()
    if account:
        number = db_id_or_none(account.removeprefix("#"))
        if number is None:
            raise PersonError(f"not an account number: {account[:40]!r}")
        return number
    if not platform or not handle:
        raise PersonError("name the account: its number, or its platform and handle")
    exact = session.scalar(select(Author.id).where(Author.platform == platform, Author.handle == handle))
    if exact is not None:
        return exact
    wanted = {handle.lower(), "@" + handle.lower().lstrip("@"), "u/" + handle.lower().removeprefix("u/")}
    found = list(
        session.scalars(
            select(Author.id)
            .where(func.lower(Author.platform) == platform.lower(), func.lower(Author.handle).in_(wanted))
            .limit(2)
        )
    )
    if len(found) != 1:
        what = f"{handle[:100]!r} on {platform[:100]!r}"
        raise PersonError(
            f"no account {what}" if not found else f"{what} matches several accounts: use its number"
        )
    return found[0]


def _own_account(session: Session, *, person_id: int, author_id: int) -> Author:
    """An account of this person (unlinking names the person it is taken from)."""
    author = session.get(Author, author_id)
    if author is None or author.person_id != person_id:
        raise PersonError(f"account {author_id} is not one of person {person_id}'s accounts")
    return author


def _status(value: str | None) -> PersonStatus | None:
    try:
        return PersonStatus(value) if value else None
    except ValueError:
        return None


# --- pages ---


@router.get("/persons")
def persons_page(
    request: Request,
    session: SessionDep,
    user: PersonsUser,
    official_id: Annotated[str | None, Query()] = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
    signal: Annotated[str | None, Query()] = None,
    everyone: Annotated[str | None, Query()] = None,
    sort: Annotated[str | None, Query()] = None,
    offset: Annotated[Offset, Query()] = 0,
) -> Response:
    """Filters that do not parse are ignored (a hand-edited URL shows the unfiltered list)."""
    filters: dict[str, Any] = {
        "official_id": db_id_or_none(official_id),
        "status": _status(status_),
        "signal": signal if signal in SIGNALS else None,
        "everyone": everyone in ("1", "true", "on"),
        "sort": PersonSort(sort) if sort in [s.value for s in PersonSort] else PersonSort.CONCERN,
    }
    # Audited (person.list) with the filters and the persons shown.
    found = list_persons(session, actor=user.username, limit=PAGE_SIZE, offset=offset, **filters)
    officials = session.execute(select(Official.id, Official.name).order_by(Official.name)).all()
    return render(
        request,
        "persons.html",
        {
            "rows": found.rows,
            "total": found.total,
            "filters": filters,
            "officials": officials,
            "statuses": STATUS_VALUES,
            "signals": SIGNALS,
            "sorts": [s.value for s in PersonSort],
            "offset": offset,
            "prev_url": str(request.url.include_query_params(offset=max(offset - PAGE_SIZE, 0))),
            "next_url": str(request.url.include_query_params(offset=offset + PAGE_SIZE)),
            "more": offset + PAGE_SIZE < found.total,
        },
        user=user,
    )


@router.get("/persons/{person_id}")
def person_detail(
    request: Request,
    session: SessionDep,
    user: PersonsUser,
    person_id: DbId,
    offset: Annotated[Offset, Query(description="newest posts of the timeline to skip")] = 0,
) -> Response:
    # Audited (person.view); the timeline shows one page of TIMELINE_PAGE posts, counts and chart all.
    page = person_page(session, person_id=person_id, actor=user.username, timeline_offset=offset)
    t = translator(request)
    chart = labels_per_week_svg(
        page.weeks, title=t("person.chart_title"), label_names={v: t(f"label.{v}") for v in LABEL_VALUES}
    )
    platforms = session.scalars(select(Author.platform).distinct().order_by(Author.platform).limit(200))
    return render(
        request,
        "person.html",
        {
            "person": page,
            "chart": chart,
            "posts": sum(page.label_counts.values()),
            "flagged": sum(n for label, n in page.label_counts.items() if label in FLAGGED_VALUES),
            "items_of_posts": {e.post_id: e.review_item_id for e in page.timeline},
            "links": {e.post_id: external_link(e.url) for e in page.timeline},
            "statuses": STATUS_VALUES,
            "platforms": list(platforms),
            # A signal names all its posts (fixation: maybe hundreds); the page links the latest ones.
            "signal_posts_shown": 12,
            "timeline_prev": (
                str(request.url.include_query_params(offset=max(offset - TIMELINE_PAGE, 0)))
                if offset
                else None
            ),
            "timeline_next": (
                str(request.url.include_query_params(offset=offset + TIMELINE_PAGE))
                if offset + TIMELINE_PAGE < page.timeline_total
                else None
            ),
            "max_note": MAX_NOTE_LENGTH,
        },
        user=user,
    )


@router.post("/persons/{person_id}/status")
def status_action(
    request: Request,
    session: SessionDep,
    user: PersonsEditor,
    now: NowDep,
    person_id: DbId,
    status_: Annotated[str, Form(alias="status")] = "",
) -> Response:
    person = set_status(session, person_id=person_id, status=status_.strip() or None, user=user, now=now)
    shown = translator(request)(f"person_status.{person.status or 'none'}")
    flash(request, "ok", "person.status_set", id=person_id, status=shown)
    return _see_other(f"/persons/{person_id}")


@router.post("/persons/{person_id}/notes")
def note_action(
    request: Request,
    session: SessionDep,
    user: PersonsEditor,
    now: NowDep,
    person_id: DbId,
    text: Annotated[str, Form()] = "",
) -> Response:
    add_note(session, person_id=person_id, text=text, user=user, now=now)
    flash(request, "ok", "person.note_added")
    return _see_other(f"/persons/{person_id}")


@router.post("/persons/{person_id}/link")
def link_action(
    request: Request,
    session: SessionDep,
    user: PersonsEditor,
    now: NowDep,
    person_id: DbId,
    account: Annotated[str, Form()] = "",
    platform: Annotated[str, Form()] = "",
    handle: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    author_id = _account_id(session, account=account, platform=platform, handle=handle)
    link_account(session, person_id=person_id, author_id=author_id, user=user, note=note, now=now)
    author = session.get(Author, author_id)
    assert author is not None
    flash(request, "ok", "person.linked", account=account_label(author), id=person_id)
    return _see_other(f"/persons/{person_id}")


@router.post("/persons/{person_id}/accounts/{author_id}/unlink")
def unlink_action(
    request: Request,
    session: SessionDep,
    user: PersonsEditor,
    now: NowDep,
    person_id: DbId,
    author_id: DbId,
    note: Annotated[str, Form()] = "",
) -> Response:
    author = _own_account(session, person_id=person_id, author_id=author_id)
    new = unlink_account(session, author_id=author_id, user=user, note=note, now=now)
    flash(request, "ok", "person.unlinked", account=account_label(author), new=new.id)
    return _see_other(f"/persons/{person_id}")


@router.get("/persons/{person_id}/evidence", dependencies=EXPORT)
def person_evidence_download(
    session: SessionDep, user: PersonsUser, now: NowDep, person_id: DbId, fmt: EvidenceFormat = "html"
) -> Response:
    """The person's evidence pack: ``format=html`` (printable, the default) or ``format=json``."""
    pack = build_person_evidence_pack(session, person_id=person_id, actor=user, now=now)
    return evidence_response(pack, fmt)


# --- API ---


class PersonListOut(BaseModel):
    total: int
    persons: list[PersonRow]


class NameOut(BaseModel):
    name: str
    first_seen_at: datetime
    last_seen_at: datetime


class AccountOut(BaseModel):
    id: int
    platform: str
    handle: str
    names: list[NameOut]
    first_seen_at: datetime
    last_seen_at: datetime


class WeekOut(BaseModel):
    week: date = Field(description="the Monday of the week")
    counts: dict[str, int]


class NoteOut(BaseModel):
    id: int
    author: str
    text: str
    created_at: datetime


class ChangeOut(BaseModel):
    at: datetime
    actor: str
    action: str
    details: dict[str, Any]


class PersonOut(BaseModel):
    id: int
    status: str | None
    concern: float
    accounts: list[AccountOut]
    timeline: list[TimelineEntry] = Field(
        description="posts about watched officials, newest first: timeline_limit after timeline_offset"
    )
    timeline_total: int = Field(description="all posts about watched officials")
    timeline_offset: int
    label_counts: dict[str, int]
    officials: list[OfficialCount]
    weeks: list[WeekOut]
    signals: list[SignalView]
    notes: list[NoteOut]
    history: list[ChangeOut] = Field(description="status, notes, links and unlinks: who, when, what")


class StatusIn(BaseModel):
    status: PersonStatus | None = Field(description="watching, escalated, closed, or null (not assessed)")


class StatusOut(BaseModel):
    id: int
    status: str | None


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_NOTE_LENGTH)


class LinkIn(BaseModel):
    """The account to link: ``author_id``, or ``platform`` and ``handle`` as the person pages show them."""

    author_id: DbId | None = None
    platform: str | None = Field(default=None, max_length=100)
    handle: str | None = Field(default=None, max_length=300)
    note: str = Field(min_length=1, max_length=MAX_NOTE_LENGTH, description="why: required")


class LinkOut(BaseModel):
    person_id: int
    author_id: int
    account: str
    from_person: int
    merged: bool = Field(description="the account's former person had no other account and is gone")


class UnlinkIn(BaseModel):
    author_id: DbId
    note: str = Field(min_length=1, max_length=MAX_NOTE_LENGTH, description="why: required")


class UnlinkOut(BaseModel):
    person_id: int
    new_person_id: int
    author_id: int
    account: str


def _account_out(account: AccountView) -> AccountOut:
    return AccountOut(
        id=account.id,
        platform=account.platform,
        handle=account.handle,
        names=[NameOut(name=n, first_seen_at=first, last_seen_at=last) for n, first, last in account.names],
        first_seen_at=account.first_seen_at,
        last_seen_at=account.last_seen_at,
    )


def _note_out(note: PersonNote) -> NoteOut:
    return NoteOut(id=note.id, author=note.author_label, text=note.text, created_at=note.created_at)


def _person_out(page: PersonPage) -> PersonOut:
    return PersonOut(
        id=page.id,
        status=page.status,
        concern=page.concern,
        accounts=[_account_out(a) for a in page.accounts],
        timeline=page.timeline,
        timeline_total=page.timeline_total,
        timeline_offset=page.timeline_offset,
        label_counts=page.label_counts,
        officials=page.officials,
        weeks=[WeekOut(week=week, counts=counts) for week, counts in page.weeks],
        signals=page.signals,
        notes=[_note_out(n) for n in page.notes],
        history=[ChangeOut(at=h.at, actor=h.actor, action=h.action, details=h.details) for h in page.history],
    )


@api_router.get("/persons")
def persons_api(
    session: SessionDep,
    user: PersonsUser,
    official_id: DbId | None = None,
    status_: Annotated[PersonStatus | None, Query(alias="status")] = None,
    signal: Annotated[str | None, Query(description=", ".join(SIGNALS))] = None,
    everyone: Annotated[bool, Query(description="also persons without flagged posts")] = False,
    sort: PersonSort = PersonSort.CONCERN,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> PersonListOut:
    """Persons of concern, highest concern first by default (the list's view is audited)."""
    if signal is not None and signal not in SIGNALS:
        detail = f"unknown signal; one of {', '.join(SIGNALS)}"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
    found = list_persons(
        session,
        actor=user.username,
        official_id=official_id,
        status=status_,
        signal=signal,
        everyone=everyone,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return PersonListOut(total=found.total, persons=found.rows)


@api_router.get("/persons/{person_id}")
def person_api(
    session: SessionDep,
    user: PersonsUser,
    person_id: DbId,
    timeline_offset: Annotated[Offset, Query()] = 0,
    timeline_limit: Annotated[int, Query(ge=1, le=1000)] = TIMELINE_PAGE,
) -> PersonOut:
    return _person_out(
        person_page(
            session,
            person_id=person_id,
            actor=user.username,
            timeline_offset=timeline_offset,
            timeline_limit=timeline_limit,
        )
    )


@api_router.post("/persons/{person_id}/status")
def status_api(
    session: SessionDep, user: PersonsEditor, now: NowDep, person_id: DbId, body: StatusIn
) -> StatusOut:
    person = set_status(session, person_id=person_id, status=body.status, user=user, now=now)
    return StatusOut(id=person.id, status=person.status)


@api_router.post("/persons/{person_id}/notes", status_code=status.HTTP_201_CREATED)
def note_api(session: SessionDep, user: PersonsEditor, now: NowDep, person_id: DbId, body: NoteIn) -> NoteOut:
    return _note_out(add_note(session, person_id=person_id, text=body.text, user=user, now=now))


@api_router.post("/persons/{person_id}/link")
def link_api(session: SessionDep, user: PersonsEditor, now: NowDep, person_id: DbId, body: LinkIn) -> LinkOut:
    author_id = _account_id(
        session,
        account=str(body.author_id) if body.author_id is not None else None,
        platform=body.platform,
        handle=body.handle,
    )
    author = session.get(Author, author_id)
    from_person = author.person_id if author is not None else 0
    link_account(session, person_id=person_id, author_id=author_id, user=user, note=body.note, now=now)
    assert author is not None  # link_account refuses an unknown account
    return LinkOut(
        person_id=person_id,
        author_id=author_id,
        account=account_label(author),
        from_person=from_person,
        merged=session.get(Person, from_person) is None,
    )


@api_router.post("/persons/{person_id}/unlink")
def unlink_api(
    session: SessionDep, user: PersonsEditor, now: NowDep, person_id: DbId, body: UnlinkIn
) -> UnlinkOut:
    author = _own_account(session, person_id=person_id, author_id=body.author_id)
    new = unlink_account(session, author_id=body.author_id, user=user, note=body.note, now=now)
    return UnlinkOut(
        person_id=person_id, new_person_id=new.id, author_id=author.id, account=account_label(author)
    )


@api_router.get("/persons/{person_id}/evidence", response_class=Response, dependencies=EXPORT)
def person_evidence_api(
    session: SessionDep, user: PersonsUser, now: NowDep, person_id: DbId, fmt: EvidenceFormat = "json"
) -> Response:
    """The person's evidence pack: ``format=json`` (data) or ``format=html`` (printable)."""
    pack = build_person_evidence_pack(session, person_id=person_id, actor=user, now=now)
    return evidence_response(pack, fmt)
