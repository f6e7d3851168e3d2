"""Active learning: keep a share of the open queue filled with the posts the model is least sure about.

The model's doubt is the margin between its two likeliest labels; most such posts were not flagged, so
without this analysts would never label them and the model would never learn where it is weak. They are
queued with ``reason='uncertain'`` and a middling priority, and retraining keeps them out of the
evaluation window (they were chosen by the model's weakness, so they would bias the comparison).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from threatwatch.db.models import Classification, RedactedPost, ReviewItem
from threatwatch.domain import ReviewStatus
from threatwatch.retrain.labels import UNCERTAIN

logger = logging.getLogger(__name__)

UNCERTAIN_PRIORITY = 0.3  # after threats, coercion and doxxing; level with confident abuse
SCAN_LIMIT = 5000  # the most recent unqueued classifications considered per top-up
ACTIVE = (ReviewStatus.OPEN.value, ReviewStatus.CLAIMED.value)


def margin(scores: dict[str, float]) -> float:
    top = sorted(scores.values(), reverse=True)
    return top[0] - top[1] if len(top) > 1 else 1.0


def fill_uncertain(session: Session, *, share: float, model_version: str, now: datetime) -> int:
    """Queue just enough of the least certain unqueued posts (classified by ``model_version``) that they
    make up ``share`` of the active queue; returns how many were added. The caller commits."""
    if share <= 0:
        return 0
    active = select(func.count(ReviewItem.id)).where(ReviewItem.status.in_(ACTIVE))
    total = int(session.scalar(active) or 0)
    uncertain = int(session.scalar(active.where(ReviewItem.reason == UNCERTAIN)) or 0)
    target = math.ceil(share * (total - uncertain) / (1 - share) - 1e-9)  # 1e-9: float noise
    need = target - uncertain
    if need <= 0:
        return 0
    queued = select(ReviewItem.post_id)
    candidates = session.scalars(
        select(Classification)
        .where(
            Classification.model_version == model_version,
            Classification.post_id.not_in(queued),
            ~exists().where(RedactedPost.post_id == Classification.post_id),  # erased by retention
        )
        .order_by(Classification.id.desc())
        .limit(SCAN_LIMIT)
    ).all()
    chosen = sorted(candidates, key=lambda c: (margin(c.scores), -c.id))[:need]
    for classification in chosen:
        session.add(
            ReviewItem(
                post_id=classification.post_id,
                classification_id=classification.id,
                status=ReviewStatus.OPEN.value,
                priority=UNCERTAIN_PRIORITY,
                reason=UNCERTAIN,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
    logger.info("active learning: queued %d uncertain posts", len(chosen))
    return len(chosen)
