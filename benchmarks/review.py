"""Review queue under load: the queue page and "claim next" for concurrent analysts on PostgreSQL.

Builds a throw-away PostgreSQL database with ``--items`` open review items (posts, mentions,
classifications), serves ``threatwatch.web.create_app`` under uvicorn on loopback in its own process,
and lets ``--analysts`` threads act as analysts with API tokens:

* **queue page**: ``GET /queue`` (the server-rendered HTML page, 50 items, counts, filters);
* **queue API**: ``GET /api/v1/queue?limit=50``;
* **claim next**: ``POST /api/v1/queue/claim-next``, then the analyst decides the item
  (``POST /api/v1/items/{id}/decide``, timed separately) so claims do not pile up;
* **bare SELECT**: the same rows read with plain psycopg (one SQL statement: the 50 queue rows joined
  to their posts, classifications and sources; for claiming, the ``FOR UPDATE SKIP LOCKED`` pick of
  the next row, rolled back), under the same concurrency;
* **service**: ``list_queue`` + ``queue_counts`` and ``claim_next`` + ``decide_item`` called directly,
  which shows how much of a request is HTTP, auth and rendering.

Each analyst waits an exponentially distributed think time (mean ``--think`` seconds) between
requests ("paced": a human analyst reads for much longer than a second, so this is already harsh);
"saturated" makes every analyst hammer the server back to back, where latency measures queueing on the
CPU rather than the work of one request; "solo" is one analyst without pauses: the cost of one
request. Each mode prints p50/p95/p99, request counts, throughput, and each p95 against the 50 ms
target and against the bare SELECT.

On a shared machine every figure moves with the others' load (the load average is printed before
and after each mode); the ratio to the bare SELECT, measured in the same minute, moves much less.

    nice -n 10 .venv/bin/python benchmarks/review.py [--items 100000] [--analysts 20] [--duration 20]
        [--think 1.0] [--modes solo,paced,saturated] [--keep]

The PostgreSQL server is ``THREATWATCH_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@
127.0.0.1:5432/test``); the database is dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.postgres

from tests.postgres import throwaway_database

from threatwatch import accounts
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.migrate import upgrade_database
from threatwatch.db.models import Official, Source, User
from threatwatch.domain import Label, Role
from threatwatch.review import QueueCounts, claim_next, decide_item, list_queue, queue_counts

TARGET_P95_MS = 50.0
OFFICIALS = 500
SOURCES = 20
PASSWORD = "benchmark-password"

QUEUE_SQL = """
SELECT ri.id, ri.status, ri.priority, ri.assignee_id, ri.lease_expires_at, ri.created_at,
       p.text, p.url, p.author, p.published_at, p.collected_at, s.name,
       c.label, c.scores, c.explanation, c.model_version
FROM review_items ri
JOIN posts p ON p.id = ri.post_id
JOIN sources s ON s.id = p.source_id
JOIN classifications c ON c.id = ri.classification_id
WHERE ri.status IN ('open', 'claimed')
ORDER BY ri.priority DESC, ri.created_at DESC, ri.id DESC
LIMIT 50
"""
CLAIM_SQL = """
SELECT id FROM review_items
WHERE status IN ('open', 'claimed') AND (status = 'open' OR lease_expires_at < now())
ORDER BY priority DESC, created_at DESC, id DESC
LIMIT 1 FOR UPDATE SKIP LOCKED
"""


# ----------------------------------------------------------------------------------------- database


def seed(url: str, *, items: int, analysts: int) -> list[str]:
    """Sources, officials and ``items`` open review items in bulk SQL; returns one API token per analyst."""
    started = time.perf_counter()
    upgrade_database(url)
    factory = session_factory(engine_for(url))
    with factory() as session, session.begin():
        session.add_all(
            Source(
                kind="feed", url=f"https://example.org/feed-{n}.xml", name=f"Bron {n}", poll_interval_s=900
            )
            for n in range(SOURCES)
        )
        session.add_all(
            Official(name=f"Ambtsdrager {n}", role="wethouder", organisation=f"Gemeente {n % 50}")
            for n in range(OFFICIALS)
        )
        session.flush()
        params = {"n": items, "sources": SOURCES, "officials": OFFICIALS, "now": datetime.now(UTC)}
        session.execute(
            text(
                """
                INSERT INTO posts (source_id, external_id, url, author, published_at, collected_at, text,
                                   language, content_hash)
                SELECT (SELECT min(id) FROM sources) + g % :sources, 'bench-' || g,
                       'https://example.org/posts/' || g, '@account' || (g % 7919),
                       :now - make_interval(secs => g * 2.5), :now - make_interval(secs => g * 2.5 - 30),
                       'Bericht ' || g || ': we weten waar je woont, wethouder, en we komen langs. '
                       || repeat('Tekst die de lengte van een gewoon bericht geeft. ', 4),
                       'nl', md5(g::text) || md5((g + 1)::text)
                FROM generate_series(1, :n) AS g
                """
            ),
            params,
        )
        session.execute(
            text(
                """
                INSERT INTO mentions (post_id, official_id, matched_on)
                SELECT p.id, (SELECT min(id) FROM officials) + (p.id * 7919) % :officials, 'wethouder'
                FROM posts p
                """
            ),
            params,
        )
        session.execute(
            text(
                """
                INSERT INTO classifications (post_id, model_version, label, flagged, scores, explanation,
                                             created_at)
                SELECT p.id, 'bench-model', (ARRAY['threat','coercion','doxxing','abuse'])[1 + p.id % 4],
                       p.id % 4 < 3,
                       jsonb_build_object('threat', 0.2, 'coercion', 0.2, 'doxxing', 0.2, 'abuse', 0.2,
                                          'none', 0.2)
                         || jsonb_build_object((ARRAY['threat','coercion','doxxing','abuse'])[1 + p.id % 4],
                                               0.5 + (p.id * 37 % 500) / 1000.0),
                       '[{"start": 0, "end": 7, "text": "Bericht", "weight": 0.3}]'::jsonb,
                       p.collected_at
                FROM posts p
                """
            )
        )
        session.execute(
            text(
                """
                INSERT INTO review_items (post_id, classification_id, status, label, priority, created_at,
                                          updated_at)
                SELECT c.post_id, c.id, 'open', c.label,
                       round(((ARRAY[1.0, 0.8, 0.8, 0.3])[1 + c.post_id % 4]
                              * (0.5 + (c.post_id * 37 % 500) / 1000.0))::numeric, 4),
                       c.created_at, c.created_at
                FROM classifications c
                """
            )
        )
        users = [
            accounts.create_user(session, username=f"analyst{n:02d}", password=PASSWORD, role=Role.ANALYST)
            for n in range(analysts)
        ]
        tokens = [accounts.create_api_token(session, user=u, name="benchmark") for u in users]
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"seeded {items:,} open review items in {time.perf_counter() - started:.1f} s")
    return tokens


# ----------------------------------------------------------------------------------------- load


@dataclass
class Samples:
    name: str
    ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def quantile(self, q: float) -> float:
        if not self.ms:
            return float("nan")
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_analysts(
    *,
    analysts: int,
    duration: float,
    think: float,
    setup: Callable[[int], object],
    step: Callable[[object, dict[str, Samples]], None],
    names: list[str],
) -> dict[str, Samples]:
    """``analysts`` threads call ``step`` until ``duration`` is up, each pausing ~``think`` s between
    (and before the first call); each calls ``step`` once untimed before the clock starts."""
    results = {name: Samples(name) for name in names}
    lock = threading.Lock()
    start = threading.Barrier(analysts + 1)
    stop_at = [0.0]

    def analyst(n: int) -> None:
        state = setup(n)
        rng = random.Random(n)
        local = {name: Samples(name) for name in names}
        step(state, {name: Samples(name) for name in names})  # warm-up, not counted (connections, caches)
        start.wait()
        if think > 0:
            # Begin in steady state: independent analysts are not synchronised, so each starts somewhere
            # in a think time instead of all firing their first request in the same millisecond (that
            # burst alone was the whole p95 of a 20 s paced run).
            time.sleep(rng.expovariate(1 / think))
        while time.monotonic() < stop_at[0]:
            step(state, local)
            if think > 0:
                time.sleep(rng.expovariate(1 / think))
        with lock:
            for name, s in local.items():
                results[name].ms += s.ms
                results[name].errors += s.errors

    threads = [threading.Thread(target=analyst, args=(n,), daemon=True) for n in range(analysts)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + duration + 1e9  # set properly once everyone is ready
    start.wait()
    began = time.monotonic()
    stop_at[0] = began + duration
    for thread in threads:
        thread.join()
    for s in results.values():
        s.seconds = time.monotonic() - began
    return results


def timed(samples: Samples, call: Callable[[], object]) -> object:
    started = time.perf_counter()
    try:
        value = call()
    except Exception as exc:  # counted, and the first few are shown
        samples.errors += 1
        if samples.errors <= 3:
            print(f"  {samples.name}: {type(exc).__name__}: {exc}"[:300], file=sys.stderr)
        return None
    samples.ms.append((time.perf_counter() - started) * 1000)
    return value


def _check(response: httpx.Response) -> httpx.Response:
    response.raise_for_status()
    return response


def http_scenarios(
    base: str, tokens: list[str], *, analysts: int, duration: float, think: float
) -> list[Samples]:
    def client(n: int) -> object:
        return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens[n]}"}, timeout=30)

    def page(c: object, out: dict[str, Samples]) -> None:
        assert isinstance(c, httpx.Client)
        timed(out["queue page  GET /queue (HTML)"], lambda: _check(c.get("/queue")))

    def api(c: object, out: dict[str, Samples]) -> None:
        assert isinstance(c, httpx.Client)
        timed(
            out["queue API   GET /api/v1/queue"], lambda: _check(c.get("/api/v1/queue", params={"limit": 50}))
        )

    def claim(c: object, out: dict[str, Samples]) -> None:
        assert isinstance(c, httpx.Client)
        response = timed(
            out["claim next  POST /api/v1/queue/claim-next"],
            lambda: _check(c.post("/api/v1/queue/claim-next")),
        )
        if isinstance(response, httpx.Response) and response.json():
            item_id = response.json()["id"]
            timed(
                out["decide      POST /api/v1/items/{id}/decide"],
                lambda: _check(c.post(f"/api/v1/items/{item_id}/decide", json={"label": "none"})),
            )

    found: list[Samples] = []
    for step, names in (
        (page, ["queue page  GET /queue (HTML)"]),
        (api, ["queue API   GET /api/v1/queue"]),
        (claim, ["claim next  POST /api/v1/queue/claim-next", "decide      POST /api/v1/items/{id}/decide"]),
    ):
        found += run_analysts(
            analysts=analysts, duration=duration, think=think, setup=client, step=step, names=names
        ).values()
    return found


def bare_scenarios(url: str, *, analysts: int, duration: float, think: float) -> list[Samples]:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def connect(_: int) -> object:
        return psycopg.connect(conninfo, autocommit=True)

    def select_page(conn: object, out: dict[str, Samples]) -> None:
        assert isinstance(conn, psycopg.Connection)
        timed(out["bare SELECT of the queue page rows"], lambda: conn.execute(QUEUE_SQL).fetchall())

    def select_claim(conn: object, out: dict[str, Samples]) -> None:
        assert isinstance(conn, psycopg.Connection)

        def pick() -> object:
            with conn.transaction(force_rollback=True):
                return conn.execute(CLAIM_SQL).fetchall()

        timed(out["bare SELECT ... FOR UPDATE SKIP LOCKED"], pick)

    found: list[Samples] = []
    for step, name in (
        (select_page, "bare SELECT of the queue page rows"),
        (select_claim, "bare SELECT ... FOR UPDATE SKIP LOCKED"),
    ):
        found += run_analysts(
            analysts=analysts, duration=duration, think=think, setup=connect, step=step, names=[name]
        ).values()
    return found


def service_scenarios(url: str, *, analysts: int, duration: float, think: float) -> list[Samples]:
    factory = session_factory(engine_for(url))
    with factory() as session:
        user_ids = [u.id for u in session.query(User).order_by(User.id)]

    def setup(n: int) -> object:
        session = factory()
        user = session.get(User, user_ids[n % len(user_ids)])
        session.commit()
        return session, user

    shared_counts = QueueCounts()  # as the web app keeps one (app.state)

    def listing(state: object, out: dict[str, Samples]) -> None:
        session, _ = state  # type: ignore[misc]

        def call() -> object:
            with session.begin():
                return list_queue(session, limit=50), queue_counts(session, shared=shared_counts)

        timed(out["service list_queue + queue_counts"], call)

    def claiming(state: object, out: dict[str, Samples]) -> None:
        session, user = state  # type: ignore[misc]

        def call() -> object:
            with session.begin():
                item = claim_next(session, user=user, now=datetime.now(UTC))
                if item is not None:
                    decide_item(session, item_id=item.id, user=user, label=Label.NONE, now=datetime.now(UTC))
                return item

        timed(out["service claim_next + decide_item"], call)

    found: list[Samples] = []
    for step, name in (
        (listing, "service list_queue + queue_counts"),
        (claiming, "service claim_next + decide_item"),
    ):
        found += run_analysts(
            analysts=analysts, duration=duration, think=think, setup=setup, step=step, names=[name]
        ).values()
    return found


def filter_check(url: str, rounds: int = 15) -> None:
    """One analyst, each queue filter: median and worst ``list_queue`` time (the rarest label last)."""
    factory = session_factory(engine_for(url))
    with factory() as session:
        official_id = session.scalar(text("SELECT min(id) FROM officials"))
        source_id = session.scalar(text("SELECT min(id) FROM sources"))
        cases: list[tuple[str, dict[str, object]]] = [
            ("no filter", {}),
            ("official", {"official_id": official_id}),
            ("source", {"source_id": source_id}),
            ("label threat", {"label": "threat"}),
            ("label abuse (lowest priority)", {"label": "abuse"}),
            ("status decided", {"status": "decided"}),
        ]
        print("\nqueue filters, one analyst (list_queue, 50 rows):")
        for name, kwargs in cases:
            ms = []
            for _ in range(rounds):
                started = time.perf_counter()
                list_queue(session, limit=50, **kwargs)  # type: ignore[arg-type]
                ms.append((time.perf_counter() - started) * 1000)
                session.rollback()
            ms.sort()
            print(f"  {name:32} median {ms[len(ms) // 2]:6.1f} ms   max {ms[-1]:6.1f} ms")


# ----------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(url: str, workers: int) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, THREATWATCH_DATABASE_URL=url, THREATWATCH_LOG_FORMAT="text")
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "threatwatch.web:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the web app did not start")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


# ----------------------------------------------------------------------------------------- report


def report(title: str, rows: list[Samples], *, bare: dict[str, float]) -> None:
    print(f"\n{title}")
    print(
        f"{'':46} {'n':>6} {'err':>4} {'req/s':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        "  p95/50ms  p95/bare"
    )
    for s in rows:
        p95 = s.quantile(0.95)
        reference = bare["claim"] if "claim" in s.name or "SKIP" in s.name else bare["page"]
        rate = len(s.ms) / s.seconds if s.seconds else 0.0
        print(
            f"{s.name:46} {len(s.ms):6d} {s.errors:4d} {rate:6.1f} {s.quantile(0.5):7.1f} {p95:7.1f} "
            f"{s.quantile(0.99):7.1f}  {p95 / TARGET_P95_MS:8.2f}  {p95 / reference:8.1f}"
        )


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--analysts", type=int, default=20)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per scenario")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time (s) in the paced mode")
    parser.add_argument("--modes", default="solo,paced,saturated")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    load = os.getloadavg()
    print(
        f"review benchmark: {args.items:,} items, {args.analysts} analysts, "
        f"{args.duration:.0f} s per scenario, "
        f"{os.cpu_count()} CPUs, load average before {load[0]:.1f}"
    )
    with throwaway_database("threatwatch_bench", keep=args.keep) as url:
        if args.keep:
            print(f"keeping database {make_url(url).database}")
        tokens = seed(url, items=args.items, analysts=args.analysts)
        filter_check(url)
        with serve(url, args.workers) as base:
            for mode in args.modes.split(","):
                think = args.think if mode == "paced" else 0.0
                analysts = 1 if mode == "solo" else args.analysts
                kwargs = {"analysts": analysts, "duration": args.duration, "think": think}
                bare_rows = bare_scenarios(url, **kwargs)
                bare = {
                    "page": bare_rows[0].quantile(0.95),
                    "claim": bare_rows[1].quantile(0.95),
                }
                rows = http_scenarios(base, tokens, **kwargs)
                if not args.skip_service:
                    rows += service_scenarios(url, **kwargs)
                label = f"think time {think:.1f} s (exponential)" if think else "no think time"
                report(
                    f"[{mode}] {analysts} analyst(s), {label}; load average {os.getloadavg()[0]:.1f}",
                    bare_rows + rows,
                    bare=bare,
                )
    print(f"\ntarget: p95 <= {TARGET_P95_MS:.0f} ms for the queue page and claim next")


if __name__ == "__main__":
    main()
