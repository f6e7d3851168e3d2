"""Posts by accounts for the persons pages: queued items (``seed.make_item``) attributed to an account
the way collection attributes them (``persons.resolve_authors``), and the persons' summaries refreshed as
intake refreshes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from threatwatch.db.models import Author, Official, Post, Source
from threatwatch.domain import AuthorKey
from threatwatch.persons import refresh_persons, resolve_authors

from .seed import make_item


@dataclass(frozen=True)
class Authored:
    item_id: int
    post_id: int
    author_id: int
    person_id: int


def authored_item(
    session: Session,
    *,
    source: Source,
    handle: str,
    text: str,
    platform: str = "mastodon",
    label: str = "threat",
    officials: tuple[Official, ...] = (),
    name: str | None = None,
    days_ago: float = 1.0,
) -> Authored:
    """One queued post by ``handle`` on ``platform`` (display name ``name``), ``days_ago`` old."""
    now = datetime.now(UTC)
    at = now - timedelta(days=days_ago)
    seeded = make_item(session, source=source, text=text, label=label, officials=officials, published_at=at)
    key = AuthorKey(platform, handle)
    author_id = resolve_authors(session, names={key: name}, now=now)[key]
    post = session.get(Post, seeded.post_id)
    assert post is not None
    post.author, post.author_id = handle, author_id
    session.flush()
    author = session.get(Author, author_id)
    assert author is not None
    person_id = author.person_id
    refresh_persons(session, person_ids=[person_id], now=now)
    return Authored(item_id=seeded.item_id, post_id=seeded.post_id, author_id=author_id, person_id=person_id)
