"""Intake: classify every post the live model has not seen yet and queue the flagged ones; explain
the flagged ones afterwards.

Selecting "posts without a classification by this model version" (rather than "posts of this run")
makes the step idempotent: a crash after storing posts is repaired by the next run.

Explanations (occlusion: one model pass per word and phrase of the message) cost far more than the
label: with them, a flagged post costs the transformer ~50 passes instead of one. The flows therefore
classify with ``explain=False`` (the queue and alerts get the item at once) and ``explain_pending``
fills the explanations in a separate step; until then ``Classification.explanation`` is ``None``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session, sessionmaker

from threatwatch import events
from threatwatch.classify.base import ClassificationResult, Classifier, Span
from threatwatch.config import Settings
from threatwatch.db.models import Classification, Post, RedactedPost, ReviewItem
from threatwatch.db.types import utcnow
from threatwatch.domain import Label, ReviewStatus
from threatwatch.ops.metrics import observe_classification
from threatwatch.persons.profile import (
    authors_of_posts,
    concern_changed,
    officials_of_persons,
    refresh_and_publish,
)
from threatwatch.review.priority import priority, refresh_priorities, repeat_concern

logger = logging.getLogger(__name__)


@dataclass
class IntakeReport:
    classified: int = 0
    flagged: int = 0
    queued: int = 0

    def __iadd__(self, other: IntakeReport) -> IntakeReport:
        self.classified += other.classified
        self.flagged += other.flagged
        self.queued += other.queued
        return self


def stored_spans(spans: Sequence[Span]) -> list[dict[str, Any]]:
    """An explanation as ``Classification.explanation`` stores it (start, end, text, weight)."""
    return [span.__dict__ for span in spans]


def _priority(result: ClassificationResult, *, person: tuple[int, float, int] | None) -> float:
    """Severity times confidence, raised when the author is a person of concern with earlier flagged
    posts; the surge bonus follows from ``refresh_priorities`` after the batch."""
    _id, concern, flagged = person or (0, 0.0, 0)
    concern = repeat_concern(concern, other_flagged_posts=flagged)
    return priority(result.label.value, result.scores, others_in_surge=0, person_concern=concern)


def _not_classified_meanwhile(session: Session, posts: Sequence[Post], *, version: str) -> list[Post]:
    """``posts`` less those another run classified and committed while our SELECT ran.

    On PostgreSQL the SELECT judges "not classified" by the snapshot its statement started with; a run
    that commits afterwards releases its locks without changing the post rows, so PostgreSQL does not
    re-check the condition and the rows can be locked again here. Seen with two workers on a 50,000
    post backlog: the second insert failed on the unique (post, model version) and the run with it.
    Asking again now, with the rows locked and a fresh snapshot (READ COMMITTED), is race-free.
    """
    if session.get_bind().dialect.name != "postgresql":
        return list(posts)  # one writer at a time: nothing can have committed in between
    done = set(
        session.scalars(
            select(Classification.post_id).where(
                Classification.post_id.in_([p.id for p in posts]), Classification.model_version == version
            )
        )
    )
    if done:
        logger.info("intake: %d locked posts were classified meanwhile by another run", len(done))
    return [p for p in posts if p.id not in done]


def unclassified_by(version: str, languages: Collection[str]) -> tuple[ColumnElement[bool], ...]:
    """What makes a post wait for ``version``: not classified by it, classifiable (an original in
    ``languages`` or of unknown language), and not erased by retention (nothing left to read). Intake
    and the batch flow that splits a backlog over workers select by the same conditions."""
    from threatwatch.collect.language import classifiable_posts

    return (
        ~exists().where(Classification.post_id == Post.id, Classification.model_version == version),
        classifiable_posts(languages),
        ~exists().where(RedactedPost.post_id == Post.id),
    )


def classify_pending(
    session: Session,
    *,
    classifier: Classifier,
    settings: Settings,
    now: datetime,
    batch_size: int = 256,
    languages: Collection[str] = ("nl",),
    post_ids: Collection[int] | None = None,
    explain: bool = True,
    limit: int | None = None,
) -> IntakeReport:
    """Classify, store and queue in batches; each batch is flushed, the caller commits.

    ``post_ids`` limits the work to those posts, so processes can share a backlog without overlap
    (``threatwatch.flows.classify_batch``). Without ``explain``, flagged classifications are stored with
    ``explanation=None`` for ``explain_pending``. ``limit`` stops after about that many posts (whole
    batches), so a caller can commit a large backlog in parts (``classify_backlog``).

    Only originals in ``languages`` (or of unknown language) are classified: linked duplicates and
    posts in other languages are stored but never queued (``collect.language.classifiable_posts``).
    """
    report = IntakeReport()
    surging: set[int] = set()
    version = classifier.version
    unclassified = (
        select(Post).where(*unclassified_by(version, languages)).order_by(Post.id).limit(batch_size)
    )
    if post_ids is not None:
        unclassified = unclassified.where(Post.id.in_(list(post_ids)))
    # Overlapping runs (workers, schedules of several source kinds) share the backlog on PostgreSQL:
    # each locks the batch it classifies until it commits and skips rows another run holds, instead of
    # both classifying them and one failing on the unique (post, model version). SQLite has one writer.
    unclassified = unclassified.with_for_update(skip_locked=True, of=Post)
    while (limit is None or report.classified < limit) and (locked := session.scalars(unclassified).all()):
        posts = _not_classified_meanwhile(session, locked, version=version)
        if not posts:
            continue
        started = time.perf_counter()
        results = classifier.predict([p.text for p in posts], explain=explain)
        observe_classification(time.perf_counter() - started, len(posts))
        authors = authors_of_posts(session, [p.id for p in posts])
        for post, result in zip(posts, results, strict=True):
            classification = Classification(
                post_id=post.id,
                model_version=version,
                label=result.label.value,
                flagged=result.flagged,
                scores=result.scores,
                explanation=(stored_spans(result.explanation) if explain or not result.flagged else None),
            )
            session.add(classification)
            report.classified += 1
            if not result.flagged:
                continue
            report.flagged += 1
            session.flush()
            already = session.scalar(select(ReviewItem.id).where(ReviewItem.post_id == post.id))
            if already is None:
                item = ReviewItem(
                    post_id=post.id,
                    classification_id=classification.id,
                    status=ReviewStatus.OPEN.value,
                    label=result.label.value,
                    priority=_priority(result, person=authors.get(post.id)),
                    created_at=now,
                    updated_at=now,
                )
                session.add(item)
                session.flush()
                official_ids = tuple(sorted({m.official_id for m in post.mentions}))
                surging.update(official_ids)
                # Outbox: whatever the event causes (alerts) commits or rolls back with the item.
                events.publish(
                    session,
                    events.PostFlagged(
                        review_item_id=item.id,
                        post_id=post.id,
                        official_ids=official_ids,
                        label=result.label.value,
                        score=float(result.scores[result.label.value]),
                        at=now,
                        person_id=authors[post.id][0] if post.id in authors else None,
                    ),
                    settings=settings,
                )
                report.queued += 1
        session.flush()
        # The authors' persons see their new posts: signals, the list's order, alerts on new signals.
        before = {person_id: concern for person_id, concern, _f in authors.values()}
        refresh_and_publish(session, person_ids=before, now=now, settings=settings)
        # Only a person whose concern moved changes the priority of their items about other officials.
        surging.update(officials_of_persons(session, concern_changed(session, before)))
    # A surge raises the items already queued about the same officials, not only the new ones.
    refresh_priorities(session, now=now, official_ids=surging)
    logger.info("intake: %s", report)
    return report


def classify_backlog(
    sessions: sessionmaker[Session],
    *,
    classifier: Classifier,
    settings: Settings,
    batch_size: int = 256,
    languages: Collection[str] = ("nl",),
    explain: bool = False,
) -> IntakeReport:
    """``classify_pending`` one batch per transaction until nothing is left: a backlog of thousands is
    queued (and alerted on) batch by batch instead of at the end, a crash loses one batch, and on
    PostgreSQL concurrent runs share the backlog (each skips the batch another holds)."""
    total = IntakeReport()
    while True:
        with sessions() as session, session.begin():
            report = classify_pending(
                session,
                classifier=classifier,
                settings=settings,
                now=utcnow(),
                batch_size=batch_size,
                languages=languages,
                explain=explain,
                limit=batch_size,
            )
        total += report
        if report.classified == 0:
            return total


def explain_pending(
    session: Session, *, classifier: Classifier, batch_size: int = 32, limit: int | None = None
) -> int:
    """Explain flagged classifications of ``classifier``'s version that have no explanation yet, oldest
    first, at most ``limit``; returns how many. Each batch is flushed; the caller commits.

    Another model version's classifications are left alone: its explanation would not be theirs. On
    PostgreSQL concurrent runs skip the rows another run is explaining.
    """
    done = 0
    pending = (
        select(Classification)
        .where(
            Classification.model_version == classifier.version,
            Classification.flagged.is_(True),
            Classification.explanation.is_(None),
        )
        .order_by(Classification.id)
        .with_for_update(skip_locked=True, of=Classification)
    )
    while limit is None or done < limit:
        size = batch_size if limit is None else min(batch_size, limit - done)
        rows = session.scalars(pending.limit(size)).all()
        if not rows:
            break
        posts = session.scalars(select(Post).where(Post.id.in_([r.post_id for r in rows])))
        texts = {post.id: post.text for post in posts}
        # The stored label is explained, not a fresh prediction: a batch of other texts could tip a
        # borderline score, and the analyst sees the stored label.
        spans = classifier.explain([texts[r.post_id] for r in rows], [Label(r.label) for r in rows])
        for row, found in zip(rows, spans, strict=True):
            row.explanation = stored_spans(found)
        session.flush()
        done += len(rows)
    if done:
        logger.info("explained %d flagged classifications (model %s)", done, classifier.version)
    return done
