"""The REST API under ``/api/v1``: the same service functions and the same roles as the pages.

Scripts authenticate with ``Authorization: Bearer <token>`` (tokens from the account page); a browser
session works too, with the CSRF token in ``X-CSRF-Token`` for unsafe methods. Errors are JSON
``{"detail": ...}``: 401 not logged in, 403 wrong role, 404 unknown, 409 conflict, 422 invalid.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import Response
from sqlalchemy import select

from threatwatch.accounts.access import ROLE_PERMISSIONS, Permission, can, role_of
from threatwatch.db.models import Official, ReviewItem, Source
from threatwatch.evidence import build_evidence_pack
from threatwatch.review.claims import claim_item, claim_next, release_item
from threatwatch.review.decisions import bulk_dismiss, close_item, decide_item, escalate_item, undo_decision
from threatwatch.review.detail import ItemDetail, OfficialRef, get_item, official_ref, official_timeline
from threatwatch.review.errors import DecisionError, ItemNotFound
from threatwatch.review.queue import queue_counts, view_queue
from threatwatch.web.common import (
    NowDep,
    ensure_item_visible,
    evidence_response,
    official_evidence,
    parse_day,
)
from threatwatch.web.deps import (
    AnalystUser,
    CloserUser,
    CurrentUser,
    EvidenceUser,
    ItemReader,
    ModelsUser,
    QueueCountsDep,
    QueueUser,
    ReaderUser,
    SessionDep,
    SettingsDep,
    SourcesUser,
)
from threatwatch.web.modelinfo import list_model_versions
from threatwatch.web.schemas import (
    BulkDismissIn,
    BulkDismissOut,
    ClaimNextIn,
    ClaimOut,
    CloseIn,
    DbId,
    DecideIn,
    DecisionCreatedOut,
    EscalateIn,
    EscalationCreatedOut,
    MeOut,
    ModelVersionOut,
    Offset,
    QueueOut,
    SourceOut,
    TimelineOut,
)

router = APIRouter(prefix="/api/v1", tags=["api"])

EvidenceFormat = Annotated[Literal["json", "html"], Query(alias="format")]


def _claim_out(item: ReviewItem) -> ClaimOut:
    return ClaimOut(
        id=item.id,
        status=item.status,
        assignee=item.assignee.username if item.assignee is not None else None,
        lease_expires_at=item.lease_expires_at,
    )


@router.get("/me")
def me(user: CurrentUser) -> MeOut:
    role = role_of(user.role)
    permissions = sorted(p.value for p in ROLE_PERMISSIONS[role]) if role is not None else []
    return MeOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        permissions=permissions,
    )


@router.get("/queue")
def queue(
    session: SessionDep,
    user: QueueUser,
    shared_counts: QueueCountsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
    official_id: DbId | None = None,
    label: str | None = None,
    source_id: DbId | None = None,
    status: Annotated[str | None, Query(description="default: the active queue (open and claimed)")] = None,
) -> QueueOut:
    try:
        entries, _ = view_queue(
            session,
            viewer=user.username,
            page_size=limit,
            offset=offset,
            official_id=official_id,
            label=label,
            source_id=source_id,
            status=status,
        )
    except ValueError:
        raise DecisionError(f"unknown status {status!r}") from None
    return QueueOut(items=entries, counts=queue_counts(session, shared=shared_counts))


@router.post("/queue/claim-next")
def claim_next_item(
    session: SessionDep, user: AnalystUser, now: NowDep, body: ClaimNextIn | None = None
) -> ClaimOut | None:
    """The most urgent free item, now held by you; ``null`` when nothing is left."""
    body = body or ClaimNextIn()
    item = claim_next(session, user=user, now=now, official_id=body.official_id, label=body.label)
    return _claim_out(item) if item is not None else None


@router.post("/queue/bulk-dismiss")
def bulk_dismiss_items(
    session: SessionDep, user: AnalystUser, now: NowDep, body: BulkDismissIn
) -> BulkDismissOut:
    count = bulk_dismiss(session, item_ids=body.item_ids, user=user, now=now, note=body.note)
    return BulkDismissOut(requested=len(set(body.item_ids)), dismissed=count)


@router.get("/items/{item_id}")
def item(session: SessionDep, user: ItemReader, now: NowDep, item_id: DbId) -> ItemDetail:
    ensure_item_visible(session, user=user, item_id=item_id)
    detail = get_item(session, item_id=item_id, viewer=user, now=now)
    if not can(user.role, Permission.VIEW_QUEUE):
        # Related posts are other (possibly never escalated) queue items: support sees escalations only.
        detail = replace(detail, related=[])
    return detail


@router.post("/items/{item_id}/claim")
def claim(session: SessionDep, user: AnalystUser, now: NowDep, item_id: DbId) -> ClaimOut:
    return _claim_out(claim_item(session, item_id=item_id, user=user, now=now))


@router.post("/items/{item_id}/release", status_code=status.HTTP_204_NO_CONTENT)
def release(session: SessionDep, user: AnalystUser, now: NowDep, item_id: DbId) -> None:
    release_item(session, item_id=item_id, user=user, now=now)


@router.post("/items/{item_id}/decide", status_code=status.HTTP_201_CREATED)
def decide(
    session: SessionDep, user: AnalystUser, now: NowDep, item_id: DbId, body: DecideIn
) -> DecisionCreatedOut:
    decision = decide_item(session, item_id=item_id, user=user, label=body.label, note=body.note, now=now)
    return DecisionCreatedOut(
        id=decision.id,
        review_item_id=decision.review_item_id,
        label=decision.label,
        corrected=decision.corrected,
        created_at=decision.created_at,
    )


@router.post("/items/{item_id}/escalate", status_code=status.HTTP_201_CREATED)
def escalate(
    session: SessionDep,
    user: AnalystUser,
    now: NowDep,
    settings: SettingsDep,
    item_id: DbId,
    body: EscalateIn,
) -> EscalationCreatedOut:
    if body.label is not None:
        decide_item(session, item_id=item_id, user=user, label=body.label, now=now)
    escalation = escalate_item(
        session, item_id=item_id, user=user, urgency=body.urgency, note=body.note, now=now, settings=settings
    )
    return EscalationCreatedOut(
        id=escalation.id,
        review_item_id=escalation.review_item_id,
        urgency=escalation.urgency,
        created_at=escalation.created_at,
    )


@router.post("/items/{item_id}/close", status_code=status.HTTP_204_NO_CONTENT)
def close(
    session: SessionDep, user: CloserUser, now: NowDep, item_id: DbId, body: CloseIn | None = None
) -> None:
    """The support team is done with an escalated item; retention may erase it after its period."""
    ensure_item_visible(session, user=user, item_id=item_id)
    close_item(session, item_id=item_id, user=user, note=body.note if body else None, now=now)


@router.post("/decisions/{decision_id}/undo", status_code=status.HTTP_204_NO_CONTENT)
def undo(session: SessionDep, user: AnalystUser, now: NowDep, decision_id: DbId) -> None:
    undo_decision(session, decision_id=decision_id, user=user, now=now)


@router.get("/items/{item_id}/evidence", response_class=Response)
def item_evidence(
    session: SessionDep, user: EvidenceUser, now: NowDep, item_id: DbId, fmt: EvidenceFormat = "json"
) -> Response:
    """The evidence pack of one item: ``format=json`` (data) or ``format=html`` (printable)."""
    ensure_item_visible(session, user=user, item_id=item_id)
    return evidence_response(build_evidence_pack(session, actor=user, item_ids=[item_id], now=now), fmt)


@router.get("/officials")
def officials(session: SessionDep, user: ReaderUser) -> list[OfficialRef]:
    return [official_ref(o) for o in session.scalars(select(Official).order_by(Official.name))]


@router.get("/officials/{official_id}/timeline")
def timeline(
    session: SessionDep,
    user: ReaderUser,
    now: NowDep,
    official_id: DbId,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> TimelineOut:
    official = session.get(Official, official_id)
    if official is None:
        raise ItemNotFound(f"no official {official_id}")
    return TimelineOut(
        official=official_ref(official),
        days=official_timeline(session, official_id=official_id, days=days, now=now),
    )


@router.get("/officials/{official_id}/evidence", response_class=Response)
def official_evidence_pack(
    session: SessionDep,
    user: EvidenceUser,
    now: NowDep,
    official_id: DbId,
    fmt: EvidenceFormat = "json",
    since: Annotated[str | None, Query(description="first day, YYYY-MM-DD")] = None,
    until: Annotated[str | None, Query(description="last day, YYYY-MM-DD")] = None,
) -> Response:
    pack = official_evidence(
        session, user=user, official_id=official_id, since=parse_day(since), until=parse_day(until), now=now
    )
    return evidence_response(pack, fmt)


@router.get("/sources")
def sources(session: SessionDep, user: SourcesUser) -> list[SourceOut]:
    return [SourceOut.model_validate(s) for s in session.scalars(select(Source).order_by(Source.name))]


@router.get("/models")
def models(settings: SettingsDep, user: ModelsUser) -> list[ModelVersionOut]:
    return [ModelVersionOut.model_validate(v) for v in list_model_versions(settings.model_dir)]
