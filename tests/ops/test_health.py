"""/healthz, /readyz and /metrics through the real app over real databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.registry import live_classifier
from threatwatch.review.intake import classify_pending
from threatwatch.web import create_app

from . import rows


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_healthz_answers_without_login(settings: Settings) -> None:
    response = TestClient(create_app(settings)).get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_says_which_check_fails(settings: Settings, tmp_path: Path) -> None:
    no_model = settings.model_copy(update={"model_dir": tmp_path / "no-models"})
    response = TestClient(create_app(no_model)).get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["model"].startswith("not loaded")

    no_db = settings.model_copy(
        update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2"}
    )
    response = TestClient(create_app(no_db)).get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("unreachable")


@pytest.mark.slow
def test_readyz_is_ready_with_database_and_model(settings: Settings) -> None:
    response = TestClient(create_app(settings)).get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "model": "ok"}}


@pytest.mark.slow
def test_metrics_show_posts_queue_and_classification_latency(session: Session, settings: Settings) -> None:
    now = datetime.now(UTC)
    feed, other = rows.source(session, "noord"), rows.source(session, "zuid")
    for n in range(3):
        rows.post(session, source_id=feed.id, external_id=f"n{n}", collected_at=now, label=None)
    rows.post(
        session,
        source_id=other.id,
        external_id="old",
        collected_at=now - timedelta(hours=2),
        label="threat",
        status="open",
    )
    client = TestClient(create_app(settings), client=("127.0.0.1", 50000))  # a local Prometheus
    before = _samples(client.get("/metrics").text)
    report = classify_pending(session, settings=settings, classifier=live_classifier(settings), now=now)
    session.commit()
    assert report.classified == 4  # rows.post classified "old" with another model version

    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)
    assert after[("threatwatch_posts_collected", (("source", "noord"), ("source_id", str(feed.id))))] == 3
    assert after[("threatwatch_posts_collected", (("source", "zuid"), ("source_id", str(other.id))))] == 1
    assert after[("threatwatch_queue_items", (("status", "open"),))] == 1
    assert 7000 < after[("threatwatch_queue_oldest_age_seconds", ())] < 7300
    batches = ("threatwatch_classification_batch_seconds_count", ())
    assert after[batches] == before.get(batches, 0) + 1
    classified = ("threatwatch_classified_posts_total", ())
    assert after[classified] == before.get(classified, 0) + 4


def test_metrics_token_is_required_when_configured(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": "s3cret"}))
    for address in ("203.0.113.9", "127.0.0.1"):  # with a token, loopback needs it too
        client = TestClient(app, client=(address, 40000))
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        response = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert response.status_code == 200 and "threatwatch_queue_oldest_age_seconds" in response.text
        assert client.get("/healthz").status_code == 200  # health stays open


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"])
def test_metrics_without_a_token_answer_loopback_clients(settings: Settings, address: str) -> None:
    assert not settings.metrics_token
    response = TestClient(create_app(settings), client=(address, 40000)).get("/metrics")
    assert response.status_code == 200 and "threatwatch_queue_items" in response.text


@pytest.mark.parametrize(
    "address", ["203.0.113.9", "10.0.0.7", "::ffff:192.0.2.1", "2001:db8::5", "testclient"]
)
def test_metrics_without_a_token_refuse_everyone_else(settings: Settings, address: str) -> None:
    client = TestClient(create_app(settings), client=(address, 40000))
    response = client.get("/metrics")
    assert response.status_code == 403
    assert "THREATWATCH_METRICS_TOKEN" in response.text and "threatwatch_" not in response.text
    assert client.get("/healthz").status_code == 200
