"""Reading pages: escalations (support's landing page), officials with their timeline chart and
evidence over a period, sources health and model versions with their model cards' pictures."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, Response
from sqlalchemy import select

from threatwatch import audit
from threatwatch.accounts.access import Permission, can
from threatwatch.db.models import Official, Source
from threatwatch.domain import ReviewStatus
from threatwatch.review.detail import official_timeline
from threatwatch.review.errors import ItemNotFound
from threatwatch.review.queue import list_queue
from threatwatch.web.charts import timeline_svg
from threatwatch.web.common import NowDep, evidence_response, official_evidence, parse_day
from threatwatch.web.deps import (
    EscalationsUser,
    EvidenceUser,
    ModelsUser,
    ReaderUser,
    SessionDep,
    SettingsDep,
    SourcesUser,
)
from threatwatch.web.i18n import translator
from threatwatch.web.modelinfo import figure_path, list_model_versions
from threatwatch.web.rendering import render
from threatwatch.web.schemas import DbId

router = APIRouter(include_in_schema=False)

TIMELINE_DAYS = (7, 30, 90)
# A model version's directory is written once and named by a hash of its inputs, so its pictures may be
# kept for a while; only in this browser (they are an admin's view, behind login).
FIGURE_CACHE_CONTROL = "private, max-age=3600"


@router.get("/escalations")
def escalations_page(request: Request, session: SessionDep, user: EscalationsUser) -> Response:
    entries = list_queue(session, status=ReviewStatus.ESCALATED, limit=200)
    audit.record(
        session, actor=user.username, action="view_escalations", details={"items": [e.id for e in entries]}
    )
    return render(request, "escalations.html", {"entries": entries}, user=user)


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


@router.get("/sources")
def sources_page(request: Request, session: SessionDep, user: SourcesUser) -> Response:
    sources = session.scalars(select(Source).order_by(Source.status.desc(), Source.name)).all()
    return render(request, "sources.html", {"sources": sources}, user=user)


@router.get("/models")
def models_page(request: Request, settings: SettingsDep, user: ModelsUser) -> Response:
    versions = list_model_versions(settings.model_dir)
    return render(request, "models.html", {"versions": versions, "model_dir": settings.model_dir}, user=user)


@router.get("/models/{name}/figures/{figure}.png")
def model_figure(settings: SettingsDep, user: ModelsUser, name: str, figure: str) -> Response:
    """One of a model card's pictures (``modelinfo.FIGURES``) of a listed model version; 404 otherwise."""
    path = figure_path(settings.model_dir, name=name, figure=figure)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such model figure")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": FIGURE_CACHE_CONTROL})
