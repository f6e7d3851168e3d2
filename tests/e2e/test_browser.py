"""An analyst's morning in a real headless Chromium: log in, use the keyboard, claim, decide, escalate,
download evidence; a hostile post stays text and no script from it runs."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, expect
from sqlalchemy import select

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import Decision, Escalation
from threatwatch.domain import Role

from ..web.seed import HOSTILE, PASSWORD, make_item, make_official, make_source, make_user


def _seed(settings: Settings) -> tuple[int, int, int]:
    with session_factory(engine_for(settings.database_url))() as session, session.begin():
        make_user(session, Role.ANALYST, "analist")
        official = make_official(session)
        source = make_source(session)
        spans = [{"start": 0, "end": 12, "text": "Burgemeester", "weight": 0.4}]
        hostile = make_item(
            session,
            source=source,
            text=HOSTILE,
            url="javascript:alert(3)",
            officials=(official,),
            explanation=spans,
            score=0.99,
        )
        second = make_item(session, source=source, text="Ik weet waar je woont", label="doxxing", score=0.7)
        return hostile.item_id, second.item_id, official.id


def _watch(page: Page) -> tuple[list[str], list[str]]:
    dialogs: list[str] = []
    csp_errors: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            csp_errors.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    return dialogs, csp_errors


def _no_injection(page: Page) -> None:
    assert page.locator("main img").count() == 0
    assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0
    assert page.locator("a[href^='javascript']").count() == 0


def test_analyst_flow_in_a_real_browser(browser: Browser, live_url: str, e2e_settings: Settings) -> None:
    hostile_id, second_id, official_id = _seed(e2e_settings)
    context = browser.new_context(accept_downloads=True, locale="nl-NL")
    page = context.new_page()
    dialogs, csp_errors = _watch(page)

    page.goto(f"{live_url}/queue")
    expect(page).to_have_url(f"{live_url}/login?next=/queue")
    page.fill("input[name=username]", "analist")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_url}/queue")
    expect(page.locator("h1")).to_have_text("Reviewwachtrij")

    # The hostile post is visible as text, and nothing of it became markup.
    first_row = page.locator("tr.entry").first
    expect(first_row).to_contain_text("<script>alert('xss')</script>")
    expect(first_row).to_contain_text('<img src=x onerror="alert(1)">')
    _no_injection(page)

    # Keyboard: j/k move the selection, c claims the selected row.
    page.keyboard.press("j")
    expect(page.locator("tr.entry.selected")).to_have_attribute("data-item-id", str(hostile_id))
    page.keyboard.press("j")
    expect(page.locator("tr.entry.selected")).to_have_attribute("data-item-id", str(second_id))
    page.keyboard.press("k")
    page.keyboard.press("c")
    expect(page).to_have_url(f"{live_url}/items/{hostile_id}")
    expect(page.locator(".flash")).to_contain_text(f"Item {hostile_id} geclaimd.")
    expect(page.locator("blockquote.post mark")).to_have_text("Burgemeester")
    expect(page.locator("blockquote.post")).to_contain_text("<script>alert('xss')</script>")
    expect(page.locator("code.url").last).to_have_text("javascript:alert(3)")
    _no_injection(page)

    # 1 = threat: the decision is made with one key.
    page.keyboard.press("1")
    expect(page.locator(".flash")).to_contain_text("beoordeeld als bedreiging")

    # e jumps to the escalation form; escalate as critical.
    page.keyboard.press("e")
    assert page.evaluate("document.activeElement.id") == "urgency"
    page.select_option("#urgency", "critical")
    page.click("#escalate-form button[type=submit]")
    expect(page.locator(".history")).to_contain_text("urgentie kritiek")

    # Evidence pack: a real download, with the original text.
    with page.expect_download() as download_info:
        page.click("#evidence-json")
    pack = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    assert [i["text"] for i in pack["items"]] == [HOSTILE]
    assert pack["items"][0]["escalations"][0]["urgency"] == "critical"
    with page.expect_download() as html_info:
        page.click("#evidence-html")
    assert "&lt;script&gt;" in Path(html_info.value.path()).read_text(encoding="utf-8")

    # Back on the queue: e opens the selected item at its escalation form; 4 decides a row in place.
    page.goto(f"{live_url}/queue")
    page.keyboard.press("j")
    expect(page.locator("tr.entry.selected")).to_have_attribute("data-item-id", str(second_id))
    page.keyboard.press("e")
    expect(page).to_have_url(f"{live_url}/items/{second_id}#escalate")
    expect(page.locator("#urgency")).to_be_focused()
    page.go_back()
    page.keyboard.press("j")
    page.keyboard.press("4")
    expect(page).to_have_url(f"{live_url}/queue")
    expect(page.locator(".flash")).to_contain_text(f"Item {second_id} beoordeeld als belediging")
    expect(page.locator(".empty")).to_have_text("De wachtrij is leeg.")

    # The official's page draws its chart server-side.
    page.goto(f"{live_url}/officials/{official_id}?lang=en")
    expect(page.locator("svg.chart rect.flagged")).to_have_count(30)
    expect(page.locator("h2").first).to_contain_text("Mentions per day")

    assert dialogs == []  # no alert() from any post ever ran
    assert csp_errors == []  # our own CSS and JS load under the strict CSP
    context.close()

    with session_factory(engine_for(e2e_settings.database_url))() as session:
        assert sorted(session.scalars(select(Decision.label))) == ["abuse", "threat"]
        assert session.scalars(select(Escalation.urgency)).all() == ["critical"]


def test_api_docs_render_offline_under_the_strict_csp(browser: Browser, live_url: str) -> None:
    page = browser.new_page()
    dialogs, csp_errors = _watch(page)
    page.goto(f"{live_url}/api/docs")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    expect(page.get_by_text("/api/v1/queue/claim-next")).to_be_visible()
    assert csp_errors == [] and dialogs == []
    page.close()
