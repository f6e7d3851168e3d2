"""Persons of concern in a real headless Chromium: from a review item to its author's person, linking two
more accounts (one by its number, one by platform and handle) whose posts then join the page, and the
person's evidence exported and opened."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Browser, expect
from sqlalchemy import select

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import AuditEvent, Author
from threatwatch.domain import Role

from ..web.seed import HOSTILE, PASSWORD, make_official, make_source, make_user
from ..web.seed_persons import Authored, authored_item
from .test_browser import _no_injection, _watch


def _seed(settings: Settings) -> tuple[Authored, Authored, Authored]:
    with session_factory(engine_for(settings.database_url))() as session, session.begin():
        make_user(session, Role.ANALYST, "analist")
        anna = make_official(session)
        first = authored_item(
            session,
            source=make_source(session),
            handle="@boos@social.example",
            name="Boze Burger",
            text=HOSTILE,
            officials=(anna,),
            days_ago=10,
        )
        second = authored_item(
            session,
            source=make_source(session, "bsky"),
            handle="@b00s.bsky.social",
            platform="bluesky",
            text="Anna de Vries, ik weet waar je kinderen op school zitten",
            label="doxxing",
            officials=(anna,),
            days_ago=4,
        )
        third = authored_item(
            session,
            source=make_source(session, "forum"),
            handle="Boosaardig",
            platform="forum.example",
            text="Anna de Vries moet maar eens goed opletten als ze naar huis fietst",
            officials=(anna,),
            days_ago=1,
        )
        return first, second, third


def test_a_person_from_an_item_linked_and_exported(
    browser: Browser, live_url: str, e2e_settings: Settings, tmp_path: Path
) -> None:
    first, second, third = _seed(e2e_settings)
    context = browser.new_context(accept_downloads=True, locale="nl-NL")
    page = context.new_page()
    dialogs, csp_errors = _watch(page)

    page.goto(f"{live_url}/items/{first.item_id}")
    page.fill("input[name=username]", "analist")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_url}/items/{first.item_id}")

    # From the item to its author's person: one account, one post so far.
    page.click("#person-link")
    expect(page).to_have_url(f"{live_url}/persons/{first.person_id}")
    expect(page.locator("h1")).to_contain_text(f"Persoon {first.person_id}")
    expect(page.locator("#accounts tr.account")).to_have_count(1)
    expect(page.locator("#timeline li.post-entry")).to_have_count(1)
    expect(page.locator("#timeline")).to_contain_text("<script>alert('xss')</script>")
    _no_injection(page)

    # Link the Bluesky account by its number (as its own person page shows it), with a note.
    page.fill("#link-account", str(second.author_id))
    page.fill("#link-note", "zelfde foto en schrijfstijl")
    page.click("#link-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("@b00s.bsky.social (bluesky) gekoppeld")
    expect(page.locator("#accounts tr.account")).to_have_count(2)
    expect(page.locator(f"#post-{second.post_id}")).to_contain_text("waar je kinderen op school zitten")

    # And the forum account by platform and handle.
    page.fill("#link-platform", "forum.example")
    page.fill("#link-handle", "Boosaardig")
    page.fill("#link-note", "dezelfde zinnen op het forum")
    page.click("#link-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Boosaardig (forum.example) gekoppeld")
    expect(page.locator("#accounts tr.account")).to_have_count(3)
    expect(page.locator("#timeline li.post-entry")).to_have_count(3)
    expect(page.locator(f"#post-{third.post_id}")).to_contain_text("naar huis fietst")
    expect(page.locator("#person-history li[data-action='person.link']")).to_have_count(2)
    expect(page.locator("svg.chart.weeks rect.week")).to_have_count(3)

    # Export the person's evidence: the printable document opens and names every account.
    with page.expect_download() as html_info:
        page.click("#person-evidence-html")
    document = tmp_path / "person.html"
    html_info.value.save_as(document)
    text = document.read_text(encoding="utf-8")
    assert "&lt;script&gt;" in text and "<script>alert" not in text
    opened = context.new_page()
    opened_dialogs, _ = _watch(opened)
    opened.goto(document.as_uri())
    for handle in ("@boos@social.example", "@b00s.bsky.social", "Boosaardig"):
        expect(opened.locator("body")).to_contain_text(handle)
    assert opened_dialogs == []
    opened.close()
    with page.expect_download() as json_info:
        page.click("#person-evidence-json")
    pack = json.loads(Path(json_info.value.path()).read_text(encoding="utf-8"))
    assert {a["id"] for a in pack["accounts"]} == {first.author_id, second.author_id, third.author_id}
    assert sorted(p["post_id"] for p in pack["posts"]) == sorted(
        [first.post_id, second.post_id, third.post_id]
    )

    assert dialogs == [] and csp_errors == []
    context.close()

    with session_factory(engine_for(e2e_settings.database_url))() as session:
        persons = set(session.scalars(select(Author.person_id)))
        assert persons == {first.person_id}
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "person")))
        assert actions.count("person.link") == 2 and "person.view" in actions
        assert actions.count("evidence.person_export") == 2
