"""Storing a batch of entries (one statement per table per batch, ``unnest`` arrays on PostgreSQL) keeps
every rule: ids line up with their rows, copies are linked, re-deliveries are not stored, mentions land on
the right post, and a value too long for its column fails as a row-by-row insert would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from threatwatch.collect.parse import FeedEntry
from threatwatch.collect.run import load_matcher
from threatwatch.collect.sources import add_source
from threatwatch.collect.store import FUTURE_TOLERANCE, content_hash, store_entries
from threatwatch.db.models import Mention, Official, Post

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DUTCH = "Wethouder El Amrani moet eens uitleggen waarom het zwembad dichtgaat, dit kan zo niet."
ENGLISH = "The mayor of Zuiderhaven was handing out coffee at the harbour this morning."
COPIED = "Burgemeester Van der Linden, we weten waar je woont en we komen eraan vanavond."


def _entry(external_id: str, text: str, **fields: object) -> FeedEntry:
    values: dict[str, object] = {"url": None, "author": "iemand", "published_at": None, "language": None}
    values.update(fields)
    return FeedEntry(external_id=external_id, text=text, **values)  # type: ignore[arg-type]


def test_a_batch_stores_links_and_matches_every_entry_in_order(session: Session) -> None:
    session.add_all(
        [
            Official(name="Samira El Amrani", role="wethouder", organisation="Gemeente Zuiderhaven"),
            Official(name="Marieke van der Linden", role="burgemeester", organisation="Gemeente Zuiderhaven"),
        ]
    )
    first = add_source(session, url="https://a.example/feed.xml", poll_interval_s=60)
    second = add_source(session, url="https://b.example/feed.xml", poll_interval_s=60)
    session.flush()
    matcher = load_matcher(session)
    officials = {o.name: o.id for o in session.scalars(select(Official))}

    earlier = store_entries(
        session, source_id=first.id, entries=[_entry("a-1", COPIED, author="bron")], matcher=matcher, now=NOW
    )
    entries = [
        _entry("b-1", DUTCH, url="https://b.example/1", published_at=NOW - timedelta(hours=1)),
        _entry("b-2", ENGLISH, author=None, language="en-GB"),
        _entry("b-3", COPIED + " https://t.example/x", author="een_ander"),  # a copy of the earlier post
        _entry("b-4", "Ok!", language="nl-NL", published_at=NOW + FUTURE_TOLERANCE + timedelta(days=1)),
        _entry("b-5", ENGLISH, author="nog_iemand"),  # the same text twice in this batch
        _entry("b-6", DUTCH),  # the same author and text as b-1 under a new id: a re-delivery
    ]
    report = store_entries(session, source_id=second.id, entries=entries, matcher=matcher, now=NOW)
    session.flush()

    assert report.duplicates == 1 and report.linked == 2 and report.mentions == 2
    posts = {p.external_id: p for p in session.scalars(select(Post).where(Post.source_id == second.id))}
    assert sorted(posts) == ["b-1", "b-2", "b-3", "b-4", "b-5"]
    assert report.new_post_ids == [posts[k].id for k in ("b-1", "b-2", "b-3", "b-4", "b-5")]
    assert {k: p.language for k, p in posts.items()} == {
        "b-1": "nl",
        "b-2": "en",
        "b-3": "nl",
        "b-4": "nl",
        "b-5": "en",
    }
    assert posts["b-3"].duplicate_of_id == earlier.new_post_ids[0]
    assert posts["b-5"].duplicate_of_id == posts["b-2"].id and posts["b-2"].duplicate_of_id is None
    assert posts["b-1"].published_at == NOW - timedelta(hours=1) and posts["b-1"].url == "https://b.example/1"
    assert posts["b-4"].published_at == NOW  # from the future: clamped to the collection time
    assert posts["b-2"].author is None and posts["b-2"].published_at is None
    assert posts["b-3"].content_hash == content_hash(COPIED)
    mentions = {(m.post_id, m.official_id) for m in session.scalars(select(Mention))}
    assert mentions == {
        (earlier.new_post_ids[0], officials["Marieke van der Linden"]),
        (posts["b-1"].id, officials["Samira El Amrani"]),
        (posts["b-3"].id, officials["Marieke van der Linden"]),
    }

    again = store_entries(session, source_id=second.id, entries=entries, matcher=matcher, now=NOW)
    assert again.new_post_ids == [] and again.duplicates == len(entries)


def test_a_value_too_long_for_its_column_fails_instead_of_being_cut(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    source = add_source(session, url="https://a.example/feed.xml", poll_interval_s=60)
    session.flush()
    entries = [_entry("ok", DUTCH), _entry("too-long", ENGLISH, author="x" * 301)]
    with pytest.raises(DBAPIError, match="too long"):
        store_entries(session, source_id=source.id, entries=entries, matcher=load_matcher(session), now=NOW)
