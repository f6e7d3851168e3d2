"""Rows for operations tests, written straight through the ORM so each timestamp is under test control."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from threatwatch.db.models import Classification, Decision, Mention, Official, Post, ReviewItem, Source


def source(session: Session, name: str = "feed") -> Source:
    row = Source(kind="feed", url=f"https://example.org/{name}.xml", name=name, poll_interval_s=600)
    session.add(row)
    session.flush()
    return row


def official(session: Session, name: str = "Anna de Vries") -> Official:
    row = Official(name=name, role="burgemeester", organisation="Gemeente Noordwaarde")
    session.add(row)
    session.flush()
    return row


def post(
    session: Session,
    *,
    source_id: int,
    external_id: str,
    collected_at: datetime,
    text: str = "een bericht",
    author: str | None = "iemand",
    official_ids: tuple[int, ...] = (),
    label: str | None = "none",
    status: str | None = None,
    decided_at: datetime | None = None,
    note: str | None = None,
    language: str | None = "nl",
    duplicate_of_id: int | None = None,
) -> Post:
    """A post, optionally classified (``label``) and queued (``status``, last changed at ``decided_at``)."""
    row = Post(
        source_id=source_id,
        external_id=external_id,
        url=f"https://example.org/p/{external_id}",
        author=author,
        published_at=collected_at,
        collected_at=collected_at,
        text=text,
        language=language,
        content_hash=external_id.rjust(64, "0"),
        duplicate_of_id=duplicate_of_id,
    )
    row.mentions = [Mention(official_id=o, matched_on="naam") for o in official_ids]
    session.add(row)
    session.flush()
    if label is None:
        return row
    flagged = status is not None
    classification = Classification(
        post_id=row.id,
        model_version="test-model",
        label=label,
        flagged=flagged,
        scores={label: 0.9},
        explanation=[{"text": text.split()[0], "weight": 0.5}],
        created_at=collected_at,
    )
    session.add(classification)
    session.flush()
    if status is not None:
        item = ReviewItem(
            post_id=row.id,
            classification_id=classification.id,
            status=status,
            priority=1.0,
            created_at=collected_at,
            updated_at=decided_at or collected_at,
        )
        session.add(item)
        session.flush()
        if note is not None:
            session.add(Decision(review_item_id=item.id, label=label, note=note, created_at=item.updated_at))
            session.flush()
    return row
