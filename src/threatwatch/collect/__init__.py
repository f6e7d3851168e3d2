"""Collection: fetch sources, parse feeds, clean text, store new posts once."""

from threatwatch.collect.fetch import FetchError, FetchResult, fetch_url
from threatwatch.collect.parse import FeedEntry, FeedError, parse_feed
from threatwatch.collect.text import html_to_text

__all__ = [
    "FeedEntry",
    "FeedError",
    "FetchError",
    "FetchResult",
    "fetch_url",
    "html_to_text",
    "parse_feed",
]
