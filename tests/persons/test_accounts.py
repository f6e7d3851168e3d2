"""Collection attributes every post to its account: one author per (platform, handle), each a person of
its own at first, with the display names it used over time; existing posts get theirs on upgrade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from threatwatch.db.engine import create_db_engine
from threatwatch.db.migrate import upgrade_database
from threatwatch.db.models import Author, AuthorName, Person, Post
from threatwatch.domain import AuthorKey, author_key

from ..postgres import throwaway_database
from .seeding import officials, post

NOW = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
RSS = "https://nieuws.example/rss.xml"


def test_author_keys_name_the_account_not_the_spelling() -> None:
    mastodon = "https://social.example/api/v1/timelines/tag/zuiderhaven"
    assert author_key(source_kind="mastodon", source_url=mastodon, author="@Boze_Burger") == AuthorKey(
        "mastodon", "@boze_burger@social.example"
    )
    assert author_key(source_kind="mastodon", source_url=mastodon, author="@boze_burger@Social.Example") == (
        AuthorKey("mastodon", "@boze_burger@social.example")
    )
    assert author_key(source_kind="bluesky", source_url="https://x.example", author="@Piet.bsky.social") == (
        AuthorKey("bluesky", "@piet.bsky.social")
    )
    assert author_key(source_kind="reddit", source_url="https://www.reddit.com/r/x.rss", author="Kees") == (
        AuthorKey("reddit", "u/kees")
    )
    # A byline on a news site is only that site's: the same name elsewhere is another author.
    assert author_key(source_kind="feed", source_url=RSS, author="Jan Jansen") == AuthorKey(
        "nieuws.example", "Jan Jansen"
    )
    assert author_key(source_kind="feed", source_url=RSS, author="   ") is None


def test_storing_posts_makes_one_author_and_person_per_account(session: Session) -> None:
    officials(session)
    first = post(
        session,
        author="@Boze_Burger",
        text="Burgemeester Van der Linden is een sukkel",
        at=NOW,
        name="Boze Burger",
    )
    later = NOW + timedelta(days=1)
    again = post(
        session,
        author="@boze_burger",
        text="Burgemeester Van der Linden moet weg",
        at=later,
        name="Boze Burger 🔥",
    )
    other = post(
        session, author="Jan Jansen", text="Burgemeester Van der Linden opent de haven", at=NOW, url=RSS
    )
    session.flush()

    assert first.author_id == again.author_id != other.author_id
    authors = {a.handle: a for a in session.scalars(select(Author))}
    assert set(authors) == {"@boze_burger@social.example", "Jan Jansen"}
    assert len({a.person_id for a in authors.values()}) == 2
    assert session.scalar(select(Person.id).where(Person.id == authors["Jan Jansen"].person_id)) is not None
    names = session.scalars(
        select(AuthorName).where(AuthorName.author_id == first.author_id).order_by(AuthorName.first_seen_at)
    ).all()
    assert [(n.name, n.first_seen_at, n.last_seen_at) for n in names] == [
        ("Boze Burger", NOW, NOW),
        ("Boze Burger 🔥", NOW + timedelta(days=1), NOW + timedelta(days=1)),
    ]
    assert authors["@boze_burger@social.example"].last_seen_at == NOW + timedelta(days=1)


def test_a_post_without_byline_has_no_author(session: Session) -> None:
    officials(session)
    from threatwatch.collect.parse import FeedEntry
    from threatwatch.collect.run import load_matcher
    from threatwatch.collect.store import store_entries

    from .seeding import source

    feed = source(session, RSS)
    entry = FeedEntry(
        external_id="x",
        url=None,
        author=None,
        published_at=NOW,
        text="Burgemeester Van der Linden",
        language="nl",
    )
    store_entries(session, source_id=feed.id, entries=[entry], matcher=load_matcher(session), now=NOW)
    assert session.scalars(select(Post.author_id)).one() is None
    assert session.scalars(select(Author)).all() == []


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: object) -> object:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/old.db"
    else:
        with throwaway_database() as url:
            yield url


def test_upgrading_attributes_the_posts_collected_before(empty_url: str) -> None:
    upgrade_database(empty_url, "0008")
    engine = create_db_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO sources (id, kind, url, name, poll_interval_s, status, "
                    "consecutive_failures, items_last_run, created_at, posts_total) VALUES (1, 'mastodon', "
                    "'https://social.example/tags/x', 'x', 60, 'active', 0, 0, :now, 0)"
                ),
                {"now": NOW},
            )
            for n, byline in enumerate(["@Boze_Burger", "@boze_burger", "@iemand", None]):
                conn.execute(
                    text(
                        "INSERT INTO posts (id, source_id, external_id, author, collected_at, text, "
                        "content_hash) VALUES (:n, 1, :ext, :author, :now, 'tekst', :hash)"
                    ),
                    {"n": n + 1, "ext": f"e{n}", "author": byline, "now": NOW, "hash": f"{n:064d}"},
                )
    finally:
        engine.dispose()

    upgrade_database(empty_url)

    engine = create_db_engine(empty_url)
    try:
        with engine.connect() as conn:
            posts = conn.execute(text("SELECT id, author_id FROM posts ORDER BY id")).all()
            authors = conn.execute(text("SELECT id, handle, person_id FROM authors ORDER BY id")).all()
    finally:
        engine.dispose()
    handles = {a.id: a.handle for a in authors}
    assert [handles.get(p.author_id) for p in posts] == [
        "@boze_burger@social.example",
        "@boze_burger@social.example",
        "@iemand@social.example",
        None,
    ]
    assert len({a.person_id for a in authors}) == 2
