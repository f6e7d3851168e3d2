"""Posts by accounts as collection stores them (so authors and persons are made the real way), with
the labels a model (or an analyst) gave them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.collect.parse import FeedEntry
from threatwatch.collect.run import load_matcher
from threatwatch.collect.sources import add_source
from threatwatch.collect.store import store_entries
from threatwatch.db.models import Author, Classification, Official, Post, Source
from threatwatch.domain import FLAGGED_LABELS, Label

FEED = "https://social.example/api/v1/timelines/tag/zuiderhaven"


def officials(session: Session) -> dict[str, int]:
    """Two fictional officials of one municipality and one of a water board."""
    session.add_all(
        [
            Official(name="Marieke van der Linden", role="Burgemeester", organisation="Gemeente Zuiderhaven"),
            Official(name="Youssef El Amrani", role="Wethouder", organisation="Gemeente Zuiderhaven"),
            Official(name="Sanne Verbruggen", role="Dijkgraaf", organisation="Waterschap De Lage Landen"),
        ]
    )
    session.flush()
    return {o.name: o.id for o in session.scalars(select(Official))}


def source(session: Session, url: str = FEED) -> Source:
    found = session.scalar(select(Source).where(Source.url == url))
    if found is None:
        found = add_source(session, url=url, poll_interval_s=60)
        session.flush()
    return found


def post(
    session: Session,
    *,
    author: str,
    text: str,
    at: datetime,
    label: Label | None = Label.NONE,
    url: str = FEED,
    name: str | None = None,
) -> Post:
    """Store one entry by ``author`` through collection and classify it as ``label`` (None: leave it
    to intake)."""
    feed = source(session, url)
    external_id = f"{author}-{at.isoformat()}-{abs(hash(text))}"
    entry = FeedEntry(
        external_id=external_id, url=None, author=author, published_at=at, text=text, language="nl",
        author_name=name,
    )  # fmt: skip
    store_entries(session, source_id=feed.id, entries=[entry], matcher=load_matcher(session), now=at)
    stored = session.scalars(select(Post).where(Post.external_id == external_id)).one()
    if label is None:
        return stored
    scores = {lab.value: (0.9 if lab == label else 0.025) for lab in Label}
    session.add(
        Classification(
            post_id=stored.id,
            model_version="test",
            label=label.value,
            flagged=label in FLAGGED_LABELS,
            scores=scores,
            explanation=[],
        )
    )
    session.flush()
    return stored


def person_of(session: Session, handle: str) -> int:
    return session.scalars(select(Author.person_id).where(Author.handle == handle)).one()
