"""Collection speed: the whole path against feedparser alone, and a re-run of unchanged feeds.

Generates a realistic set of feeds (RSS 2.0 and Atom, HTML bodies with links, mentions and hashtags,
Dutch text naming watched officials, some copy-paste across accounts) and serves them from a real HTTP
server on loopback with ETags. Then, in one run:

1. feedparser alone: ``feedparser.parse`` over the same bytes, in this process (the floor);
2. the whole path on a fresh database, run as the scheduler runs it: the collection flow
   (``threatwatch.flows.collect``, Prefect tasks against a throw-away Prefect server) fetches
   (concurrent, per-host limited), parses, cleans, detects language, dedupes, matches officials and
   stores; the flow's classification step is left out (``classify=False``; ``benchmarks/classify.py``
   measures it);
3. the same again with nothing changed: every source answers 304.

By default (``--history 1``) the database already holds an earlier round of as many other feeds, with
planner statistics (as autovacuum keeps them): a running service never ingests into empty tables, and
on PostgreSQL a plan cached while a table is empty and without statistics (a sequential scan) is not
what a service runs with. ``--history 0`` measures a freshly created database.

The feed server and the Prefect server run in child processes, so that only our side's CPU is counted
(the Prefect API's share of the wall time is counted, as on a schedule). On a shared machine wall
times swing with other load, and this machine's speed drifts by tens of percent within minutes: the
measurements are therefore interleaved. Each of ``--rounds`` rounds parses the bytes with feedparser
alone once, then runs the whole path on a fresh database; the best round of each counts, so both sides
of a ratio come from the same stretch of time, and the median of the rounds' own ratios is printed
beside it, so one lucky stretch cannot make the result. The CPU time of this process (all threads) is printed
beside the wall times. The language model is loaded before timing (a running service has it loaded).

For SQLite (a file) and PostgreSQL (a throw-away database on THREATWATCH_TEST_POSTGRES_URL's server).
Targets: whole path ≤ 2× feedparser alone; re-run ≥ 20× faster than the first run. The rounds run with
Prefect's flow-run heartbeat off: with it on (the default, and what a schedule runs), Prefect 3 joins
the heartbeat thread when a run ends, and that thread sleeps in 1 s steps, so every run ends at up to a
second later, whatever it did, without using CPU or holding a source. An empty flow run is timed both
ways and printed beside the results.

    python benchmarks/collect.py [--sources 40] [--entries 100] [--rounds 3] [--history 1]
        [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from multiprocessing.connection import Connection
from pathlib import Path

import feedparser
from prefect import flow
from prefect.testing.utilities import prefect_test_harness
from sqlalchemy import func, select, text, update

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.loopback import LoopbackServer, Route  # noqa: E402
from tests.postgres import throwaway_database  # noqa: E402

from threatwatch.collect.language import warm_up  # noqa: E402
from threatwatch.collect.run import SourceRunReport  # noqa: E402
from threatwatch.collect.sources import add_source  # noqa: E402
from threatwatch.db.engine import engine_for, session_factory  # noqa: E402
from threatwatch.db.migrate import upgrade_database  # noqa: E402
from threatwatch.db.models import Post, Source  # noqa: E402
from threatwatch.domain import SourceStatus  # noqa: E402
from threatwatch.flows.collect import CollectSummary, collect_flow  # noqa: E402
from threatwatch.watchlist import import_officials  # noqa: E402

DEMO = REPO / "src" / "threatwatch" / "demo"
NAMES = ["burgemeester Van der Linden", "wethouder El Amrani", "Anouk de Groot-Bakker",
         "gedeputeerde Hoekstra", "dijkgraaf Verbruggen", "Kamerlid Yilmaz", "@burgemeesterzh",
         "@wethouderyoussef", "de gemeente"]  # fmt: skip
OPENERS = ["Wat vinden jullie van", "Gisteren sprak", "Ik heb genoeg van", "Dank aan", "Waarom zegt",
           "Vanavond debatteert de raad met", "Lees het interview met", "Schandalig dat"]  # fmt: skip
MIDDLES = ["over de nieuwe woonwijk aan de Havenkade", "over het parkeerbeleid in het centrum",
           "over de windmolens bij Oosterbroek", "over de begroting voor volgend jaar",
           "over de sluiting van het zwembad", "over de opvang van asielzoekers",
           "over de dijkversterking"]  # fmt: skip
ENDINGS = ["Ik ben benieuwd wat de raad ervan vindt.", "Dit moet anders!", "Goed werk, ga zo door.",
           "Zo gaat het niet langer.", "Meer info op de site van de gemeente.",
           "Reageer hieronder."]  # fmt: skip


def _message(rng: random.Random, n: int) -> str:
    name = rng.choice(NAMES)
    body = f"{rng.choice(OPENERS)} {name} {rng.choice(MIDDLES)} (bericht {n}). {rng.choice(ENDINGS)}"
    return (
        f"<p>{escape(body)} <a href='https://nieuws.example/artikel/{n}?utm_source=rss'>Lees meer</a> "
        "<a href='https://social.example/tags/zuiderhaven' class='mention hashtag'>"
        "#<span>zuiderhaven</span></a>"
        f"</p><p>{escape(rng.choice(ENDINGS))}</p>"
    )


def make_feed(rng: random.Random, source: int, entries: int, atom: bool) -> bytes:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    shared = [_message(random.Random(k), 10_000 + k) for k in range(5)]  # the same copy-paste everywhere
    items = []
    for i in range(entries):
        html = shared[i % 5] if i % 20 == 0 else _message(rng, source * 100_000 + i)
        when = now - timedelta(minutes=7 * i + source)
        author = f"gebruiker_{rng.randrange(500)}"
        if atom:
            items.append(
                f"<entry><id>tag:social.example,2026:{source}-{i}</id><title>{escape(author)} schreef</title>"
                f"<updated>{when.isoformat()}</updated><author><name>{author}</name></author>"
                f"<link href='https://social.example/{source}/{i}'/>"
                f"<content type='html'>{escape(html)}</content>"
                "</entry>"
            )
        else:
            items.append(
                f"<item><guid isPermaLink='false'>{source}-{i}</guid><link>https://social.example/{source}/{i}</link>"
                f"<author>{author}</author><pubDate>{format_datetime(when)}</pubDate>"
                f"<description>{escape(html)}</description></item>"
            )
    if atom:
        return (
            "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            f"<title>bron {source}</title><id>urn:bron:{source}</id><updated>{now.isoformat()}</updated>"
            + "".join(items)
            + "</feed>"
        ).encode()
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>bron {source}</title><link>https://social.example/</link><language>nl</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        yield url
        engine_for(url).dispose()
        return
    with throwaway_database("threatwatch_bench") as url:
        yield url


@dataclass
class Timing:
    wall_s: float
    cpu_s: float  # this process, all threads: moves much less than wall time on a shared machine


@contextmanager
def timed() -> Iterator[list[Timing]]:
    box: list[Timing] = []
    wall, cpu = time.perf_counter(), time.process_time()
    yield box
    box.append(Timing(time.perf_counter() - wall, time.process_time() - cpu))


def feedparser_alone(bodies: list[bytes]) -> tuple[Timing, int]:
    with timed() as box:
        entries = sum(
            len(feedparser.parse(b, sanitize_html=False, resolve_relative_uris=False).entries) for b in bodies
        )
    return box[0], entries


@flow(name="empty")
def empty_flow() -> None:
    """Nothing: what any flow run costs here, to tell Prefect's fixed cost from collection's work."""


def flow_run_cost() -> Timing:
    with timed() as box:
        empty_flow()
    return box[0]


@contextmanager
def heartbeat(on: bool) -> Iterator[None]:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={} if on else {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def best(timings: list[Timing]) -> Timing:
    return Timing(min(t.wall_s for t in timings), min(t.cpu_s for t in timings))


def whole_path(
    url: str, base_url: str, paths: list[str], workdir: Path, history: list[str]
) -> tuple[Timing, Timing, int]:
    upgrade_database(url)
    overrides = {"data_dir": str(workdir), "database_url": url, "fetch_workers": 8, "per_host_concurrency": 4}

    def collect_round() -> list[SourceRunReport]:
        summary: CollectSummary = collect_flow(settings_overrides=overrides, force=True, classify=False)
        return summary.reports

    sessions = session_factory(engine_for(url))
    with sessions() as session, session.begin():
        import_officials(session, path=DEMO / "watchlist.yaml")
        for path in history:
            add_source(session, url=base_url + path, poll_interval_s=600)
    if history:  # earlier rounds, untimed; then done with those feeds, and statistics as autovacuum would
        collect_round()
        with sessions() as session, session.begin():
            session.execute(update(Source).values(status=SourceStatus.PAUSED.value))
            session.execute(text("ANALYZE"))
    with sessions() as session, session.begin():
        for path in paths:
            add_source(session, url=base_url + path, poll_interval_s=600)
    with timed() as first_box:
        first = collect_round()
    with timed() as again_box:
        again = collect_round()
    assert all(r.ok for r in first) and all(r.not_modified for r in again), "a source failed"
    with sessions() as session:
        today = select(Source.id).where(Source.status != SourceStatus.PAUSED.value)
        stored = session.scalar(select(func.count()).select_from(Post).where(Post.source_id.in_(today))) or 0
    assert stored == sum(r.new_posts for r in first)
    return first_box[0], again_box[0], stored


def _serve(bodies: list[bytes], pipe: Connection) -> None:
    """The "internet": a loopback server in its own process, so its CPU is not counted as ours."""
    with LoopbackServer() as server:
        for i, body in enumerate(bodies):
            server.routes[f"/feed/{i}.xml"] = Route(
                body=body, etag=f'"v{i}"', headers={"Content-Type": "application/xml"}
            )
        pipe.send(server.base_url)
        pipe.recv()  # until told to stop


@contextmanager
def served(bodies: list[bytes]) -> Iterator[str]:
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(bodies, theirs), daemon=True)
    process.start()
    try:
        yield str(ours.recv())
    finally:
        ours.send("stop")
        process.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sources", type=int, default=40)
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best counts)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--history", type=int, default=1, help="earlier rounds already stored (0: empty)")
    args = parser.parse_args()

    rng = random.Random(20261128)
    bodies = [make_feed(rng, s, args.entries, atom=s % 3 == 0) for s in range(args.sources)]
    old = [
        make_feed(rng, 1000 * (r + 1) + s, args.entries, atom=s % 3 == 0)
        for r in range(args.history)
        for s in range(args.sources)
    ]
    megabytes = sum(map(len, bodies)) / 1e6
    print(
        f"{args.sources} feeds x {args.entries} entries ({megabytes:.1f} MB), served on loopback with ETags; "
        f"the database holds {args.history} earlier round(s) of {args.sources} other feeds"
    )
    warm_up()  # the language model loads once per process (~1 s); a running service has done it already
    with (
        prefect_test_harness(server_startup_timeout=120),
        served(bodies + old) as base_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        paths = [f"/feed/{i}.xml" for i in range(len(bodies))]
        history = [f"/feed/{i}.xml" for i in range(len(bodies), len(bodies) + len(old))]
        for backend in args.backends.split(","):
            parses: list[Timing] = []
            firsts: list[Timing] = []
            agains: list[Timing] = []
            empties: list[Timing] = []
            beating: list[Timing] = []
            for _round in range(args.rounds):  # interleaved: the machine's speed drifts between minutes
                parse_timing, entries = feedparser_alone(bodies)
                parses.append(parse_timing)
                with heartbeat(on=True):
                    beating.append(flow_run_cost())
                with heartbeat(on=False):
                    empties.append(flow_run_cost())
                with database(backend, Path(tmp)) as url, heartbeat(on=False):
                    first_timing, again_timing, stored = whole_path(url, base_url, paths, Path(tmp), history)
                firsts.append(first_timing)
                agains.append(again_timing)
            parse, first, again = best(parses), best(firsts), best(agains)
            empty, beat = best(empties), best(beating)
            ratios = [f.wall_s / p.wall_s for f, p in zip(firsts, parses, strict=True)]
            print(
                f"[{backend}] feedparser alone: {entries / parse.wall_s:,.0f} entries/s "
                f"(wall {parse.wall_s:.2f} s, cpu {parse.cpu_s:.2f} s)\n"
                f"[{backend}] whole path:       {entries / first.wall_s:,.0f} entries/s "
                f"(wall {first.wall_s:.2f} s, cpu {first.cpu_s:.2f} s; {stored} stored)\n"
                f"[{backend}] re-run, all 304:  wall {again.wall_s:.3f} s, cpu {again.cpu_s:.3f} s\n"
                f"[{backend}] rounds (wall whole/feedparser): "
                + ", ".join(f"{r:.2f}x" for r in ratios)
                + f"; median {statistics.median(ratios):.2f}x\n"
                f"[{backend}] RATIO whole/feedparser: wall {first.wall_s / parse.wall_s:.2f}x, "
                f"cpu {first.cpu_s / parse.cpu_s:.2f}x (target <= 2)\n"
                f"[{backend}] RATIO first/re-run: wall {first.wall_s / again.wall_s:.0f}x, "
                f"cpu {first.cpu_s / again.cpu_s:.0f}x (target >= 20)\n"
                f"[{backend}] an empty flow run: wall {empty.wall_s:.3f} s; with the heartbeat on "
                f"{beat.wall_s:.3f} s (a scheduled run ends up to that much later)"
            )


if __name__ == "__main__":
    main()
