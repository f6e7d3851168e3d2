"""The dispatcher: claim due alerts, deliver them in parallel, record every attempt, back off on failure.

Claiming is one conditional UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises
writers), committed before anything is sent, so two dispatchers never send the same alert. A claim is
a lease that the dispatcher renews (one UPDATE for everything it holds, every third of the lease) from
the claim until the result is recorded, so neither a long wait for a free worker nor a slow channel lets
it lapse; a worker sends only while the lease it last confirmed still has a third to run, and a
dispatcher never claims an id it is still working on. A dispatcher that dies (or stops renewing)
mid-send leaves its alerts to be re-claimed when the lease runs out; that window is the only way an
alert can go out twice, and its webhook id lets receivers drop the copy. Deliveries run in a thread
pool with a time-out per channel, and results are recorded as they finish, so a hanging or failing
channel never holds up the others.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

import urllib3
from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from threatwatch.alerts.channels import DeliveryError, send_apprise, send_email, send_webhook, webhook_pool
from threatwatch.alerts.messages import AlertMessage, build_message, load_alerts
from threatwatch.config import Settings
from threatwatch.db.models import Alert, DeliveryAttempt
from threatwatch.db.types import utcnow
from threatwatch.domain import AlertStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryJob:
    """One claimed alert, detached from the session: all a sender needs."""

    alert_id: int
    attempt: int
    channel: str
    target: str
    secret: str | None
    message: AlertMessage


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    duration_ms: float
    started_at: datetime
    status_code: int | None = None
    error: str | None = None
    permanent: bool = False  # trying again cannot help (a blocked target): the alert fails now


@dataclass
class DispatchReport:
    sent: int = 0
    failed_attempts: int = 0
    gave_up: int = 0
    lost_claims: int = 0  # claims that lapsed before a worker got to them: not sent, left to their holder

    @property
    def attempts(self) -> int:
        return self.sent + self.failed_attempts


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def retry_delay_s(attempts: int, *, settings: Settings) -> float:
    """Exponential back-off: base, 2×base, 4×base ... capped."""
    return float(min(settings.alert_retry_max_s, settings.alert_retry_base_s * 2 ** max(0, attempts - 1)))


def claim_due(
    session: Session,
    *,
    now: datetime,
    limit: int,
    worker: str,
    lease_s: float,
    exclude: Collection[int] = (),
) -> list[int]:
    """Mark up to ``limit`` due alerts as ours (status ``sending``) and return their ids; caller commits.

    ``exclude`` holds the ids the caller is still working on: a lapsed lease of its own must not hand it
    the same alert a second time.
    """
    due = or_(
        (Alert.status == AlertStatus.PENDING) & (Alert.next_attempt_at <= now),
        (Alert.status == AlertStatus.SENDING) & (Alert.claimed_until < now),
    )
    if exclude:
        due = due & Alert.id.not_in(list(exclude))
    candidates = (
        select(Alert.id)
        .where(due)
        .order_by(Alert.next_attempt_at, Alert.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = session.execute(
        update(Alert)
        .where(Alert.id.in_(candidates.scalar_subquery()), due)
        .values(status=AlertStatus.SENDING, claimed_by=worker, claimed_until=now + timedelta(seconds=lease_s))
        .returning(Alert.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed.scalars())


def renew_claims(
    session: Session, *, alert_ids: Collection[int], now: datetime, worker: str, lease_s: float
) -> set[int]:
    """Extend our claims on ``alert_ids`` to ``now + lease_s``; return the ids still ours (caller commits).

    An id missing from the answer was re-claimed by another dispatcher (or moved on) after our lease
    lapsed, and must not be sent by us.
    """
    if not alert_ids:
        return set()
    renewed = session.execute(
        update(Alert)
        .where(Alert.id.in_(list(alert_ids)), Alert.status == AlertStatus.SENDING, Alert.claimed_by == worker)
        .values(claimed_until=now + timedelta(seconds=lease_s))
        .returning(Alert.id)
        .execution_options(synchronize_session=False)
    )
    return set(renewed.scalars())


def prepare_jobs(session: Session, *, alert_ids: list[int], settings: Settings) -> list[DeliveryJob]:
    return [
        DeliveryJob(
            alert_id=alert.id,
            attempt=alert.attempts + 1,
            channel=alert.subscription.channel,
            target=alert.subscription.target,
            secret=alert.subscription.webhook_secret,
            message=build_message(alert, settings=settings),
        )
        for alert in load_alerts(session, alert_ids)
    ]


def deliver(job: DeliveryJob, *, settings: Settings, http: urllib3.PoolManager) -> DeliveryResult:
    """Send one job through its channel; never raises (an unexpected error is a failed attempt)."""
    started_at, start = utcnow(), time.perf_counter()
    timeout = settings.alert_channel_timeout_s
    status: int | None = None
    try:
        if job.channel == "webhook":
            status = send_webhook(
                http, url=job.target, secret=job.secret or "", message=job.message, timeout_s=timeout
            )
        elif job.channel == "email":
            send_email(settings=settings, to=job.target, message=job.message)
        elif job.channel == "apprise":
            send_apprise(
                url=job.target,
                message=job.message,
                timeout_s=timeout,
                allow_private=settings.alert_allow_private_targets,
            )
        else:
            raise DeliveryError(f"unknown channel {job.channel!r}")
    except DeliveryError as exc:
        return DeliveryResult(
            ok=False,
            duration_ms=(time.perf_counter() - start) * 1000,
            started_at=started_at,
            status_code=exc.status_code,
            error=exc.reason,
            permanent=exc.permanent,
        )
    except Exception as exc:
        logger.exception("alert %s: unexpected error in channel %s", job.alert_id, job.channel)
        return DeliveryResult(
            ok=False,
            duration_ms=(time.perf_counter() - start) * 1000,
            started_at=started_at,
            error=f"{type(exc).__name__}: {exc}",
        )
    return DeliveryResult(
        ok=True, duration_ms=(time.perf_counter() - start) * 1000, started_at=started_at, status_code=status
    )


def record_results(
    session: Session,
    *,
    finished: list[tuple[DeliveryJob, DeliveryResult]],
    now: datetime,
    worker: str,
    settings: Settings,
    report: DispatchReport,
) -> None:
    """Write the attempts and move each alert on: sent, back to pending after a back-off, or failed.

    Only the claim holder moves an alert on; a stale dispatcher's late result is kept as an attempt.
    Successes are written with one statement, so recording keeps up with hundreds of deliveries a second.
    """
    if not finished:
        return
    session.execute(
        insert(DeliveryAttempt),
        [
            {
                "alert_id": job.alert_id,
                "attempt": job.attempt,
                "channel": job.channel,
                "ok": result.ok,
                "status_code": result.status_code,
                "error": result.error,
                "duration_ms": round(result.duration_ms, 2),
                "started_at": result.started_at,
                "worker": worker,
            }
            for job, result in finished
        ],
    )
    ours = (Alert.status == AlertStatus.SENDING) & (Alert.claimed_by == worker)
    released = {"claimed_by": None, "claimed_until": None}
    sent_ids = [job.alert_id for job, result in finished if result.ok]
    if sent_ids:
        session.execute(
            update(Alert)
            .where(Alert.id.in_(sent_ids), ours)
            .values(
                status=AlertStatus.SENT, sent_at=now, last_error=None, attempts=Alert.attempts + 1, **released
            )
            .execution_options(synchronize_session=False)
        )
        report.sent += len(sent_ids)
    for job, result in finished:
        if result.ok:
            continue
        report.failed_attempts += 1
        values: dict[str, object] = {"attempts": job.attempt, "last_error": result.error, **released}
        if job.attempt >= settings.alert_max_attempts or result.permanent:
            values["status"] = AlertStatus.FAILED
            report.gave_up += 1
            logger.warning(
                "alert %s: giving up after %s attempts: %s", job.alert_id, job.attempt, result.error
            )
        else:
            retry_at = now + timedelta(seconds=retry_delay_s(job.attempt, settings=settings))
            values.update(status=AlertStatus.PENDING, next_attempt_at=retry_at)
            logger.info(
                "alert %s attempt %s failed (%s); retry at %s",
                job.alert_id,
                job.attempt,
                result.error,
                retry_at,
            )
        session.execute(
            update(Alert)
            .where(Alert.id == job.alert_id, ours)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def dispatch(
    sessions: sessionmaker[Session],
    *,
    settings: Settings,
    worker: str | None = None,
    run_for_s: float = 0.0,
    now: Callable[[], datetime] = utcnow,
    http: urllib3.PoolManager | None = None,
    lease_s: float | None = None,
) -> DispatchReport:
    """Deliver due alerts until none are due and none are in flight, and keep polling for ``run_for_s``.

    ``now`` is injectable so tests can move time forward past back-offs without sleeping. ``lease_s``
    (default: three channel time-outs plus 30 s) is how long a claim holds without renewal, so how soon
    other dispatchers take over the alerts of one that died; it is renewed every third of it.
    """
    worker = worker or default_worker_name()
    workers = settings.alert_dispatch_workers
    lease_s = lease_s if lease_s is not None else settings.alert_channel_timeout_s * 3 + 30
    renew_every_s = lease_s / 3
    hard_limit_s = settings.alert_channel_timeout_s * 2 + 5
    report = DispatchReport()
    deadline = time.monotonic() + run_for_s
    own_client = http is None
    client = http or webhook_pool(workers, allow_private=settings.alert_allow_private_targets)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alert-dispatch")
    # Claim ahead of the pool a little, so claiming and recording are batched; the clock for the
    # per-delivery hard limit starts when a worker picks the job up, not when it is queued.
    max_inflight = workers * 4
    inflight: dict[Future[DeliveryResult | None], DeliveryJob] = {}
    started: dict[int, float] = {}
    # Until when (monotonic) each claim we hold is ours for certain: taken before the write that set it.
    held_until: dict[int, float] = {}
    # Senders written off by the hard limit whose threads still run: their alerts are not claimed again.
    abandoned: dict[Future[DeliveryResult | None], int] = {}

    def run(job: DeliveryJob) -> DeliveryResult | None:
        # Renewals keep two thirds of the lease ahead; less means they stalled and another dispatcher
        # may take the alert over while we send, so leave it (None) to whoever holds the claim next.
        if time.monotonic() > held_until.get(job.alert_id, 0.0) - renew_every_s:
            return None
        started[job.alert_id] = time.monotonic()
        return deliver(job, settings=settings, http=client)

    def renew() -> None:
        """Extend every claim in flight, queued or sending; cancel queued jobs whose claim was lost."""
        renewing_at = time.monotonic()
        with sessions() as session, session.begin():
            ours = renew_claims(
                session,
                alert_ids=[job.alert_id for job in inflight.values()],
                now=now(),
                worker=worker,
                lease_s=lease_s,
            )
        for future, job in list(inflight.items()):
            if job.alert_id in ours:
                held_until[job.alert_id] = renewing_at + lease_s
            elif future.cancel():  # not started yet; one already sending is recorded but moves nothing
                del inflight[future]
                held_until.pop(job.alert_id, None)
                report.lost_claims += 1
                logger.warning("alert %s: claim lost before sending; left to its new holder", job.alert_id)

    try:
        while True:
            claimed = 0
            # With ``run_for_s`` the run stops taking new work at its deadline; without, it drains.
            accepting = run_for_s <= 0 or time.monotonic() < deadline
            if accepting and len(inflight) < max_inflight:
                claiming_at = time.monotonic()
                busy = [job.alert_id for job in inflight.values()] + list(abandoned.values())
                with sessions() as session, session.begin():
                    ids = claim_due(
                        session,
                        now=now(),
                        limit=max_inflight - len(inflight),
                        worker=worker,
                        lease_s=lease_s,
                        exclude=busy,
                    )
                    jobs = prepare_jobs(session, alert_ids=ids, settings=settings) if ids else []
                claimed = len(jobs)
                for job in jobs:
                    held_until[job.alert_id] = claiming_at + lease_s
                    inflight[pool.submit(run, job)] = job
            if not inflight:
                if time.monotonic() >= deadline:
                    break
                time.sleep(settings.alert_dispatch_poll_s)
                continue
            renew_in = min(held_until[job.alert_id] for job in inflight.values()) - 2 * renew_every_s
            if renew_in <= time.monotonic():
                renew()
                if not inflight:
                    continue
                renew_in = min(held_until[job.alert_id] for job in inflight.values()) - 2 * renew_every_s
            done, _ = wait(
                inflight,
                timeout=max(
                    0.0,
                    min(
                        settings.alert_dispatch_poll_s if claimed == 0 else 0.05,
                        renew_in - time.monotonic(),
                    ),
                ),
                return_when=FIRST_COMPLETED,
            )
            finished: list[tuple[DeliveryJob, DeliveryResult]] = []
            for future in done:
                job = inflight.pop(future)
                result = future.result()
                if result is None:
                    report.lost_claims += 1
                    logger.warning("alert %s: lease ran low before a worker was free; not sent", job.alert_id)
                else:
                    finished.append((job, result))
                held_until.pop(job.alert_id, None)
            # A sender stuck past its own time-outs is written off (its thread is left to finish).
            for future, job in list(inflight.items()):
                began = started.get(job.alert_id)
                if began is not None and time.monotonic() - began > hard_limit_s:
                    del inflight[future]
                    held_until.pop(job.alert_id, None)
                    abandoned[future] = job.alert_id
                    abandoned_result = DeliveryResult(
                        ok=False,
                        duration_ms=(time.monotonic() - began) * 1000,
                        started_at=utcnow(),
                        error=f"no answer within {hard_limit_s:g} s; abandoned",
                    )
                    finished.append((job, abandoned_result))
            for future in [f for f in abandoned if f.done()]:
                del abandoned[future]
            for job, _result in finished:
                started.pop(job.alert_id, None)
            if finished:
                with sessions() as session, session.begin():
                    record_results(
                        session, finished=finished, now=now(), worker=worker, settings=settings, report=report
                    )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if own_client:
            client.clear()
    if report.attempts or report.lost_claims:
        logger.info("dispatch: %s", report)
    return report
