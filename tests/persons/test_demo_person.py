"""The embedded demo shows a person of concern: one fictional account on the demo's fictional Mastodon
feed writes about one fictional alderman for seven days, from criticism and insults to threats with a
time, a place and a weapon. Collected as the demo collects (all demo feeds, the shipped model), the
person tops the persons list with the signals the posts were written to raise."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from threatwatch.collect.sources import add_source
from threatwatch.flows.collect import collect_flow
from threatwatch.persons.signals import ESCALATION, FIXATION, LEAKAGE, PERSISTENCE
from threatwatch.persons.views import list_persons, person_page
from threatwatch.watchlist import import_officials

from ..conftest import DEMO_DIR, flow_overrides
from ..loopback import LoopbackServer, Route

pytestmark = pytest.mark.usefixtures("prefect_harness")

HANDLE = "@duinbuurtwakker@toot.duinbuurt.example"


def test_the_demo_feeds_make_a_person_of_concern(
    database_url: str, session: Session, tmp_path: Path, loopback: LoopbackServer
) -> None:
    import_officials(session, path=DEMO_DIR / "watchlist.yaml")
    for feed in sorted((DEMO_DIR / "feeds").glob("*.xml")):
        loopback.routes[f"/{feed.name}"] = Route(body=feed.read_bytes())
        add_source(session, url=loopback.url(f"/{feed.name}"), name=feed.stem, poll_interval_s=300)
    session.commit()

    collect_flow(settings_overrides=flow_overrides(database_url, tmp_path), force=True)

    persons = list_persons(session, actor="test")
    top = persons.rows[0]  # highest concern first
    assert [account.split(" (")[0] for account in top.accounts] == [HANDLE]
    assert {ESCALATION, FIXATION, PERSISTENCE, LEAKAGE} <= set(top.signals)
    assert top.post_count == 7 and top.flagged_count >= 2

    page = person_page(session, person_id=top.id, actor="test")
    signals = {s.name: s for s in page.signals}
    assert "Youssef El Amrani" in signals[FIXATION].detail
    assert signals[PERSISTENCE].value >= 7  # one post a day, 17 to 23 November
    labels = [entry.label for entry in reversed(page.timeline)]  # oldest first
    assert labels[0] == "none" and labels[-1] in {"threat", "coercion"}
    assert "abuse" in labels[1:4]
    assert [o.name for o in page.officials] == ["Youssef El Amrani"]
