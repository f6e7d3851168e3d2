from __future__ import annotations

from datetime import UTC, datetime

import pytest

from threatwatch.collect import FeedError, html_to_text, parse_feed


def test_html_to_text_drops_markup_and_script_content() -> None:
    html = (
        "<p>Wethouder <a href='https://x.example/@jan'>@jan</a> moet <b>weg</b></p>"
        "<script>alert('x')</script><img src=x onerror=alert(1)><style>p{}</style>"
        "<p>&lt;script&gt; is tekst &amp; blijft</p><!-- commentaar -->"
    )
    assert html_to_text(html) == "Wethouder @jan moet weg\n<script> is tekst & blijft"


def test_html_to_text_normalises_unicode_and_whitespace() -> None:
    decomposed = "Cafe\u0301   \u00a0 op  de\u200b hoek\x00"
    assert html_to_text(decomposed) == "Café op de hoek"


def _rss(items: str, extra: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>{extra}'
        f"{items}</channel></rss>"
    ).encode()


def test_rss_entries_with_title_body_date_and_author() -> None:
    body = _rss(
        "<item><guid>a1</guid><link>https://e.example/a1</link><title>Kop</title>"
        "<description>&lt;p&gt;Tekst van het bericht&lt;/p&gt;</description>"
        "<author>piet</author><pubDate>Mon, 02 Nov 2026 10:00:00 +0100</pubDate></item>",
        "<language>nl</language>",
    )
    feed = parse_feed(body)
    assert feed.language == "nl"
    [entry] = feed.entries
    assert entry.external_id == "a1"
    assert entry.url == "https://e.example/a1"
    assert entry.text == "Kop\nTekst van het bericht"
    assert entry.author == "piet"
    assert entry.published_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_atom_feed_with_html_content() -> None:
    body = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>f</id>'
        b"<entry><id>urn:1</id><title>Titel</title><updated>2026-11-02T10:00:00Z</updated>"
        b'<content type="html">&lt;p&gt;Titel&lt;/p&gt;&lt;p&gt;meer&lt;/p&gt;</content></entry></feed>'
    )
    [entry] = parse_feed(body).entries
    assert entry.external_id == "urn:1"
    assert entry.text == "Titel\nmeer"  # the title is not repeated when the body starts with it


def test_entries_without_id_get_a_stable_one_and_duplicate_ids_are_kept_once() -> None:
    body = _rss(
        "<item><description>geen id of link</description></item>"
        "<item><guid>x</guid><description>eerste</description></item>"
        "<item><guid>x</guid><description>tweede met zelfde id</description></item>"
    )
    entries = parse_feed(body).entries
    assert [e.text for e in entries] == ["geen id of link", "eerste"]
    assert entries[0].external_id.startswith("sha256:")
    assert parse_feed(body).entries[0].external_id == entries[0].external_id


def test_empty_feed_is_valid_and_has_no_entries() -> None:
    feed = parse_feed(_rss(""))
    assert (feed.entries, feed.language, feed.older_url) == ([], None, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body><h1>Welkom</h1></body></html>", "not an RSS or Atom feed"),
        (b"\x00\x01garbage<<<", "not a valid feed"),
        (b"", "not an RSS or Atom feed"),
    ],
)
def test_garbage_is_refused_with_a_reason(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_feed(body)


def test_wrong_declared_charset_still_parses() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        "<item><guid>1</guid><description>Hé daar, één</description></item></channel></rss>"
    ).encode("latin-1")
    entries = parse_feed(body, content_type="application/rss+xml; charset=utf-8").entries
    assert len(entries) == 1 and "daar" in entries[0].text


def test_links_mentions_and_hashtags_stay_as_text() -> None:
    html = (
        "<p><span class='h-card'><a href='https://m.example/@jan' class='u-url mention'>@<span>jan</span></a>"
        "</span> kijk <a href='https://e.example/x?utm=1'>https://e.example/x</a> "
        "<a href='https://m.example/tags/zuiderhaven' class='mention hashtag'>#<span>zuiderhaven</span>"
        "</a></p>"
    )
    assert html_to_text(html) == "@jan kijk https://e.example/x #zuiderhaven"


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>',
        '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    ],
    ids=["billion-laughs", "external-entity"],
)
def test_documents_declaring_entities_are_refused_before_parsing(doctype: str) -> None:
    body = (
        f'<?xml version="1.0"?>{doctype}<rss version="2.0"><channel><title>t</title>'
        "<item><guid>1</guid><description>&lol2; &xxe;</description></item></channel></rss>"
    ).encode()
    with pytest.raises(FeedError, match="declares XML entities"):
        parse_feed(body)


def test_reddit_authors_lose_their_prefix_and_atom_next_links_page_back() -> None:
    body = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>r</title>'
        b'<link rel="next" href="https://www.reddit.com/r/thenetherlands/new/.rss?after=t3_x"/>'
        b"<entry><id>t3_1</id><author><name>/u/boze_burger</name></author><title>Over de burgemeester</title>"
        b"<updated>2026-11-02T10:00:00Z</updated><content type='html'>tekst</content></entry></feed>"
    )
    feed = parse_feed(body)
    assert feed.entries[0].author == "boze_burger"
    assert feed.older_url == "https://www.reddit.com/r/thenetherlands/new/.rss?after=t3_x"
