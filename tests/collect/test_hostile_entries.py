"""One bad entry never stops collection: a hostile entry is stored cleaned or left out with its reason
on the source, the other entries of its feed and every other source are stored, and the round always
completes (on SQLite and PostgreSQL alike). Text constructs stay text, and markup hidden in raw-text
elements never reaches ``posts.text``."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.collect import run as collect_run
from threatwatch.collect.parse import parse_feed
from threatwatch.collect.sources import add_source
from threatwatch.config import Settings
from threatwatch.db.models import Mention, Post, Source
from threatwatch.watchlist import import_officials

from ..conftest import DEMO_DIR
from ..loopback import LoopbackServer, Route
from .helpers import run_round

GOOD_TEXT = "Raad stemt in met de begroting voor de nieuwe brug"


def atom(*entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        "<id>urn:feed</id><updated>2026-11-23T08:00:00Z</updated>" + "".join(entries) + "</feed>"
    ).encode()


def atom_entry(
    id_: str, title: str, *, updated: str = "2026-11-23T08:12:00Z", title_type: str = "text", extra: str = ""
) -> str:
    return (
        f'<entry><id>{id_}</id><title type="{title_type}">{title}</title><updated>{updated}</updated>'
        f"{extra}</entry>"
    )


def rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def rss_item(guid: str, text: str, *, extra: str = "") -> str:
    return f"<item><guid>{guid}</guid><title>{text}</title>{extra}</item>"


GOOD_ATOM = atom_entry("urn:good", GOOD_TEXT)
GOOD_RSS = rss_item("good", GOOD_TEXT)

# The three entries that made `threatwatch collect` exit 1 for the whole round, every round.
ROUND_BREAKERS = {
    "year-10000": atom(
        atom_entry("urn:y", "Datum uit het jaar 10000", updated="9999-12-31T23:59:59-12:00"), GOOD_ATOM
    ),
    "lone-surrogate": rss(rss_item("s", "Hallo &#xD800; wereld"), GOOD_RSS),
    "nul-in-author-guid-link": rss(
        rss_item(
            "n&#0;1", "Bericht met NUL", extra="<author>a&#0;b</author><link>https://x.nl/a&#0;b</link>"
        ),
        GOOD_RSS,
    ),
}


def _posts(session: Session, source_id: int) -> list[Post]:
    session.expire_all()
    return list(session.scalars(select(Post).where(Post.source_id == source_id).order_by(Post.id)))


def test_entries_that_broke_every_round_are_stored_cleaned_and_the_round_completes(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    ids = {}
    for name, body in ROUND_BREAKERS.items():
        loopback.routes[f"/{name}"] = Route(body=body)
        ids[name] = add_source(session, url=loopback.url(f"/{name}"), poll_interval_s=60).id
    session.commit()
    reports = run_round(settings)
    for name, source_id in ids.items():
        assert reports[source_id].ok, (name, reports[source_id].error)
        texts = [p.text for p in _posts(session, source_id)]
        assert GOOD_TEXT in texts and len(texts) == 2, (name, texts)
    [dated] = [p for p in _posts(session, ids["year-10000"]) if "10000" in p.text]
    assert dated.published_at is None  # an impossible date is no date, as for an entry without one
    assert "Hallo \ufffd wereld" in [p.text for p in _posts(session, ids["lone-surrogate"])]
    [nul] = [p for p in _posts(session, ids["nul-in-author-guid-link"]) if "NUL" in p.text]
    assert "\x00" not in f"{nul.author}{nul.external_id}{nul.url}"
    assert nul.author in ("a\ufffdb", "ab")


def test_text_constructs_stay_text_and_the_official_is_still_matched(
    session: Session, settings: Settings, loopback: LoopbackServer
) -> None:
    import_officials(session, path=DEMO_DIR / "watchlist.yaml")
    loopback.routes["/text.xml"] = Route(
        body=atom(
            atom_entry("urn:1", "History of the &lt;blink&gt; tag"),
            atom_entry("urn:2", "Ik kom je halen &lt;burgemeester Marieke van der Linden&gt;"),
            atom_entry("urn:3", "&lt;b&gt;vet&lt;/b&gt; in HTML", title_type="html"),
        )
    )
    source = add_source(session, url=loopback.url("/text.xml"), poll_interval_s=60)
    session.commit()
    assert run_round(settings)[source.id].ok
    texts = {p.external_id: p.text for p in _posts(session, source.id)}
    assert texts["urn:1"] == "History of the <blink> tag"
    assert texts["urn:2"] == "Ik kom je halen <burgemeester Marieke van der Linden>"
    assert texts["urn:3"] == "vet in HTML"  # type="html" is markup: the tags go
    post = next(p for p in _posts(session, source.id) if p.external_id == "urn:2")
    assert session.scalars(select(Mention).where(Mention.post_id == post.id)).first() is not None


@pytest.mark.parametrize(
    "markup",
    [
        "<noscript><img src=x onerror=alert(1)></noscript>",
        "<iframe><img src=x onerror=alert(1)></iframe>",
        "<textarea><script>alert(1)</script></textarea>",
        "<xmp><svg onload=alert(1)></xmp>",
        "<noembed><img src=x onerror=alert(1)></noembed>",
        "<title><img src=x onerror=alert(1)></title>",
    ],
)
def test_raw_text_elements_leave_no_markup_in_the_stored_text(markup: str) -> None:
    escaped = markup.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    [entry] = parse_feed(
        rss(rss_item("r", "Bericht", extra=f"<description>{escaped} tekst</description>"))
    ).entries
    assert "<" not in entry.text and "onerror" not in entry.text and "alert" not in entry.text
    assert entry.text.endswith("tekst")


def test_svg_and_mathml_text_is_kept_and_an_empty_cdf_channel_is_a_healthy_empty_source() -> None:
    markup = "<p>Zie <svg><text>de grafiek</text></svg> en <math><mi>x</mi></math></p>"
    body = markup.replace("<", "&lt;").replace(">", "&gt;")
    [entry] = parse_feed(rss(rss_item("m", "Titel", extra=f"<description>{body}</description>"))).entries
    assert "de grafiek" in entry.text and " x" in entry.text
    cdf = b'<?xml version="1.0"?><CHANNEL HREF="http://example.nl/"><TITLE>leeg</TITLE></CHANNEL>'
    assert parse_feed(cdf).entries == []


def test_a_utf16_document_declaring_entities_is_refused() -> None:
    body = '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE r [<!ENTITY x "y">]><rss><channel/></rss>'
    from threatwatch.collect.parse import FeedError

    with pytest.raises(FeedError, match="declares XML entities"):
        parse_feed(body.encode("utf-16"))


def test_a_failure_while_storing_is_recorded_on_that_source_and_the_round_goes_on(
    session: Session, settings: Settings, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What nobody foresaw (here: the store itself raising for one source) fails that source alone:
    its reason is recorded, it is backed off and its lease given back; the other source is stored."""
    loopback.routes["/one.xml"] = Route(body=rss(rss_item("1", "Bericht een")))
    loopback.routes["/two.xml"] = Route(body=rss(rss_item("2", "Bericht twee")))
    one = add_source(session, url=loopback.url("/one.xml"), poll_interval_s=60)
    two = add_source(session, url=loopback.url("/two.xml"), poll_interval_s=60)
    session.commit()
    real = collect_run.store_entries

    def store_entries(session: Session, *, source_id: int, **kwargs: object) -> object:
        if source_id == one.id:
            raise RuntimeError("the database refused a value")
        return real(session, source_id=source_id, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(collect_run, "store_entries", store_entries)
    reports = run_round(settings)
    assert not reports[one.id].ok and reports[two.id].ok and reports[two.id].new_posts == 1
    session.expire_all()
    failed = session.get(Source, one.id)
    assert failed is not None
    assert "could not store" in (failed.last_error or "") and "refused a value" in (failed.last_error or "")
    assert (failed.status, failed.consecutive_failures, failed.locked_until) == ("failing", 1, None)


# ----------------------------------------------------------------------------------------------- fuzz
HOSTILE_DATES = [
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "2026-02-30T25:61:61Z",
    "-0001-01-01T00:00:00Z",
    "99999999999999999999",
    "",
    "&#xD800;",
    "2026-11-23T08:12:00Z" * 200,
]
HOSTILE_TEXTS: list[Callable[[random.Random], str]] = [
    lambda r: "&#xD800;&#xDFFF;&#0;&#x110000;&#99999999999;",
    lambda r: "".join(chr(r.randrange(0, 32)) for _ in range(50)).replace("<", "").replace("&", ""),
    lambda r: "&lt;script&gt;alert(1)&lt;/script&gt;&lt;noscript&gt;&lt;img onerror=x&gt;&lt;/noscript&gt;",
    lambda r: "x" * r.choice([30_000, 300_000]),
    lambda r: "\u202e\u2066bidi\u2069\ufeff\u200b" * 20,
    lambda r: "<![CDATA[" + "]]>" * 3 + "&amp;" * 100,
    lambda r: "&#x1F600;" * 1000 + "😀" * 1000,
    lambda r: "".join(
        chr(c) for c in (r.randrange(0x80, 0x10FFFF) for _ in range(200)) if not 0xD800 <= c <= 0xDFFF
    ),
]


def _hostile_feed(rng: random.Random, index: int) -> bytes:
    """One feed: a hostile entry (date, text, author, id, link) and a good entry with a marker."""
    text = rng.choice(HOSTILE_TEXTS)(rng)
    date = rng.choice(HOSTILE_DATES)
    author = rng.choice(["a&#0;b", "&#xD800;", "x" * 5000, "\x01\x02", "<b>kop</b>"])
    guid = rng.choice([f"h{index}&#0;", f"h{index}&#xDFFF;", f"h{index}" + "y" * 3000, ""])
    link = rng.choice(["javascript:alert(1)", "https://x.nl/&#0;", "https://" + "a" * 5000, ""])
    good = rss_item(f"good-{index}", f"{GOOD_TEXT} {index}")
    if rng.random() < 0.5:
        hostile = atom_entry(
            guid or f"urn:h{index}", text, updated=date, extra=f"<author><name>{author}</name></author>"
        )
        body = atom(hostile, atom_entry(f"urn:good-{index}", f"{GOOD_TEXT} {index}"))
    else:
        hostile = (
            f"<item><guid>{guid}</guid><title>{text}</title><pubDate>{date}</pubDate>"
            f"<author>{author}</author><link>{link}</link></item>"
        )
        body = rss(hostile, good)
    encoding = rng.choice(["utf-8", "utf-8", "utf-16", "latin-1"])
    if encoding == "utf-8":
        return body
    declared = body.decode().replace('encoding="utf-8"', f'encoding="{encoding}"')
    return declared.encode(encoding, errors="replace")


def test_fuzz_hostile_entries_never_stop_a_round(
    session: Session, settings: Settings, loopback: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(20261207)
    feeds = 40
    sources = {}
    for index in range(feeds):
        loopback.routes[f"/h{index}"] = Route(body=_hostile_feed(rng, index))
        sources[index] = add_source(session, url=loopback.url(f"/h{index}"), poll_interval_s=60).id
    session.commit()
    rounds = 0
    for _ in range(2):  # the second round must not stumble over what the first stored
        reports = run_round(settings)
        rounds += 1
        assert set(reports) == set(sources.values())
    session.expire_all()
    stored_good = 0
    for index, source_id in sources.items():
        source = session.get(Source, source_id)
        assert source is not None and source.last_polled_at is not None and source.locked_until is None
        texts = [p.text for p in _posts(session, source_id)]
        if reports[source_id].ok:
            assert f"{GOOD_TEXT} {index}" in texts, (index, source.last_error)
            stored_good += 1
        else:
            assert source.last_error, index  # a failed source says why
        for post in _posts(session, source_id):
            assert "\x00" not in post.text + (post.author or "") + post.external_id + (post.url or "")
    assert stored_good == feeds  # every feed kept its good entry beside the hostile one
    with capsys.disabled():
        print(
            f"\nhostile entries tried: {feeds}, rounds completed: {rounds}, "
            f"good entries stored: {stored_good}"
        )
