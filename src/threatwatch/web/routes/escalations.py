"""The escalations page: support's landing page, every escalated item, audited as seen."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threatwatch.domain import ReviewStatus
from threatwatch.review.queue import view_queue
from threatwatch.web.deps import (
    EscalationsUser,
    SessionDep,
)
from threatwatch.web.rendering import render

router = APIRouter(include_in_schema=False)

ESCALATIONS_SHOWN = 200


@router.get("/escalations")
def escalations_page(request: Request, session: SessionDep, user: EscalationsUser) -> Response:
    entries, _ = view_queue(
        session,
        viewer=user.username,
        page_size=ESCALATIONS_SHOWN,
        status=ReviewStatus.ESCALATED,
        action="view_escalations",
    )
    return render(request, "escalations.html", {"entries": entries}, user=user)
