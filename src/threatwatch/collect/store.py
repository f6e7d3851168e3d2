"""Storing entries: each (source, external id) once, with its mentions of watched officials."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.collect.parse import FeedEntry
from threatwatch.db.models import Mention, Post
from threatwatch.watchlist.matching import OfficialMatcher
from threatwatch.watchlist.names import tokens


def content_hash(text: str) -> str:
    """Hash of the folded words, so the same message with other spacing or accents hashes the same."""
    return hashlib.sha256(" ".join(tokens(text)).encode("utf-8")).hexdigest()


@dataclass
class StoreReport:
    new_post_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    mentions: int = 0


def store_entries(
    session: Session,
    *,
    source_id: int,
    entries: Sequence[FeedEntry],
    matcher: OfficialMatcher,
    now: datetime,
) -> StoreReport:
    """Insert the entries this source has not delivered before; re-delivery is counted, not stored."""
    report = StoreReport()
    ids = [e.external_id for e in entries]
    known: set[str] = set()
    for start in range(0, len(ids), 500):
        known.update(
            session.scalars(
                select(Post.external_id).where(
                    Post.source_id == source_id, Post.external_id.in_(ids[start : start + 500])
                )
            )
        )
    added: list[Post] = []
    for entry in entries:
        if entry.external_id in known:
            report.duplicates += 1
            continue
        known.add(entry.external_id)
        post = Post(
            source_id=source_id,
            external_id=entry.external_id,
            url=entry.url,
            author=entry.author,
            published_at=entry.published_at,
            collected_at=now,
            text=entry.text,
            language=entry.language,
            content_hash=content_hash(entry.text),
        )
        post.mentions = [
            Mention(official_id=m.official_id, matched_on=m.matched_on) for m in matcher.match(entry.text)
        ]
        session.add(post)
        added.append(post)
        report.mentions += len(post.mentions)
    session.flush()
    report.new_post_ids = [post.id for post in added]
    return report
