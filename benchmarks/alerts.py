"""Alert speed: feed → alert latency, and dispatcher throughput, against real loopback servers.

1. Latency. Threatening posts about the demo officials appear in a loopback RSS feed at random moments
   over ``--spread-s`` seconds. The collection flow (``threatwatch.flows.collect``, the shipped model) runs
   every ``--interval-s`` seconds in one thread, the dispatcher (``threatwatch.alerts.dispatch``, its
   default 1 s poll) in another, and a loopback webhook records when each alert arrives. The latency
   of a post is from the moment it appeared in the feed to the arrival of the first alert naming its
   review item. Target: p95 ≤ interval + 5 s.
2. Throughput. ``--alerts`` alerts are put in the outbox at once and one dispatcher delivers them to a
   loopback webhook (signed, one HTTP request each). Target: ≥ 200 alerts/s.

    nice -n 10 python benchmarks/alerts.py [--posts 60] [--spread-s 120] [--interval-s 10]
        [--alerts 2000] [--database-url URL]   # default: a fresh SQLite file

Run it on a quiet machine for stable figures; the collection round classifies with the shipped model
on the CPU, so other load shows up in the latency.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
THREATS = [
    "{name}, we weten waar je woont. Pas maar op, je bent je leven niet zeker.",
    "Ik ga {name} opwachten na de raadsvergadering en dan zal ze/hij boeten.",
    "{name} moet kapotgemaakt worden, ik kom je thuis opzoeken.",
    "Als {name} dit doorzet, brand ik het huis plat. Dat is een belofte.",
    "{name}, je dagen zijn geteld. Wij weten waar je kinderen naar school gaan.",
]


@dataclass
class FeedState:
    """Posts with the moment they appear; the feed shows those whose moment has passed."""

    posts: list[tuple[str, float, str]] = field(default_factory=list)  # guid, appears_at, text

    def rss(self) -> bytes:
        now = time.time()
        items = "".join(
            f"<item><guid>{guid}</guid><title>bericht</title><link>https://forum.example.org/{guid}</link>"
            f"<pubDate>{format_datetime(datetime.fromtimestamp(at, UTC))}</pubDate>"
            f"<description>{escape(text)}</description></item>"
            for guid, at, text in self.posts
            if at <= now
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Forum</title>'
            f"<link>https://forum.example.org/</link>{items}</channel></rss>"
        ).encode()


class Servers:
    """One loopback HTTP server: GET /feed.xml serves the feed, POST /hook records webhook arrivals."""

    def __init__(self, feed: FeedState) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self.count = 0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = feed.rss()
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                arrived = time.time()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with lock:
                    outer.count += 1
                    if self.path == "/hook":
                        outer.arrivals.append((arrived, json.loads(body)))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}{path}"


def _serve_counter(port_queue: Any) -> None:
    """A webhook receiver in its own process (as a real receiver is): answers 204, counts requests."""
    count = 0
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = str(count).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            nonlocal count
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with lock:
                count += 1

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    port_queue.put(httpd.server_address[1])
    httpd.serve_forever()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(args: argparse.Namespace, database_url: str, data_dir: Path) -> None:
    from sqlalchemy import select

    from threatwatch.alerts import SubscriptionSpec, create_subscription
    from threatwatch.alerts.dispatch import dispatch
    from threatwatch.collect.sources import add_source
    from threatwatch.config import Settings
    from threatwatch.db.engine import engine_for, session_factory
    from threatwatch.db.models import Official, Post, ReviewItem
    from threatwatch.flows.collect import collect_flow
    from threatwatch.watchlist import import_officials

    feed = FeedState()
    servers = Servers(feed)
    sessions = session_factory(engine_for(database_url))
    with sessions() as session, session.begin():
        import_officials(session, path=REPO / "src" / "threatwatch" / "demo" / "watchlist.yaml")
        names = [o.name for o in session.scalars(select(Official).order_by(Official.id))][:6]
        ids = list(session.scalars(select(Official.id)))
        add_source(session, url=servers.url("/feed.xml"), poll_interval_s=args.interval_s)
        create_subscription(
            session,
            spec=SubscriptionSpec(
                name="bench",
                subscriber_team="bench",
                channel="webhook",
                target=servers.url("/hook"),
                official_ids=ids,
            ),
            actor="benchmark",
            allow_private_targets=True,  # the receiver is on loopback
        )
    overrides: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": str(data_dir),
        "fetch_retries": 0,
        "alert_allow_private_targets": True,  # the webhook receiver is on loopback
    }
    cache = os.environ.get("THREATWATCH_CACHE_DIR") or (
        str(REPO / ".cache" / "test-models") if (REPO / ".cache" / "test-models").exists() else None
    )
    if cache:
        overrides["cache_dir"] = cache
    settings = Settings(**overrides)
    print("warm-up: one collection round (Prefect and the model start) ...", flush=True)
    t0 = time.perf_counter()
    collect_flow(settings_overrides=overrides, force=True)
    print(f"  {time.perf_counter() - t0:.1f} s")

    rng = random.Random(11)
    start = time.time() + 1.0
    for i in range(args.posts):
        text = rng.choice(THREATS).format(name=rng.choice(names)) + f" (#{i})"
        feed.posts.append((f"bench-{i}", start + rng.uniform(0, args.spread_s), text))
    stop = threading.Event()
    rounds: list[float] = []

    round_ends: list[float] = []

    def collect_loop() -> None:
        while not stop.is_set():
            began = time.perf_counter()
            collect_flow(settings_overrides=overrides, force=True)
            rounds.append(time.perf_counter() - began)
            round_ends.append(time.time())  # the round's transactions have committed by now
            stop.wait(max(0.0, args.interval_s - (time.perf_counter() - began)))

    run_for = args.spread_s + args.interval_s + 20
    dispatcher = threading.Thread(
        target=lambda: dispatch(sessions, settings=settings, run_for_s=run_for), daemon=True
    )
    collector = threading.Thread(target=collect_loop, daemon=True)
    print(f"latency: {args.posts} posts over {args.spread_s:g} s, collection every {args.interval_s:g} s ...")
    dispatcher.start()
    collector.start()
    dispatcher.join()
    stop.set()
    collector.join()

    with sessions() as session:
        rows = session.execute(
            select(ReviewItem.id, Post.external_id, ReviewItem.created_at).join(
                Post, Post.id == ReviewItem.post_id
            )
        ).all()
        guid_of = {item_id: guid for item_id, guid, _ in rows}
        queued_at = {guid: created.timestamp() for _, guid, created in rows}
    appeared = {guid: at for guid, at, _ in feed.posts}
    first_arrival: dict[str, float] = {}
    for arrived, payload in servers.arrivals:
        for item in payload["data"]["items"]:
            guid = guid_of.get(item["review_item_id"])
            if guid in appeared and guid not in first_arrival:
                first_arrival[guid] = arrived
    latencies = [first_arrival[g] - appeared[g] for g in first_arrival]
    if not latencies:
        print("  no alert arrived: nothing to measure")
        return
    p50, p95 = statistics.median(latencies), _pct(latencies, 0.95)
    target = args.interval_s + 5
    print(
        f"  posts flagged and alerted: {len(latencies)}/{args.posts} ({len(servers.arrivals)} webhook calls)"
    )
    print(f"  collection round: median {statistics.median(rounds):.2f} s, max {max(rounds):.2f} s")
    print(f"  feed → webhook latency: p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(latencies):.2f} s")
    committed = {
        g: min((e for e in round_ends if e >= queued_at[g]), default=queued_at[g]) for g in first_arrival
    }
    parts = {
        "feed → classification starts (poll wait, fetch, store)": [
            queued_at[g] - appeared[g] for g in first_arrival
        ],
        "→ round commits (classify, queue, outbox)": [committed[g] - queued_at[g] for g in first_arrival],
        "→ webhook (dispatcher poll and delivery)": [first_arrival[g] - committed[g] for g in first_arrival],
    }
    for name, values in parts.items():
        print(f"    {name}: p50 {statistics.median(values):.2f} s, p95 {_pct(values, 0.95):.2f} s")
    print(f"  target p95 ≤ interval + 5 s = {target:g} s: ratio p95/target = {p95 / target:.2f} (≤ 1 passes)")


def throughput(args: argparse.Namespace, database_url: str) -> None:
    from sqlalchemy import select

    from threatwatch.alerts import SubscriptionSpec, create_subscription
    from threatwatch.alerts.dispatch import dispatch
    from threatwatch.config import Settings
    from threatwatch.db.engine import engine_for, session_factory
    from threatwatch.db.models import (
        Alert,
        AlertItem,
        Classification,
        Mention,
        Official,
        Post,
        ReviewItem,
        Source,
    )

    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    receiver = multiprocessing.Process(target=_serve_counter, args=(ports,), daemon=True)
    receiver.start()
    base = f"http://127.0.0.1:{ports.get(timeout=30)}"
    sessions = session_factory(engine_for(database_url))
    now = datetime.now(UTC) - timedelta(seconds=1)
    with sessions() as session, session.begin():
        official = session.scalars(select(Official).limit(1)).first()
        if official is None:
            official = Official(name="Bench Mark", role="burgemeester", organisation="Gemeente Bench")
            session.add(official)
            session.flush()
        subscription = create_subscription(
            session,
            spec=SubscriptionSpec(
                name="throughput",
                subscriber_team="bench",
                channel="webhook",
                target=f"{base}/throughput",
                official_ids=[official.id],
            ),
            actor="benchmark",
            allow_private_targets=True,  # the receiver is on loopback
        )
        source = Source(kind="feed", url=f"{base}/throughput.xml", name="t", poll_interval_s=600)
        session.add(source)
        session.flush()
        for i in range(args.alerts):
            post = Post(source_id=source.id, external_id=f"t{i}", text="x", content_hash=f"{i:064d}")
            session.add(post)
            session.flush()
            session.add(Mention(post_id=post.id, official_id=official.id, matched_on="bench"))
            c = Classification(
                post_id=post.id, model_version="bench", label="threat", flagged=True, scores={}
            )
            session.add(c)
            session.flush()
            item = ReviewItem(post_id=post.id, classification_id=c.id, status="open", priority=1.0)
            session.add(item)
            session.flush()
            alert = Alert(
                subscription_id=subscription.id,
                idempotency_key=f"bench:{i}",
                kind="flagged",
                official_id=official.id,
                label="threat",
                item_count=1,
                status="pending",
                not_before=now,
                next_attempt_at=now,
                attempts=0,
                first_event_at=now,
                last_event_at=now,
            )
            session.add(alert)
            session.flush()
            session.add(
                AlertItem(
                    alert_id=alert.id,
                    subscription_id=subscription.id,
                    trigger="flagged",
                    review_item_id=item.id,
                    label="threat",
                    event_at=now,
                )
            )
    settings = Settings(database_url=database_url, alert_allow_private_targets=True)  # loopback receiver
    workers = settings.alert_dispatch_workers
    print(f"throughput: {args.alerts} alerts to a loopback webhook (another process), {workers} workers ...")
    cpu_before, began = _cpu_s(), time.perf_counter()
    report = dispatch(sessions, settings=settings)
    elapsed, cpu = time.perf_counter() - began, _cpu_s() - cpu_before
    rate = report.sent / elapsed
    received = int(httpx.get(f"{base}/count").text)
    receiver.terminate()
    print(f"  sent {report.sent} ({received} requests received) in {elapsed:.2f} s: {rate:.0f} alerts/s")
    print(f"  dispatcher CPU time {cpu:.2f} s = {1000 * cpu / max(1, report.sent):.2f} ms per alert")
    print(f"  target ≥ 200 alerts/s: ratio = {rate / 200:.2f} (≥ 1 passes)")
    capacity = report.sent / cpu
    print(f"  (CPU-bound capacity on one free core: {capacity:.0f} alerts/s, ratio {capacity / 200:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=60)
    parser.add_argument("--spread-s", type=float, default=120.0)
    parser.add_argument("--interval-s", type=float, default=10.0)
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")  # a busy machine
    from threatwatch.db.migrate import upgrade_database

    with tempfile.TemporaryDirectory(prefix="tw-bench-alerts-") as tmp:
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade_database(database_url)
        if not args.skip_latency:
            latency(args, database_url, Path(tmp))
        throughput(args, database_url)


if __name__ == "__main__":
    main()
