"""A support worker manages subscriptions in a real headless Chromium (Debian's, via Playwright)."""

from __future__ import annotations

from playwright.sync_api import Browser, ConsoleMessage, expect
from sqlalchemy import select

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import Subscription
from threatwatch.domain import Role

from ..e2e.conftest import browser, e2e_settings, live_url  # noqa: F401 (fixtures)
from ..web.seed import PASSWORD, make_official, make_user


def test_support_adds_and_removes_a_subscription_in_a_browser(
    browser: Browser,  # noqa: F811
    live_url: str,  # noqa: F811
    e2e_settings: Settings,  # noqa: F811
) -> None:
    sessions = session_factory(engine_for(e2e_settings.database_url))
    with sessions() as session, session.begin():
        make_user(session, Role.SUPPORT, "steunpunt")
        official_id = make_official(session, "Anna de Vries").id
    page = browser.new_context(locale="nl-NL").new_page()
    csp_errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            csp_errors.append(message.text)

    page.on("console", on_console)
    page.goto(f"{live_url}/login?next=/subscriptions")
    page.fill("input[name=username]", "steunpunt")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_url}/subscriptions")
    expect(page.locator("header nav")).to_contain_text("Abonnementen")
    expect(page.locator("#no-failing")).to_be_visible()

    form = page.locator("#add-subscription")
    form.locator("input[name=name]").fill("Steunpunt Noordwaarde")
    form.locator("input[name=subscriber_team]").fill("Steunpunt")
    form.locator("select[name=official_ids]").select_option(str(official_id))
    form.locator("input[name=labels][value=threat]").check()
    form.locator("select[name=channel]").select_option("webhook")
    form.locator("input[name=target]").fill("https://hooks.noordwaarde.example/tw")
    form.locator("input[name=quiet_start]").fill("22:00")
    form.locator("input[name=quiet_end]").fill("07:00")
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(f"{live_url}/subscriptions")
    expect(page.locator("#new-secret")).to_contain_text("whsec_")
    row = page.locator("#subscriptions tr[data-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Anna de Vries")
    expect(row).to_contain_text("bedreiging")
    with sessions() as session:
        [stored] = session.scalars(select(Subscription)).all()
        assert (stored.official_ids, stored.quiet_start, stored.quiet_end) == (
            [official_id],
            "22:00",
            "07:00",
        )
        assert stored.webhook_secret is not None
        secret = stored.webhook_secret
    assert page.locator("#new-secret code").inner_text() == secret
    page.goto(f"{live_url}/subscriptions")  # the secret was shown once, in the answer to the form
    expect(page.locator("#new-secret")).to_have_count(0)
    assert secret not in page.content()
    expect(page.locator("#subscriptions tr[data-id]")).to_have_count(1)

    # A wrong address is refused with the reason; nothing is stored.
    form.locator("input[name=name]").fill("Fout")
    form.locator("input[name=subscriber_team]").fill("Steunpunt")
    form.locator("select[name=official_ids]").select_option(str(official_id))
    form.locator("select[name=channel]").select_option("email")
    form.locator("input[name=target]").fill("geen-adres")
    form.locator("button[type=submit]").click()
    expect(page.locator("p.flash.error")).to_contain_text("not an e-mail address")
    expect(page.locator("#subscriptions tr[data-id]")).to_have_count(1)

    page.locator("#subscriptions tr[data-id] button[type=submit]").click()
    expect(page.locator("#subscriptions tr[data-id]")).to_have_count(0)
    assert csp_errors == []
