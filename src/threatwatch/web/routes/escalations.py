"""The escalations page: support's landing page, every escalated item, audited as seen."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threatwatch import audit
from threatwatch.domain import ReviewStatus
from threatwatch.review.queue import list_queue
from threatwatch.web.deps import (
    EscalationsUser,
    SessionDep,
)
from threatwatch.web.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/escalations")
def escalations_page(request: Request, session: SessionDep, user: EscalationsUser) -> Response:
    entries = list_queue(session, status=ReviewStatus.ESCALATED, limit=200)
    audit.record(
        session, actor=user.username, action="view_escalations", details={"items": [e.id for e in entries]}
    )
    return render(request, "escalations.html", {"entries": entries}, user=user)
