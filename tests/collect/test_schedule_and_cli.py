"""Schedules per source kind, and the `sources` / `officials` commands an operator uses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pipelines.deployments import build_deployments
from typer.testing import CliRunner

from threatwatch.cli import app
from threatwatch.collect.adapters import with_query
from threatwatch.config import Settings, get_settings
from threatwatch.db.migrate import upgrade_database
from threatwatch.domain import SourceKind

from ..conftest import DEMO_DIR
from ..loopback import LoopbackServer, Route
from .helpers import fixture
from .test_backfill_and_language import FEED_PATH

runner = CliRunner()


def test_one_collection_deployment_per_source_kind_with_its_interval(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, schedule_intervals_s={"mastodon": 90, "feed": 1200})
    collect = {d.name: d for d in build_deployments(settings) if d.name.startswith("collect-")}
    assert set(collect) == {f"collect-{kind.value}" for kind in SourceKind}
    mastodon = collect["collect-mastodon"]
    assert mastodon.parameters == {"kinds": ["mastodon"]}
    assert mastodon.schedules is not None
    assert mastodon.schedules[0].schedule.interval == timedelta(seconds=90)  # type: ignore[union-attr]
    assert collect["collect-feed"].schedules[0].schedule.interval == timedelta(seconds=1200)  # type: ignore[index,union-attr]
    youtube = collect["collect-youtube"].schedules[0].schedule  # type: ignore[index]
    assert youtube.interval == timedelta(seconds=settings.default_poll_interval_s)  # type: ignore[union-attr]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("THREATWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("THREATWATCH_DATABASE_URL", raising=False)
    # Generated searches point at an address that is never contacted in this test.
    for name in ("GOOGLE_NEWS_URL", "REDDIT_URL", "MASTODON_URL", "BLUESKY_API_URL"):
        monkeypatch.setenv(f"THREATWATCH_{name}", "https://search.invalid")
    get_settings.cache_clear()
    upgrade_database(get_settings().database_url)
    yield tmp_path
    get_settings.cache_clear()


def test_sources_add_infers_or_takes_the_kind_and_refuses_bad_input(env: Path) -> None:
    added = runner.invoke(app, ["sources", "add", "https://news.google.com/rss/search?q=zuiderhaven"])
    assert added.exit_code == 0 and "(google_news)" in added.stdout
    town = runner.invoke(
        app, ["sources", "add", "https://zuiderhaven.example/nieuws.rss", "--kind", "municipal"]
    )
    assert town.exit_code == 0 and "(municipal)" in town.stdout
    bad = runner.invoke(app, ["sources", "add", "https://x.example/feed", "--kind", "telegram"])
    assert bad.exit_code == 1 and "unknown source kind 'telegram'" in bad.stderr
    scheme = runner.invoke(app, ["sources", "add", "ftp://x.example/feed"])
    assert scheme.exit_code == 1 and "unsupported source URL" in scheme.stderr


def test_sources_import_adds_a_whole_file_in_one_call_or_nothing(env: Path) -> None:
    rows = [f"https://regio{i}.example/feed.xml,Regio {i}" for i in range(400)]
    path = env / "sources.csv"
    path.write_text(
        "url,name\n" + "\n".join([*rows[:200], "ftp://x.example/feed,ftp", *rows[200:]]) + "\n",
        encoding="utf-8",
    )
    refused = runner.invoke(app, ["sources", "import", str(path)])
    assert refused.exit_code == 1
    assert "nothing imported, 1 problem(s)" in refused.stderr
    assert "line 202: unsupported source URL 'ftp://x.example/feed'" in refused.stderr
    assert "regio" not in runner.invoke(app, ["sources", "list", "--all"], env={"COLUMNS": "250"}).stdout

    path.write_text("url,name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    started = time.perf_counter()
    added = runner.invoke(app, ["sources", "import", str(path), "--interval", "900"])
    assert added.exit_code == 0, added.output
    assert time.perf_counter() - started < 10  # one call for 400 sources, not 400 calls of ~4 s
    assert "400 source(s) added, 0 already present" in added.stdout
    listed = runner.invoke(app, ["sources", "list", "--all"], env={"COLUMNS": "250"}).stdout
    assert "https://regio399.example/feed.xml" in listed and "900s" in listed
    again = runner.invoke(app, ["sources", "import", str(path)])
    assert again.exit_code == 0 and "0 source(s) added, 400 already present" in again.stdout
    missing = runner.invoke(app, ["sources", "import", str(env / "nope.csv")])
    assert missing.exit_code == 1 and "file not found" in missing.stderr


def test_sources_list_shows_health_and_pauses_with_reason(env: Path) -> None:
    runner.invoke(app, ["sources", "add", "https://zuiderhaven.example/nieuws.rss", "--name", "gemeente"])
    assert runner.invoke(app, ["sources", "pause", "1"]).exit_code == 0
    listed = runner.invoke(app, ["sources", "list", "--all"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0
    for heading in ("last success", "fails", "items", "next poll", "paused because"):
        assert heading in listed.stdout
    assert "paused by hand" in listed.stdout and "never" in listed.stdout
    assert runner.invoke(app, ["sources", "resume", "1"]).exit_code == 0
    assert "paused by hand" not in runner.invoke(app, ["sources", "list"], env={"COLUMNS": "250"}).stdout
    assert runner.invoke(app, ["sources", "remove", "1"]).exit_code == 0
    missing = runner.invoke(app, ["sources", "resume", "1"])
    assert missing.exit_code == 1 and "no source with id 1" in missing.stderr


def test_officials_import_generates_searches_unless_told_not_to(env: Path) -> None:
    plain = runner.invoke(app, ["officials", "import", str(DEMO_DIR / "watchlist.yaml"), "--no-searches"])
    assert plain.exit_code == 0 and "search sources: 0 added" in plain.stdout
    searched = runner.invoke(app, ["officials", "import", str(DEMO_DIR / "watchlist.yaml")])
    assert searched.exit_code == 0, searched.output
    assert "0 official(s) added" in searched.stdout and "search sources: 0 added" not in searched.stdout
    listed = runner.invoke(app, ["sources", "list", "--all"], env={"COLUMNS": "250"}).stdout
    assert "https://search.invalid/rss/search?q=" in listed and "google_news" in listed
    removed = runner.invoke(app, ["officials", "remove", "1"])
    assert removed.exit_code == 0 and "search source(s) paused" in removed.stdout


def test_backfill_command_pages_back_with_a_progress_report(
    env: Path, loopback: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from threatwatch.cli.watch import backfill

    url = f"{FEED_PATH}?actor=pieterhoekstra.bsky.social&limit=50"
    loopback.routes[url] = Route(body=fixture("bluesky_author_feed_page1.json"))
    loopback.routes[with_query(url, cursor="2026-11-25T12:00:00.000Z")] = Route(
        body=fixture("bluesky_author_feed_page2.json")
    )
    loopback.routes["/broken.xml"] = Route(status=404)
    for path in (f"{FEED_PATH}?actor=pieterhoekstra.bsky.social", "/broken.xml"):
        assert runner.invoke(app, ["sources", "add", loopback.url(path)]).exit_code == 0
    backfill(datetime(2026, 11, 1, tzinfo=UTC))
    out = capsys.readouterr()
    assert "backfill since 2026-11-01: 4 new post(s) from 2 source(s)" in out.out
    assert "source 2: HTTP 404" in out.err
    bad = runner.invoke(app, ["collect", "--since", "gisteren"])
    assert bad.exit_code == 1 and "is not a date" in bad.stderr
    wrong_kind = runner.invoke(app, ["collect", "--kind", "twitter"])
    assert wrong_kind.exit_code == 1 and "unknown source kind 'twitter'" in wrong_kind.stderr
