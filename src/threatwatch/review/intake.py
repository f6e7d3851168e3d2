"""Intake: classify every post the live model has not seen yet and queue the flagged ones.

Selecting "posts without a classification by this model version" (rather than "posts of this run")
makes the step idempotent: a crash after storing posts is repaired by the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from threatwatch.classify.base import ClassificationResult, Classifier
from threatwatch.db.models import Classification, Mention, Post, ReviewItem
from threatwatch.domain import SEVERITY, ReviewStatus

logger = logging.getLogger(__name__)

SURGE_WINDOW = timedelta(hours=6)
SURGE_STEP = 0.05  # each other recent flagged post about the same official adds this much ...
SURGE_CAP = 0.5  # ... up to this much


@dataclass
class IntakeReport:
    classified: int = 0
    flagged: int = 0
    queued: int = 0


def _priority(session: Session, *, post: Post, result: ClassificationResult, now: datetime) -> float:
    """Severity times confidence, raised when many flagged posts target the same official right now."""
    base = SEVERITY[result.label] * result.scores[result.label.value]
    official_ids = [m.official_id for m in post.mentions]
    if not official_ids:
        return round(base, 4)
    recent = session.scalar(
        select(func.count(func.distinct(ReviewItem.id)))
        .join(Mention, Mention.post_id == ReviewItem.post_id)
        .where(Mention.official_id.in_(official_ids), ReviewItem.created_at >= now - SURGE_WINDOW)
    )
    return round(base + min(SURGE_CAP, SURGE_STEP * (recent or 0)), 4)


def classify_pending(
    session: Session, *, classifier: Classifier, now: datetime, batch_size: int = 256
) -> IntakeReport:
    """Classify, store and queue in batches; each batch is flushed, the caller commits."""
    report = IntakeReport()
    version = classifier.version
    unclassified = (
        select(Post)
        .where(~exists().where(Classification.post_id == Post.id, Classification.model_version == version))
        .order_by(Post.id)
        .limit(batch_size)
    )
    while posts := session.scalars(unclassified).all():
        results = classifier.predict([p.text for p in posts])
        for post, result in zip(posts, results, strict=True):
            classification = Classification(
                post_id=post.id,
                model_version=version,
                label=result.label.value,
                flagged=result.flagged,
                scores=result.scores,
                explanation=[span.__dict__ for span in result.explanation],
            )
            session.add(classification)
            report.classified += 1
            if not result.flagged:
                continue
            report.flagged += 1
            session.flush()
            already = session.scalar(select(ReviewItem.id).where(ReviewItem.post_id == post.id))
            if already is None:
                session.add(
                    ReviewItem(
                        post_id=post.id,
                        classification_id=classification.id,
                        status=ReviewStatus.OPEN.value,
                        priority=_priority(session, post=post, result=result, now=now),
                        created_at=now,
                        updated_at=now,
                    )
                )
                report.queued += 1
        session.flush()
    logger.info("intake: %s", report)
    return report
