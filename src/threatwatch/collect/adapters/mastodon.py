"""Mastodon's public REST tag timeline (JSON), paged with ``since_id`` forward and ``max_id`` back."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from threatwatch.collect.adapters.base import JSON_ACCEPT, Page, query_param, with_query
from threatwatch.collect.parse import MAX_TEXT_CHARS, FeedEntry, FeedError, read_entries
from threatwatch.collect.text import html_to_text

PAGE_LIMIT = 40  # the API's maximum


def _status_id_key(value: str) -> tuple[int, str]:
    """Mastodon ids are numeric strings (snowflakes); compare by length first, then lexically."""
    return (len(value), value)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def as_object(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one when the field is missing or of another type."""
    return value if isinstance(value, dict) else {}


def status_entry(status: dict[str, Any]) -> FeedEntry | None:
    """One status as an entry; a boost becomes the boosted status (same id wherever it is seen)."""
    shown = as_object(status.get("reblog")) or status
    content = html_to_text(str(shown.get("content") or ""))
    warning = html_to_text(str(shown.get("spoiler_text") or ""))
    text = f"{warning}\n{content}" if warning and content else warning or content
    identity = shown.get("uri") or shown.get("url") or shown.get("id")
    if not text or not identity:
        return None
    account = as_object(shown.get("account"))
    url = shown.get("url")
    return FeedEntry(
        external_id=str(identity)[:1000],
        url=str(url)[:2000] if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
        author=("@" + str(account["acct"]))[:300] if account.get("acct") else None,
        published_at=_timestamp(shown.get("created_at")),
        text=text[:MAX_TEXT_CHARS],
        language=str(shown["language"])[:20] if shown.get("language") else None,
        author_name=str(account["display_name"])[:300] if account.get("display_name") else None,
    )


def load_json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(f"not a {what} response: invalid JSON ({exc})") from exc


class MastodonApiAdapter:
    """``/api/v1/timelines/tag/{tag}``: newest first; ``since_id`` asks only for what is new."""

    accept = JSON_ACCEPT

    def poll_url(self, url: str, *, cursor: str | None) -> str:
        return with_query(url, limit=PAGE_LIMIT, since_id=cursor, max_id=None)

    def parse(self, body: bytes, *, content_type: str | None, url: str) -> Page:
        data = load_json(body, "Mastodon API")
        if not isinstance(data, list):
            raise FeedError("not a Mastodon timeline: expected a JSON list of statuses")
        statuses = [s for s in data if isinstance(s, dict) and s.get("id")]
        entries, skipped = read_entries(statuses, status_entry)
        ids = sorted((str(s["id"]) for s in statuses), key=_status_id_key)
        newest = ids[-1] if ids else query_param(url, "since_id")
        older = with_query(url, since_id=None, max_id=ids[0]) if len(ids) >= PAGE_LIMIT else None
        return Page(entries=entries, cursor=newest, older_url=older, skipped=skipped)
