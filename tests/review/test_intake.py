"""Intake with the shipped model: each newly queued item raises PostFlagged, and surges lift the queue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch import events
from threatwatch.classify.registry import load_classifier
from threatwatch.config import Settings
from threatwatch.db.models import Mention, Post, ReviewItem
from threatwatch.review import classify_pending
from threatwatch.review.priority import SURGE_STEP, base_priority

from .conftest import NOW, make_official, make_source

THREATS = [
    "We weten waar je woont, pas maar op als het donker is.",
    "Burgemeester, we komen je thuis opzoeken en dan ben je nog niet jarig.",
    "Jij gaat eraan, we weten waar je kinderen op school zitten.",
]
CALM = "Bedankt voor de mooie opening van het nieuwe buurthuis!"


def test_intake_publishes_post_flagged_and_applies_the_surge(
    session: Session, settings: Settings, published_events: list[Any]
) -> None:
    source = make_source(session)
    mayor = make_official(session, "Anna de Vries")
    for n, text in enumerate([*THREATS, CALM]):
        post = Post(
            source_id=source.id, external_id=str(n), text=text, collected_at=NOW, content_hash=f"{n:064d}"
        )
        post.mentions = [Mention(official_id=mayor.id, matched_on="burgemeester")]
        session.add(post)
    session.flush()

    classifier = load_classifier(settings.model_dir, cache_dir=settings.cache_dir)
    report = classify_pending(session, classifier=classifier, now=NOW)
    items = session.scalars(select(ReviewItem).order_by(ReviewItem.id)).all()
    assert report.queued == len(items) == len(THREATS)

    assert published_events == [
        events.PostFlagged(
            review_item_id=item.id,
            post_id=item.post_id,
            official_ids=(mayor.id,),
            label=item.classification.label,
            score=item.classification.scores[item.classification.label],
            at=NOW,
        )
        for item in items
    ]
    # Every item about the official counts the other flagged posts of this surge, the first one included.
    for item in items:
        session.refresh(item)
        expected = base_priority(item.classification.label, item.classification.scores) + SURGE_STEP * 2
        assert abs(item.priority - expected) < 1e-3
    # Running again queues nothing and publishes nothing.
    assert classify_pending(session, classifier=classifier, now=NOW).queued == 0
    assert len(published_events) == len(THREATS)


def test_intake_skips_posts_erased_by_retention(session: Session, settings: Settings) -> None:
    """A tombstone (text erased by the purge) is never classified again, e.g. after a promotion."""
    from threatwatch.db.models import Classification, RedactedPost

    source = make_source(session)
    kept = Post(
        source_id=source.id, external_id="a", text=THREATS[0], collected_at=NOW, content_hash="a" * 64
    )
    erased = Post(source_id=source.id, external_id="b", text="", collected_at=NOW, content_hash="b" * 64)
    session.add_all([kept, erased])
    session.flush()
    session.add(RedactedPost(post_id=erased.id, reason="retention", redacted_at=NOW))
    session.flush()

    classifier = load_classifier(settings.model_dir, cache_dir=settings.cache_dir)
    report = classify_pending(session, classifier=classifier, now=NOW)
    assert report.classified == 1
    assert session.scalars(select(Classification.post_id)).all() == [kept.id]
