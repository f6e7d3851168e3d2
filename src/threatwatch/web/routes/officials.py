"""Officials: the list, one official's page with its timeline chart and items, and the evidence
over a period (JSON or printable HTML)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from threatwatch import audit
from threatwatch.accounts.access import Permission, can
from threatwatch.db.models import Official
from threatwatch.domain import ReviewStatus
from threatwatch.review.detail import official_timeline
from threatwatch.review.errors import ItemNotFound
from threatwatch.review.queue import list_queue
from threatwatch.web.charts import timeline_svg
from threatwatch.web.common import NowDep, evidence_response, official_evidence, parse_day
from threatwatch.web.deps import (
    EvidenceUser,
    ReaderUser,
    SessionDep,
)
from threatwatch.web.i18n import translator
from threatwatch.web.rendering import render
from threatwatch.web.schemas import DbId

router = APIRouter(include_in_schema=False)

TIMELINE_DAYS = (7, 30, 90)


@router.get("/officials")
def officials_page(request: Request, session: SessionDep, user: ReaderUser) -> Response:
    officials = session.scalars(select(Official).order_by(Official.name)).all()
    return render(request, "officials.html", {"officials": officials}, user=user)


@router.get("/officials/{official_id}")
def official_page(
    request: Request,
    session: SessionDep,
    user: ReaderUser,
    now: NowDep,
    official_id: DbId,
    days: Annotated[int, Query()] = 30,
) -> Response:
    official = session.get(Official, official_id)
    if official is None:
        raise ItemNotFound(f"no official {official_id}")
    days = days if days in TIMELINE_DAYS else 30
    timeline = official_timeline(session, official_id=official_id, days=days, now=now)
    t = translator(request)
    chart = timeline_svg(
        timeline,
        title=t("official.chart_title"),
        mentions_label=t("official.mentions"),
        flagged_label=t("official.flagged"),
    )
    # Reviewers see the official's active items; support staff only what was escalated.
    status = None if can(user.role, Permission.VIEW_QUEUE) else ReviewStatus.ESCALATED
    entries = list_queue(session, official_id=official_id, status=status, limit=50)
    audit.record(
        session,
        actor=user.username,
        action="view_official",
        object_type="official",
        object_id=official_id,
        details={"items": [e.id for e in entries]},
    )
    today = now.date()
    return render(
        request,
        "official.html",
        {
            "official": official,
            "days": days,
            "chart": chart,
            "total_mentions": sum(d.mentions for d in timeline),
            "total_flagged": sum(d.flagged for d in timeline),
            "entries": entries,
            "since": (today - timedelta(days=days - 1)).isoformat(),
            "until": today.isoformat(),
        },
        user=user,
    )


@router.get("/officials/{official_id}/evidence.{fmt}")
def official_evidence_download(
    session: SessionDep,
    user: EvidenceUser,
    now: NowDep,
    official_id: DbId,
    fmt: Literal["json", "html"],
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
) -> Response:
    pack = official_evidence(
        session, user=user, official_id=official_id, since=parse_day(since), until=parse_day(until), now=now
    )
    return evidence_response(pack, fmt)
