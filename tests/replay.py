"""Replay labelled messages through the review queue as analysts' decisions.

For benchmarks, demos and tests of retraining: each message becomes a post, a classification, a review
item and one live decision by the named analyst, exactly the rows the review service writes, so the
label store reads them like real decisions. The stored classification is a placeholder (uniform scores,
``model_version`` given) unless real scores are passed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.db.models import Classification, Decision, Post, ReviewItem, Source, User
from threatwatch.domain import FLAGGED_LABELS, LABELS, ReviewStatus, Role, SourceKind

REPLAY_SOURCE_URL = "file:///replayed-labels"


def _source(session: Session) -> Source:
    source = session.scalar(select(Source).where(Source.url == REPLAY_SOURCE_URL))
    if source is None:
        source = Source(
            kind=SourceKind.FEED.value, url=REPLAY_SOURCE_URL, name="replayed labels", poll_interval_s=86400
        )
        session.add(source)
        session.flush()
    return source


def analyst(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, display_name=username, role=Role.ANALYST.value)
        session.add(user)
        session.flush()
    return user


def replay_decisions(
    session: Session,
    rows: Sequence[tuple[str, str]],
    *,
    analyst_name: str,
    start: datetime,
    step: timedelta = timedelta(minutes=1),
    model_version: str = "replay",
    reason: str = "flagged",
    scores: Sequence[dict[str, float]] | None = None,
) -> list[int]:
    """(text, label) rows become decided review items, decided ``step`` apart from ``start``; returns
    the post ids. The caller commits."""
    source = _source(session)
    user = analyst(session, analyst_name)
    uniform = {label.value: 1 / len(LABELS) for label in LABELS}
    post_ids: list[int] = []
    for index, (text, label) in enumerate(rows):
        digest = hashlib.sha256(text.encode()).hexdigest()
        when = start + step * index
        post = Post(
            source_id=source.id,
            external_id=f"replay-{digest[:16]}-{index}-{when.timestamp():.0f}",
            text=text,
            content_hash=digest,
            collected_at=when,
        )
        session.add(post)
        session.flush()
        row_scores = scores[index] if scores is not None else uniform
        top = max(row_scores, key=lambda name: row_scores[name])
        classification = Classification(
            post_id=post.id,
            model_version=model_version,
            label=top,
            flagged=top in {f.value for f in FLAGGED_LABELS},
            scores=row_scores,
            explanation=[],
            created_at=when,
        )
        session.add(classification)
        session.flush()
        item = ReviewItem(
            post_id=post.id,
            classification_id=classification.id,
            status=ReviewStatus.DECIDED.value,
            priority=0.5,
            reason=reason,
            created_at=when,
            updated_at=when,
        )
        session.add(item)
        session.flush()
        session.add(
            Decision(
                review_item_id=item.id,
                user_id=user.id,
                label=label,
                model_label=top,
                corrected=label != top,
                created_at=when,
            )
        )
        post_ids.append(post.id)
    session.flush()
    return post_ids
