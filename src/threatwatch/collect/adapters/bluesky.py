"""Bluesky's unauthenticated AppView: ``app.bsky.feed.getAuthorFeed`` (JSON) with cursor paging.

An official's own feed matters for what others write to them: the posts they reply to come with the
feed item (``reply.parent``/``reply.root``) and are collected as entries too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from threatwatch.collect.adapters.base import JSON_ACCEPT, Page, with_query
from threatwatch.collect.adapters.mastodon import as_object, load_json
from threatwatch.collect.parse import MAX_TEXT_CHARS, FeedEntry, FeedError, read_entries

PAGE_LIMIT = 50


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def post_entry(post: Any) -> FeedEntry | None:
    """A ``PostView`` as an entry, keyed by its at:// URI (a repost carries the same URI)."""
    post = as_object(post)
    if str(post.get("$type", "")).endswith(("#notFoundPost", "#blockedPost")):
        return None
    record = as_object(post.get("record"))
    text = str(record.get("text") or "").strip()
    uri = post.get("uri")
    if not text or not isinstance(uri, str):
        return None
    author = as_object(post.get("author"))
    handle = author.get("handle")
    rkey = uri.rsplit("/", 1)[-1]
    langs = record.get("langs")
    return FeedEntry(
        external_id=uri[:1000],
        url=f"https://bsky.app/profile/{handle}/post/{rkey}" if handle else None,
        author=f"@{handle}"[:300] if handle else None,
        published_at=_timestamp(record.get("createdAt")) or _timestamp(post.get("indexedAt")),
        text=text[:MAX_TEXT_CHARS],
        language=str(langs[0])[:20] if isinstance(langs, list) and langs else None,
        author_name=str(author["displayName"])[:300] if author.get("displayName") else None,
    )


class BlueskyApiAdapter:
    """Newest first; the response's ``cursor`` points at older posts (followed by backfill only)."""

    accept = JSON_ACCEPT

    def poll_url(self, url: str, *, cursor: str | None) -> str:
        return with_query(url, limit=PAGE_LIMIT, cursor=None)

    def parse(self, body: bytes, *, content_type: str | None, url: str) -> Page:
        data = load_json(body, "Bluesky API")
        if not isinstance(data, dict) or not isinstance(data.get("feed"), list):
            raise FeedError("not a Bluesky author feed: expected a JSON object with a 'feed' list")
        posts = []
        for item in data["feed"]:
            if isinstance(item, dict):
                reply = as_object(item.get("reply"))
                posts += [reply.get("root"), reply.get("parent"), item.get("post")]
        entries, skipped = read_entries(posts, post_entry)
        cursor = data.get("cursor")
        older = (
            with_query(url, cursor=cursor) if isinstance(cursor, str) and cursor and data["feed"] else None
        )
        return Page(entries=entries, older_url=older, skipped=skipped)
