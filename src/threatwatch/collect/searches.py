"""Per-official search sources, generated from the watchlist so importing an official starts
monitoring them without hand-made URLs.

For each official: a Google News search and a Reddit search for their name variants, a Mastodon tag
timeline for their name as a hashtag, and their own accounts (Bluesky handles through the public
AppView, Mastodon ``user@instance`` handles through the account RSS). Bare ``@handles`` name no
platform, so they are only matched in text. Re-importing is idempotent; a search that is no longer
wanted (alias dropped, official removed) is paused with the reason, keeping what it collected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.collect.sources import add_source, pause_source
from threatwatch.config import Settings
from threatwatch.db.models import Official, Source
from threatwatch.domain import SourceKind, SourceStatus
from threatwatch.watchlist.names import fold, tokens

NO_LONGER_WANTED = "search no longer generated for this official"


@dataclass(frozen=True)
class SearchSpec:
    kind: SourceKind
    url: str
    name: str


def _query(official: Official) -> str:
    variants = [official.name, *official.aliases]
    unique = list(dict.fromkeys(" ".join(v.split()) for v in variants if v.strip()))
    return " OR ".join(f'"{v}"' for v in unique)


def _hashtag(name: str) -> str:
    return "".join(tokens(name)).replace("'", "")


def search_specs(official: Official, *, settings: Settings) -> list[SearchSpec]:
    """The search sources one official should have, in a stable order."""
    query = _query(official)
    label = official.name
    specs = [
        SearchSpec(
            SourceKind.GOOGLE_NEWS,
            f"{settings.google_news_url.rstrip('/')}/rss/search?q={quote_plus(query)}&hl=nl&gl=NL&ceid=NL:nl",
            f"Google News: {label}",
        ),
        SearchSpec(
            SourceKind.REDDIT,
            f"{settings.reddit_url.rstrip('/')}/search.rss?q={quote_plus(query)}&sort=new",
            f"Reddit: {label}",
        ),
    ]
    tag = _hashtag(official.name)
    if tag:
        specs.append(
            SearchSpec(
                SourceKind.MASTODON,
                f"{settings.mastodon_url.rstrip('/')}/api/v1/timelines/tag/{quote(tag)}",
                f"Mastodon #{tag}",
            )
        )
    for raw in official.handles:
        handle = fold(str(raw)).strip().lstrip("@")
        if "@" in handle:
            user, instance = handle.split("@", 1)
            if user and "." in instance:
                specs.append(
                    SearchSpec(
                        SourceKind.MASTODON, f"https://{instance}/@{quote(user)}.rss", f"Mastodon @{handle}"
                    )
                )
        elif "." in handle:
            specs.append(
                SearchSpec(
                    SourceKind.BLUESKY,
                    f"{settings.bluesky_api_url.rstrip('/')}/xrpc/app.bsky.feed.getAuthorFeed"
                    f"?actor={quote(handle)}&filter=posts_with_replies",
                    f"Bluesky @{handle}",
                )
            )
    return specs


@dataclass(frozen=True)
class SyncReport:
    created: int = 0
    kept: int = 0
    paused: int = 0


def sync_searches(session: Session, *, officials: Iterable[Official], settings: Settings) -> SyncReport:
    """Make each official's generated sources match ``search_specs`` (in the caller's transaction):
    called after a watchlist import, so importing an official starts monitoring them."""
    session.flush()
    total = SyncReport()
    for official in officials:
        one = _sync_official(session, official=official, settings=settings)
        total = SyncReport(
            created=total.created + one.created, kept=total.kept + one.kept, paused=total.paused + one.paused
        )
    return total


def _sync_official(session: Session, *, official: Official, settings: Settings) -> SyncReport:
    wanted = {spec.url: spec for spec in search_specs(official, settings=settings)}
    created = kept = paused = 0
    for spec in wanted.values():
        source = session.scalar(select(Source).where(Source.url == spec.url))
        if source is None:
            add_source(
                session,
                url=spec.url,
                name=spec.name[:200],
                kind=spec.kind,
                poll_interval_s=settings.schedule_intervals_s.get(
                    spec.kind.value, settings.default_poll_interval_s
                ),
                official_id=official.id,
            )
            created += 1
            continue
        kept += 1
        if source.official_id is None and source.paused_reason == NO_LONGER_WANTED:
            source.official_id = official.id
        if source.status == SourceStatus.PAUSED.value and source.paused_reason == NO_LONGER_WANTED:
            source.status, source.paused_reason = SourceStatus.ACTIVE, None
    for source in session.scalars(select(Source).where(Source.official_id == official.id)):
        if source.url not in wanted and source.status != SourceStatus.PAUSED.value:
            pause_source(source=source, reason=NO_LONGER_WANTED)
            paused += 1
    session.flush()
    return SyncReport(created=created, kept=kept, paused=paused)


def remove_official(session: Session, *, official: Official) -> int:
    """Remove an official; their generated sources are paused (not deleted: posts are evidence)."""
    sources = list(session.scalars(select(Source).where(Source.official_id == official.id)))
    for source in sources:
        pause_source(source=source, reason=NO_LONGER_WANTED)
        source.official_id = None
    session.delete(official)
    session.flush()
    return len(sources)
