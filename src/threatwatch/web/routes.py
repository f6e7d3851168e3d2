"""Read-only queue views for now; the review issue adds login, roles and actions."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from threatwatch import audit
from threatwatch.review.queue import list_queue, queue_counts
from threatwatch.web.deps import SessionDep

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

pages = APIRouter()
api = APIRouter(prefix="/api/v1")

# Until accounts exist (review issue) the app listens on loopback only and audits as this actor.
LOCAL_ACTOR = "local"


@pages.get("/", response_class=HTMLResponse)
def queue_page(request: Request, session: SessionDep, limit: int = Query(100, ge=1, le=500)) -> HTMLResponse:
    entries = list_queue(session, limit=limit)
    audit.record(session, actor=LOCAL_ACTOR, action="view_queue", details={"items": [e.id for e in entries]})
    return templates.TemplateResponse(
        request, "queue.html", {"entries": entries, "counts": queue_counts(session)}
    )


@api.get("/queue")
def queue_api(
    session: SessionDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    label: str | None = None,
) -> dict[str, Any]:
    entries = list_queue(session, limit=limit, offset=offset, label=label)
    audit.record(session, actor=LOCAL_ACTOR, action="view_queue", details={"items": [e.id for e in entries]})
    return {"items": [asdict(e) for e in entries], "counts": queue_counts(session)}


@pages.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
