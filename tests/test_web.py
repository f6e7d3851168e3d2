"""Posts classified by the shipped model reach the queue page and API, escaped and audited."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.collect.parse import FeedEntry
from threatwatch.collect.sources import add_source
from threatwatch.collect.store import store_entries
from threatwatch.config import Settings
from threatwatch.db.models import AuditEvent
from threatwatch.domain import Role
from threatwatch.registry import load_classifier
from threatwatch.review.intake import classify_pending
from threatwatch.watchlist import OfficialMatcher
from threatwatch.web import create_app

from .web.seed import login, make_user

HOSTILE = (
    "Burgemeester, we weten waar je woont en je gaat eraan <script>alert('xss')</script>"
    "<img src=x onerror=alert(1)>"
)


def _fill_queue(session: Session, settings: Settings) -> None:
    source = add_source(session, url="https://example.org/feed.xml", poll_interval_s=60)
    now = datetime.now(UTC)
    entries = [
        FeedEntry(
            external_id="1",
            url="javascript:alert(1)",
            author="x",
            published_at=now,
            text=HOSTILE,
            language="nl",
        ),
        FeedEntry(
            external_id="2",
            url=None,
            author=None,
            published_at=None,
            text="Bedankt voor de mooie opening van het nieuwe buurthuis!",
            language="nl",
        ),
    ]
    store_entries(session, source_id=source.id, entries=entries, matcher=OfficialMatcher([]), now=now)
    classify_pending(
        session,
        settings=settings,
        classifier=load_classifier(settings.model_dir, cache_dir=settings.cache_dir),
        now=now,
    )
    session.commit()


def _analyst_client(session: Session, settings: Settings) -> TestClient:
    make_user(session, Role.ANALYST)
    session.commit()
    client = TestClient(create_app(settings))
    login(client, "analyst1")
    return client


def test_queue_page_escapes_post_text(session: Session, settings: Settings) -> None:
    _fill_queue(session, settings)
    client = _analyst_client(session, settings)
    page = client.get("/queue")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in page.text
    assert 'href="javascript' not in page.text  # links are shown, never made clickable
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_queue_api_lists_items_and_is_audited(session: Session, settings: Settings) -> None:
    _fill_queue(session, settings)
    client = _analyst_client(session, settings)
    body = client.get("/api/v1/queue").json()
    assert [item["text"] for item in body["items"]] == [HOSTILE]
    assert body["items"][0]["label"] in {"threat", "coercion", "doxxing"}
    assert body["counts"] == {"open": 1}
    label = body["items"][0]["label"]
    assert len(client.get("/api/v1/queue", params={"label": label}).json()["items"]) == 1
    assert client.get("/api/v1/queue", params={"label": "none"}).json()["items"] == []
    session.expire_all()
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "view_queue")).all()
    assert events and events[0].details["items"] == [body["items"][0]["id"]]
    assert events[0].actor == "analyst1"
    assert client.get("/api/v1/queue", params={"limit": 0}).status_code == 422
    assert client.get("/healthz").json() == {"status": "ok"}
