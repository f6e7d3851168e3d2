"""Load run: collection plus classification of many posts through a real Prefect server, with 1 and
with 2 workers, beside the CPU-bound limit (classification alone of the same texts in one process).

What runs, per worker count W:
  - a fresh application database and a fresh Prefect database on PostgreSQL (127.0.0.1:5432),
  - `prefect server start` on loopback, a process work pool, W `prefect worker` processes, each taking
    one flow run at a time (`--limit 1`: a worker is one slot),
  - the collection flow (src/threatwatch/flows/collect.py) deployed from this checkout,
  - POSTS generated posts (held-out texts of labelled_data/, 85% ordinary messages, made unique) served
    as RSS feeds by a loopback HTTP server, spread over SHARDS source kinds; one flow run per kind is
    triggered through the API at once, and the clock stops when every run has finished and every post
    is classified in the database. posts/s = POSTS / that time.
Then the CPU-bound limit: the same texts through `Classifier.predict` in this process, in batches of
THREATWATCH_CLASSIFY_BATCH_SIZE, exactly as intake calls it (without explanations: the explain flow
computes those after intake, threatwatch.flows.explain). The cost of that later step is printed beside it:
flagged posts explained per second (`Classifier.explain`, batches of THREATWATCH_EXPLAIN_BATCH_SIZE, on
up to --explain-sample flagged posts).

    nice -n 10 .venv/bin/python benchmarks/scale.py --posts 50000     # the issue's target size
    nice -n 10 .venv/bin/python benchmarks/scale.py --posts 2000      # what a shared 2-core machine allows

The load average at the start is printed: on a machine shared with other work, the figures are lower
bounds and the ratios matter more than the absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.postgres (throw-away databases on THREATWATCH_TEST_POSTGRES_URL)
SHARD_KINDS = ["feed", "municipal", "youtube", "reddit", "google_news", "mastodon", "bluesky"]


def sample_texts(n: int, seed: int = 7) -> list[str]:
    """n unique Dutch messages: 85% ordinary (label none), 15% flagged or abuse, all from the held-out
    (dev and test) splits: the model has seen the training split, and its fast stage settles messages
    it was trained on more readily than new ones, which would flatter every figure here."""
    from threatwatch.classify.training.data import load_labelled_data
    from threatwatch.domain import Label

    held_out = [e for e in load_labelled_data(REPO / "labelled_data") if e.split != "train"]
    ordinary = [e.text for e in held_out if e.label is Label.NONE]
    flagged = [e.text for e in held_out if e.label is not Label.NONE]
    rng = random.Random(seed)
    return [f"{rng.choice(ordinary if rng.random() < 0.85 else flagged)} ({i})" for i in range(n)]


def rss(name: str, items: list[tuple[int, str]]) -> bytes:
    now = datetime.now(UTC)
    body = "".join(
        f"<item><guid>{name}-{i}</guid><title>{escape(t[:60])}</title><description>{escape(t)}</description>"
        f"<author>user{i % 997}</author><link>https://example.org/{name}/{i}</link>"
        f"<pubDate>{format_datetime(now - timedelta(seconds=i))}</pubDate></item>"
        for i, t in items
    )
    head = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>'
    return (head + body + "</channel></rss>").encode()


@contextmanager
def feed_server(feeds: dict[str, bytes]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = feeds.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_through_prefect(
    texts: list[str], *, workers: int, shards: int, feeds_per_shard: int
) -> dict[str, float]:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from tests.postgres import throwaway_database

    from threatwatch.collect.sources import add_source
    from threatwatch.db.engine import engine_for, session_factory
    from threatwatch.db.migrate import upgrade_database
    from threatwatch.db.models import Classification, Post
    from threatwatch.domain import SourceKind
    from threatwatch.ops.cluster import PrefectCluster, deploy_from_source

    kinds = SHARD_KINDS[:shards]
    n_feeds = shards * feeds_per_shard
    per_feed: list[list[tuple[int, str]]] = [[] for _ in range(n_feeds)]
    for i, t in enumerate(texts):
        per_feed[i % n_feeds].append((i, t))
    feeds = {f"/feed-{f}.xml": rss(f"feed-{f}", items) for f, items in enumerate(per_feed)}

    with throwaway_database("bench_app") as app_url, \
            throwaway_database("bench_prefect", driver="postgresql+asyncpg") as prefect_url, \
            feed_server(feeds) as base, tempfile.TemporaryDirectory() as home:  # fmt: skip
        upgrade_database(app_url)
        with session_factory(engine_for(app_url))() as session, session.begin():
            for f in range(n_feeds):
                add_source(
                    session,
                    url=f"{base}/feed-{f}.xml",
                    kind=SourceKind(kinds[f % shards]),
                    poll_interval_s=3600,
                )
        app_env = {
            "THREATWATCH_DATABASE_URL": app_url,
            "THREATWATCH_DATA_DIR": str(Path(home) / "data"),
            "THREATWATCH_CACHE_DIR": os.environ.get(
                "THREATWATCH_CACHE_DIR", str(REPO / ".cache" / "test-models")
            ),
            "THREATWATCH_FETCH_RETRIES": "0",
            "THREATWATCH_MAX_FEED_BYTES": str(200 * 1024 * 1024),
            # The cores shared out among the workers' torch thread pools, not each worker taking all
            # of them (oversubscribed, W workers on N cores run slower than one).
            "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // workers)),
        }
        with PrefectCluster(
            home=Path(home) / "prefect", database_url=prefect_url, app_env=app_env
        ) as cluster:
            cluster.create_pool()
            for w in range(workers):
                cluster.start_worker(f"worker-{w + 1}", limit=1)
            deploy_from_source(
                cluster.api_url, source_dir=REPO, entrypoint="src/threatwatch/flows/collect.py:collect_flow",
                name="bench", pool=cluster.pool,
            )  # fmt: skip
            with temporary_settings(updates={PREFECT_API_URL: cluster.api_url}):
                started = time.perf_counter()
                runs = [
                    run_deployment("collect/bench", parameters={"force": True, "kinds": [k]}, timeout=0)
                    for k in kinds
                ]
                with get_client(sync_client=True) as client:
                    while True:
                        states = [client.read_flow_run(r.id).state for r in runs]  # type: ignore[union-attr]
                        if all(s is not None and s.is_final() for s in states):
                            break
                        time.sleep(2)
                elapsed = time.perf_counter() - started
            failed = [s.name for s in states if s is not None and not s.is_completed()]
        with session_factory(engine_for(app_url))() as session:
            stored = session.scalar(select(func.count()).select_from(Post)) or 0
            classified = session.scalar(select(func.count(func.distinct(Classification.post_id)))) or 0
    if failed:
        print(f"  warning: runs ended {failed}; see the worker logs", file=sys.stderr)
    return {"seconds": elapsed, "stored": stored, "classified": classified, "failed_runs": len(failed)}


def classification_limit(texts: list[str], explain_sample: int) -> tuple[float, float, int]:
    """Posts/s of intake's classification alone, flagged posts/s of the explain step, flagged count."""
    from threatwatch.config import Settings
    from threatwatch.domain import Label
    from threatwatch.registry import load_classifier

    settings = Settings(
        cache_dir=Path(os.environ.get("THREATWATCH_CACHE_DIR", REPO / ".cache" / "test-models"))
    )
    classifier = load_classifier(settings.model_dir, settings.model_name, cache_dir=settings.cache_dir)
    classifier.predict(texts[:8], explain=False)  # warm-up
    size = settings.classify_batch_size
    started = time.perf_counter()
    flagged: list[tuple[str, Label]] = []
    for start in range(0, len(texts), size):
        batch = texts[start : start + size]
        results = classifier.predict(batch, explain=False)
        flagged += [(text, r.label) for text, r in zip(batch, results, strict=True) if r.flagged]
    rate = len(texts) / (time.perf_counter() - started)
    sample = flagged[:explain_sample]
    started = time.perf_counter()
    for start in range(0, len(sample), settings.explain_batch_size):
        chunk = sample[start : start + settings.explain_batch_size]
        classifier.explain([text for text, _ in chunk], [label for _, label in chunk])
    explain_rate = len(sample) / (time.perf_counter() - started) if sample else float("nan")
    return rate, explain_rate, len(flagged)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="none: the limit alone")
    parser.add_argument("--shards", type=int, default=4, help="flow runs (one per source kind) per round")
    parser.add_argument("--feeds-per-shard", type=int, default=5)
    parser.add_argument("--explain-sample", type=int, default=300, help="flagged posts timed in explain")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    texts = sample_texts(args.posts)
    print(f"posts={args.posts} shards={args.shards} feeds={args.shards * args.feeds_per_shard} "
          f"cpus={os.cpu_count()} load average at start={os.getloadavg()[0]:.1f}")  # fmt: skip
    results: dict[int, float] = {}
    for workers in args.workers:
        outcome = run_through_prefect(
            texts, workers=workers, shards=args.shards, feeds_per_shard=args.feeds_per_shard
        )
        rate = args.posts / outcome["seconds"]
        results[workers] = rate
        print(
            f"prefect server, {workers} worker(s): {outcome['seconds']:.1f} s, {rate:.1f} posts/s "
            f"(stored {outcome['stored']}, classified {outcome['classified']}, "
            f"failed runs {outcome['failed_runs']})",
            flush=True,
        )
    limit, explain_rate, flagged = classification_limit(texts, args.explain_sample)
    print(f"CPU-bound limit (classification alone, one process): {limit:.1f} posts/s")
    print(
        f"explain step (after intake): {explain_rate:.2f} flagged posts/s; {flagged} of {len(texts)} "
        f"posts flagged, so explaining them all takes {flagged / explain_rate:.0f} s of one process"
    )
    for workers, rate in results.items():
        print(f"  {workers} worker(s): {rate / limit:.2f} of the limit")
    if 1 in results and 2 in results:
        print(f"  2 workers / 1 worker: {results[2] / results[1]:.2f}x")


if __name__ == "__main__":
    main()
