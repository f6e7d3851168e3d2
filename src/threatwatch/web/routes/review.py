"""Analyst pages: the queue, one item, and the actions on it (forms that post and redirect back).

Service errors (ItemNotFound, ClaimConflict, DecisionError) are not caught here: the app's handler
rolls the transaction back and shows them as a message on the page the form came from (``?next=``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.accounts.access import Permission, can
from threatwatch.db.models import Official, Source
from threatwatch.domain import FLAGGED_LABELS, LABELS, ReviewStatus, Urgency
from threatwatch.evidence import build_evidence_pack
from threatwatch.persons.views import person_of_item
from threatwatch.review.claims import claim_item, claim_next, release_item
from threatwatch.review.decisions import bulk_dismiss, close_item, decide_item, escalate_item, undo_decision
from threatwatch.review.detail import get_item
from threatwatch.review.queue import queue_counts, view_queue
from threatwatch.web.common import (
    NowDep,
    ensure_item_visible,
    evidence_response,
    external_link,
    safe_next,
    thread_context,
)
from threatwatch.web.deps import (
    AnalystUser,
    CloserUser,
    EvidenceUser,
    ItemReader,
    QueueCountsDep,
    QueueUser,
    SessionDep,
    SettingsDep,
)
from threatwatch.web.i18n import translator
from threatwatch.web.queue_rows import queue_rows
from threatwatch.web.rendering import flash, render
from threatwatch.web.schemas import DbId, Offset, db_id_or_none
from threatwatch.web.security import csrf_token

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
LABEL_VALUES = [label.value for label in LABELS]
FLAGGED_VALUES = [label.value for label in LABELS if label in FLAGGED_LABELS]


# The filter lists change rarely and cost two queries and ~1,000 escaped template expressions per queue
# view (500 officials): kept per database for a while, as ready <option> markup.
FILTER_OPTIONS_TTL_S = 30.0


@dataclass(frozen=True)
class FilterOptions:
    """The ``<option>`` elements of the official and source filters, escaped once, none selected."""

    officials: str
    sources: str


_filter_cache: dict[str, tuple[float, FilterOptions]] = {}


def _options_html(rows: Iterable[tuple[int, str]]) -> str:
    return "".join(f'<option value="{int(i)}">{escape(name)}</option>' for i, name in rows)


def _with_selected(options: str, selected: int | None) -> Markup:
    """The cached options with ``selected`` (an id) marked; ids are integers, so the match is exact."""
    if selected is not None:
        options = options.replace(f'<option value="{selected}">', f'<option value="{selected}" selected>', 1)
    return Markup(options)  # built from escaped names and integer ids only


def _filter_options(session: Session) -> FilterOptions:
    key = str(session.get_bind().engine.url)
    cached = _filter_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < FILTER_OPTIONS_TTL_S:
        return cached[1]
    options = FilterOptions(
        officials=_options_html(session.execute(select(Official.id, Official.name).order_by(Official.name))),
        sources=_options_html(session.execute(select(Source.id, Source.name).order_by(Source.name))),
    )
    _filter_cache[key] = (time.monotonic(), options)
    return options


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _blank_to_none(value: str | None) -> str | None:
    return value if value else None


@router.get("/queue")
def queue_page(
    request: Request,
    session: SessionDep,
    user: QueueUser,
    shared_counts: QueueCountsDep,
    official_id: Annotated[str | None, Query()] = None,
    label: Annotated[str | None, Query()] = None,
    source_id: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    offset: Annotated[Offset, Query()] = 0,
) -> Response:
    filters: dict[str, Any] = {
        "official_id": db_id_or_none(official_id),
        "label": label if label in LABEL_VALUES else None,
        "source_id": db_id_or_none(source_id),
        "status": status if status in [s.value for s in ReviewStatus] else None,
    }
    entries, more = view_queue(
        session,
        viewer=user.username,
        page_size=PAGE_SIZE,
        offset=offset,
        official_id=filters["official_id"],
        label=filters["label"],
        source_id=filters["source_id"],
        status=filters["status"],
    )
    options = _filter_options(session)
    return render(
        request,
        "queue.html",
        {
            "entries": entries,
            "rows": queue_rows(entries, t=translator(request), csrf_token=csrf_token(request)),
            "counts": queue_counts(session, shared=shared_counts),
            "filters": filters,
            "official_options": _with_selected(options.officials, filters["official_id"]),
            "source_options": _with_selected(options.sources, filters["source_id"]),
            "labels": LABEL_VALUES,
            "statuses": [s.value for s in ReviewStatus],
            "offset": offset,
            "more": more,
            "prev_url": str(request.url.include_query_params(offset=max(offset - PAGE_SIZE, 0))),
            "next_url": str(request.url.include_query_params(offset=offset + PAGE_SIZE)),
        },
        user=user,
    )


@router.post("/queue/claim-next")
def claim_next_action(
    request: Request,
    session: SessionDep,
    user: AnalystUser,
    now: NowDep,
    official_id: Annotated[str | None, Form()] = None,
    label: Annotated[str | None, Form()] = None,
) -> Response:
    item = claim_next(
        session,
        user=user,
        now=now,
        official_id=db_id_or_none(official_id),
        label=label if label in LABEL_VALUES else None,
    )
    if item is None:
        flash(request, "info", "queue.nothing_to_claim")
        return _see_other("/queue")
    return _see_other(f"/items/{item.id}")


@router.post("/queue/bulk-dismiss")
def bulk_dismiss_action(
    request: Request,
    session: SessionDep,
    user: AnalystUser,
    now: NowDep,
    item_ids: Annotated[list[DbId] | None, Form()] = None,
    note: Annotated[str | None, Form()] = None,
) -> Response:
    count = bulk_dismiss(session, item_ids=item_ids or [], user=user, now=now, note=_blank_to_none(note))
    flash(request, "ok", "queue.dismissed", count=count)
    return _see_other("/queue")


@router.get("/items/{item_id}")
def item_page(
    request: Request, session: SessionDep, user: ItemReader, now: NowDep, item_id: DbId
) -> Response:
    ensure_item_visible(session, user=user, item_id=item_id)
    item = get_item(session, item_id=item_id, viewer=user, now=now)
    return render(
        request,
        "item.html",
        {
            "item": item,
            "safe_link": external_link(item.url),
            "thread": thread_context(session, post_id=item.post_id),
            "labels": LABEL_VALUES,
            "flagged_labels": FLAGGED_VALUES,
            "urgencies": [u.value for u in Urgency],
            # Analysts and admins go on to the author's person; support sees authors only in items.
            "person_id": (
                person_of_item(session, item_id=item_id) if can(user.role, Permission.VIEW_PERSONS) else None
            ),
        },
        user=user,
    )


@router.post("/items/{item_id}/claim")
def claim_action(
    request: Request, session: SessionDep, user: AnalystUser, now: NowDep, item_id: DbId
) -> Response:
    claim_item(session, item_id=item_id, user=user, now=now)
    flash(request, "ok", "item.claimed", id=item_id)
    return _see_other(f"/items/{item_id}")


@router.post("/items/{item_id}/release")
def release_action(
    request: Request, session: SessionDep, user: AnalystUser, now: NowDep, item_id: DbId
) -> Response:
    release_item(session, item_id=item_id, user=user, now=now)
    flash(request, "ok", "item.released", id=item_id)
    return _see_other("/queue")


@router.post("/items/{item_id}/decide")
def decide_action(
    request: Request,
    session: SessionDep,
    user: AnalystUser,
    now: NowDep,
    item_id: DbId,
    label: Annotated[str, Form()],
    note: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Query()] = None,
) -> Response:
    """Decided from the item page (back to it) or with a key on the queue page (``?next=/queue...``)."""
    decision = decide_item(
        session, item_id=item_id, user=user, label=label, note=_blank_to_none(note), now=now
    )
    flash(request, "ok", "item.decided", id=item_id, label=translator(request)(f"label.{decision.label}"))
    return _see_other(safe_next(next, f"/items/{item_id}"))


@router.post("/items/{item_id}/escalate")
def escalate_action(
    request: Request,
    session: SessionDep,
    user: AnalystUser,
    now: NowDep,
    settings: SettingsDep,
    item_id: DbId,
    urgency: Annotated[str, Form()],
    label: Annotated[str | None, Form()] = None,
    note: Annotated[str | None, Form()] = None,
) -> Response:
    """Escalation needs a decision; an undecided item is decided with ``label`` in the same transaction."""
    if label:
        decide_item(session, item_id=item_id, user=user, label=label, now=now)
    escalate_item(
        session,
        item_id=item_id,
        user=user,
        urgency=urgency,
        note=_blank_to_none(note),
        now=now,
        settings=settings,
    )
    flash(request, "ok", "item.escalated", id=item_id)
    return _see_other(f"/items/{item_id}")


@router.post("/items/{item_id}/close")
def close_action(
    request: Request,
    session: SessionDep,
    user: CloserUser,
    now: NowDep,
    item_id: DbId,
    note: Annotated[str | None, Form()] = None,
) -> Response:
    ensure_item_visible(session, user=user, item_id=item_id)
    close_item(session, item_id=item_id, user=user, note=_blank_to_none(note), now=now)
    flash(request, "ok", "item.closed", id=item_id)
    return _see_other(f"/items/{item_id}")


@router.post("/decisions/{decision_id}/undo")
def undo_action(
    request: Request,
    session: SessionDep,
    user: AnalystUser,
    now: NowDep,
    decision_id: DbId,
    next: Annotated[str | None, Query()] = None,
) -> Response:
    undo_decision(session, decision_id=decision_id, user=user, now=now)
    flash(request, "ok", "item.undone")
    return _see_other(safe_next(next, "/queue"))


@router.get("/items/{item_id}/evidence.{fmt}")
def item_evidence(
    session: SessionDep, user: EvidenceUser, now: NowDep, item_id: DbId, fmt: Literal["json", "html"]
) -> Response:
    ensure_item_visible(session, user=user, item_id=item_id)
    pack = build_evidence_pack(session, actor=user, item_ids=[item_id], now=now)
    return evidence_response(pack, fmt)
