"""The label store: every analyst decision and imported label, one record per person per message.

Analysts' decisions are keyed by post (``post-<id>``), imported labels by the file's id; records on the
same message (same key, or the same folded text) form one *item*. An item whose labellers disagree is
kept out of training and listed for adjudication.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from threatwatch.db.models import Decision, ExternalLabel, Post, RedactedPost, ReviewItem, User
from threatwatch.watchlist.names import fold

ANALYST = "analyst"
IMPORTED = "import"
UNCERTAIN = "uncertain"  # ReviewItem.reason of items queued by active learning
POST_KEY_PREFIX = "post-"


@dataclass(frozen=True)
class LabelRecord:
    """One label by one person on one message."""

    key: str
    text: str
    label: str
    labeller: str
    labelled_at: datetime
    origin: str  # ANALYST or IMPORTED
    reason: str  # the review item's reason ("flagged", "uncertain"), or IMPORTED
    note: str | None = None


@dataclass(frozen=True)
class LabelledItem:
    """All records on one message; ``label`` is set only when every labeller agrees."""

    key: str
    text: str
    records: tuple[LabelRecord, ...]

    @property
    def labels(self) -> set[str]:
        return {r.label for r in self.records}

    @property
    def label(self) -> str | None:
        return next(iter(self.labels)) if len(self.labels) == 1 else None

    @property
    def labelled_at(self) -> datetime:
        return max(r.labelled_at for r in self.records)

    @property
    def uncertain(self) -> bool:
        """Queued by active learning: chosen by the model's doubt, so never part of an evaluation."""
        return any(r.reason == UNCERTAIN for r in self.records)


def text_key(text: str) -> str:
    """What counts as "the same text": folded case and accents, collapsed whitespace."""
    return " ".join(fold(text).split())


def analyst_records(session: Session) -> list[LabelRecord]:
    """Live decisions (undone ones skipped) on review items, with the post's text and who decided.

    Posts erased by retention are skipped: their text is gone, and equal empty texts would also join
    every erased post into one item."""
    rows = session.execute(
        select(Decision, ReviewItem.post_id, ReviewItem.reason, Post.text, User.username)
        .join(ReviewItem, ReviewItem.id == Decision.review_item_id)
        .join(Post, Post.id == ReviewItem.post_id)
        .outerjoin(User, User.id == Decision.user_id)
        .where(
            Decision.undone_at.is_(None),
            ~exists().where(RedactedPost.post_id == ReviewItem.post_id),  # erased by retention
        )
        .order_by(Decision.id)
    ).all()
    return [
        LabelRecord(
            key=f"{POST_KEY_PREFIX}{post_id}",
            text=text,
            label=decision.label,
            labeller=username or f"user-{decision.user_id}",
            labelled_at=decision.created_at,
            origin=ANALYST,
            reason=reason,
            note=decision.note,
        )
        for decision, post_id, reason, text, username in rows
    ]


def imported_records(session: Session) -> list[LabelRecord]:
    return [
        LabelRecord(
            key=row.external_id,
            text=row.text,
            label=row.label,
            labeller=row.labeller or f"import:{row.import_name}",
            labelled_at=row.labelled_at,
            origin=IMPORTED,
            reason=IMPORTED,
            note=row.note,
        )
        for row in session.scalars(select(ExternalLabel).order_by(ExternalLabel.id))
    ]


def all_records(session: Session) -> list[LabelRecord]:
    return analyst_records(session) + imported_records(session)


def group_items(records: list[LabelRecord]) -> list[LabelledItem]:
    """Join records on the same key or the same folded text (union-find), oldest item first."""
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        while parent.setdefault(i, i) != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_by: dict[str, int] = {}
    for i, record in enumerate(records):
        for handle in (f"k:{record.key}", f"t:{text_key(record.text)}"):
            if handle in first_by:
                parent[find(i)] = find(first_by[handle])
            else:
                first_by[handle] = i
                find(i)
    members: dict[int, list[LabelRecord]] = defaultdict(list)
    for i, record in enumerate(records):
        members[find(i)].append(record)
    items = [
        LabelledItem(key=group[0].key, text=group[0].text, records=tuple(group)) for group in members.values()
    ]
    return sorted(items, key=lambda item: (item.labelled_at, item.key))
