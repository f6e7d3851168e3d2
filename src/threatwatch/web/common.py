"""Helpers the pages and the API share: the clock, item visibility, evidence downloads, safe URLs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, status
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.accounts.access import Permission, can
from threatwatch.db.models import Post, User
from threatwatch.evidence import EvidencePack, PersonEvidencePack, build_evidence_pack
from threatwatch.review import authorise
from threatwatch.review.errors import DecisionError, NotAllowedError

# The evidence document is ours (escaped, no script); it carries its own <style> for printing.
EVIDENCE_HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


async def utc_now() -> datetime:
    """``async``: a clock read needs no thread-pool hop (see ``deps``)."""
    return datetime.now(UTC)


NowDep = Annotated[datetime, Depends(utc_now)]


def ensure_item_visible(session: Session, *, user: User, item_id: int) -> None:
    """404 when the item does not exist; 403 for support staff on an item nobody escalated (the rule in
    ``review.authorise``, shared with the CLI).

    Checked before the service reads (and audits) the item, so a refused look leaves no "view" behind.
    """
    try:
        authorise.ensure_item_visible(session, user=user, item_id=item_id)
    except NotAllowedError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc


THREAD_LIMIT = 20


def thread_context(session: Session, *, post_id: int) -> list[Post]:
    """The same message elsewhere: the first post of its kind and its reposts, boosts and copies
    (``Post.duplicate_of_id``), oldest first, without the post itself. Shows how far a threat spread."""
    post = session.get(Post, post_id)
    if post is None:
        return []
    root = post.duplicate_of_id or post.id
    stmt = (
        select(Post)
        .where((Post.id == root) | (Post.duplicate_of_id == root), Post.id != post_id)
        .order_by(func.coalesce(Post.published_at, Post.collected_at), Post.id)
        .limit(THREAD_LIMIT)
    )
    return list(session.scalars(stmt))


def _day_start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, tzinfo=UTC)


def _day_end(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.max, tzinfo=UTC)


def parse_day(value: str | None) -> date | None:
    """``YYYY-MM-DD`` from a form or query (empty: no bound); anything else is a clear error."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DecisionError(f"not a date (YYYY-MM-DD): {value[:40]!r}") from None


def official_evidence(
    session: Session, *, user: User, official_id: int, since: date | None, until: date | None, now: datetime
) -> EvidencePack:
    """An official's evidence over whole days; support staff get only the escalated items in it."""
    start, end = _day_start(since), _day_end(until)
    if can(user.role, Permission.VIEW_QUEUE):
        return build_evidence_pack(
            session, actor=user, official_id=official_id, since=start, until=end, now=now
        )
    ids = authorise.escalated_item_ids(session, official_id=official_id, start=start, end=end)
    if not ids:
        raise DecisionError("no escalated items about this official in that period")
    return build_evidence_pack(session, actor=user, item_ids=ids, now=now)


def evidence_response(pack: EvidencePack | PersonEvidencePack, fmt: str) -> Response:
    """The pack as a download: JSON (UTF-8) or a printable HTML document."""
    if fmt == "json":
        return Response(
            pack.json_bytes(),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{pack.filename_stem}.json"'},
        )
    return Response(
        pack.html(),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{pack.filename_stem}.html"',
            "Content-Security-Policy": EVIDENCE_HTML_CSP,
        },
    )


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after an action or login; anything else (other hosts, ``//x``) is refused."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


def external_link(url: str | None) -> str | None:
    """A post's URL as a clickable link only when it is plain http(s); else it is shown as text only."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def home_path(role: str) -> str:
    """Where a role lands after login: the queue for reviewers, escalations for support."""
    return "/queue" if can(role, Permission.VIEW_QUEUE) else "/escalations"
