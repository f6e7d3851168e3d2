"""Claim leases: renewed while a dispatcher works on an alert, so a slow channel never gets it sent twice."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from threatwatch.alerts.dispatch import DispatchReport, claim_due, dispatch, renew_claims
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import Alert, DeliveryAttempt, Official
from threatwatch.db.types import utcnow

from .conftest import NOON, flag, subscribe
from .receivers import Behaviour, WebhookReceiver


def test_renewed_claim_holds_and_own_claims_in_flight_are_not_taken_again(
    session: Session, officials: dict[str, Official], alert_settings: Settings
) -> None:
    subscribe(session, official_ids=[officials["mp"].id])
    flag(session, official_ids=[officials["mp"].id])
    session.commit()
    [alert_id] = session.scalars(select(Alert.id)).all()
    t = NOON + timedelta(hours=1)

    def claim(worker: str, at: timedelta, exclude: tuple[int, ...] = ()) -> list[int]:
        ids = claim_due(session, now=t + at, limit=10, worker=worker, lease_s=10, exclude=exclude)
        session.commit()
        return ids

    def renew(worker: str, at: timedelta) -> set[int]:
        ours = renew_claims(session, alert_ids=[alert_id], now=t + at, worker=worker, lease_s=10)
        session.commit()
        return ours

    assert claim("a", timedelta(0)) == [alert_id]
    assert claim("b", timedelta(seconds=5)) == []  # the lease holds
    assert renew("a", timedelta(seconds=5)) == {alert_id}
    assert claim("b", timedelta(seconds=12)) == []  # past the first lease, within the renewed one
    # Lapsed: the holder does not take its own in-flight alert a second time; another dispatcher may.
    assert claim("a", timedelta(seconds=20), exclude=(alert_id,)) == []
    assert claim("b", timedelta(seconds=20)) == [alert_id]
    assert renew("a", timedelta(seconds=21)) == set()  # a's claim is gone: a must not send it


@pytest.mark.parametrize("migrated_url", ["postgresql"], indirect=True)
def test_sends_slower_than_the_lease_are_delivered_exactly_once_by_two_dispatchers(
    session: Session, officials: dict[str, Official], alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    """One worker each and two alerts, every send taking 8 s against a 5 s lease: the second alert waits
    for the worker past the lease and each send outlasts it. Without renewal the idle dispatcher takes
    both over when the lease lapses and the receiver gets each twice."""
    lease_s, send_s = 5.0, 8.0
    webhook.behaviour["/slow"] = Behaviour(hang_first=99, hang_s=send_s)
    mp = officials["mp"].id
    subscribe(session, channel="webhook", target=webhook.url("/slow"), official_ids=[mp])
    for _ in range(2):
        flag(session, official_ids=[mp])
        session.execute(update(Alert).values(status="sent"))  # no coalescing: one alert each
    session.execute(update(Alert).values(status="pending", next_attempt_at=utcnow()))
    session.commit()
    alert_ids = set(session.scalars(select(Alert.id)).all())
    assert len(alert_ids) == 2
    settings = alert_settings.model_copy(
        update={"alert_dispatch_workers": 1, "alert_channel_timeout_s": 30.0, "alert_coalesce_window_s": 0}
    )
    sessions = session_factory(engine_for(settings.database_url))
    reports: dict[str, DispatchReport] = {}

    def run(worker: str) -> None:
        # Real time (the lease must really lapse); both keep polling past the first lease's end.
        reports[worker] = dispatch(
            sessions, settings=settings, worker=worker, run_for_s=12.0, lease_s=lease_s
        )

    threads = [threading.Thread(target=run, args=(w,)) for w in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    # Anything a stalled machine left unsent (a lease ran low before a worker was free) goes out now.
    sweep = dispatch(
        sessions,
        settings=settings,
        worker="sweep",
        now=lambda: utcnow() + timedelta(hours=1),
        lease_s=lease_s,
    )

    # Every request the receiver got, answered or not: each alert exactly once.
    ids = Counter(r.headers["webhook-id"] for r in webhook.received)
    assert len(ids) == 2 and set(ids.values()) == {1}, ids
    assert sum(r.sent for r in reports.values()) + sweep.sent == 2
    session.expire_all()
    assert {(a.status, a.attempts) for a in session.scalars(select(Alert))} == {("sent", 1)}
    attempts = session.scalars(select(DeliveryAttempt)).all()
    assert sorted(a.alert_id for a in attempts) == sorted(alert_ids)
    assert all(a.ok and a.duration_ms >= lease_s * 1000 for a in attempts)  # each send outlasted the lease
