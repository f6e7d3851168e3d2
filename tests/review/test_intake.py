"""Intake with the shipped model: each newly queued item raises PostFlagged, and surges lift the queue."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch import events
from threatwatch.config import Settings
from threatwatch.db.models import Mention, Post, ReviewItem
from threatwatch.registry import load_classifier
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
    report = classify_pending(session, settings=settings, classifier=classifier, now=NOW)
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
    assert classify_pending(session, settings=settings, classifier=classifier, now=NOW).queued == 0
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
    report = classify_pending(session, settings=settings, classifier=classifier, now=NOW)
    assert report.classified == 1
    assert session.scalars(select(Classification.post_id)).all() == [kept.id]


def test_intake_without_explanations_leaves_them_to_explain_pending(
    session: Session, settings: Settings
) -> None:
    """The flows' path: labels and queue first (explanation None), the decisive words afterwards, for
    the live model's classifications only, in batches, and of the stored label."""
    from threatwatch.db.models import Classification
    from threatwatch.review.intake import explain_pending

    source = make_source(session)
    posts = [
        Post(source_id=source.id, external_id=str(n), text=text, collected_at=NOW, content_hash=f"{n:064d}")
        for n, text in enumerate([*THREATS, CALM])
    ]
    session.add_all(posts)
    session.flush()
    classifier = load_classifier(settings.model_dir, cache_dir=settings.cache_dir)
    report = classify_pending(session, settings=settings, classifier=classifier, now=NOW, explain=False)
    assert report.queued == len(THREATS)
    by_post = {c.post_id: c for c in session.scalars(select(Classification))}
    assert [by_post[p.id].explanation for p in posts] == [None, None, None, []]  # the calm one: nothing to do
    assert session.scalar(select(ReviewItem.id).where(ReviewItem.post_id == posts[0].id)) is not None

    # An older model's pending classification is not this model's to explain.
    stale = Classification(
        post_id=posts[0].id,
        model_version="older-model",
        label="threat",
        flagged=True,
        scores={},
        explanation=None,
    )
    session.add(stale)
    session.flush()

    assert explain_pending(session, classifier=classifier, limit=1) == 1
    assert sum(by_post[p.id].explanation is None for p in posts[:3]) == 2
    assert explain_pending(session, classifier=classifier, batch_size=1) == 2
    assert explain_pending(session, classifier=classifier) == 0
    for post in posts[:3]:
        spans = by_post[post.id].explanation
        assert spans, "a flagged post always gets its decisive words"
        assert all(post.text[s["start"] : s["end"]] == s["text"] for s in spans)
    session.refresh(stale)
    assert stale.explanation is None


def test_explain_pending_explains_the_stored_label(session: Session, settings: Settings) -> None:
    """Not a fresh prediction: the label the analyst sees is the one whose reasons are shown."""
    from threatwatch.db.models import Classification
    from threatwatch.domain import Label
    from threatwatch.review.intake import explain_pending

    post = Post(
        source_id=make_source(session).id,
        external_id="x",
        text=THREATS[0],
        collected_at=NOW,
        content_hash="x" * 64,
    )
    session.add(post)
    session.flush()
    classifier = load_classifier(settings.model_dir, cache_dir=settings.cache_dir)
    predicted = classifier.predict([post.text], explain=False)[0].label
    other = next(label for label in (Label.DOXXING, Label.COERCION) if label != predicted)
    stored = Classification(
        post_id=post.id,
        model_version=classifier.version,
        label=other.value,
        flagged=True,
        scores={},
        explanation=None,
    )
    session.add(stored)
    session.flush()
    assert explain_pending(session, classifier=classifier) == 1
    expected = classifier.explain([post.text], [other])[0]
    assert stored.explanation == [span.__dict__ for span in expected]
    assert expected != classifier.explain([post.text], [predicted])[0]


def test_backlog_is_queued_batch_by_batch_in_committed_transactions(
    session: Session, settings: Settings, database_url: str
) -> None:
    """A crash after the first batch keeps it: each batch commits on its own."""
    from sqlalchemy import event, func

    from threatwatch.db.engine import engine_for, session_factory
    from threatwatch.db.models import Classification
    from threatwatch.review.intake import classify_backlog

    source = make_source(session)
    texts = [*THREATS, CALM, "Mooi weer vandaag in de gemeente.", "Goed gedaan, wethouder!"]
    for n, text in enumerate(texts):
        session.add(
            Post(
                source_id=source.id, external_id=str(n), text=text, collected_at=NOW, content_hash=f"{n:064d}"
            )
        )
    session.commit()
    classifier = load_classifier(settings.model_dir, cache_dir=settings.cache_dir)

    assert (
        classify_pending(
            session, settings=settings, classifier=classifier, now=NOW, batch_size=2, limit=2
        ).classified
        == 2
    )
    session.rollback()

    sessions = session_factory(engine_for(database_url))
    commits: list[int] = []
    event.listen(sessions, "after_commit", lambda s: commits.append(1))
    calls = 0

    class Flaky:
        """The live model, crashing on its third batch."""

        version = classifier.version

        def predict(self, batch: list[str], *, explain: bool = True) -> Any:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise RuntimeError("worker died")
            return classifier.predict(batch, explain=explain)

    with pytest.raises(RuntimeError):
        classify_backlog(sessions, settings=settings, classifier=Flaky(), batch_size=2)  # type: ignore[arg-type]
    assert session.scalar(select(func.count()).select_from(Classification)) == 4  # two batches kept
    assert len(commits) == 2
    commits.clear()
    report = classify_backlog(sessions, settings=settings, classifier=classifier, batch_size=2)
    assert report.classified == 2 and len(commits) == 2  # the last batch, then the check that none is left
    assert session.scalar(select(func.count()).select_from(ReviewItem)) == len(THREATS)
