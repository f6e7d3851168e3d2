"""Sources health: every source with its status, last poll and last error."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from threatwatch.db.models import Source
from threatwatch.web.deps import (
    SessionDep,
    SourcesUser,
)
from threatwatch.web.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/sources")
def sources_page(request: Request, session: SessionDep, user: SourcesUser) -> Response:
    sources = session.scalars(select(Source).order_by(Source.status.desc(), Source.name)).all()
    return render(request, "sources.html", {"sources": sources}, user=user)
