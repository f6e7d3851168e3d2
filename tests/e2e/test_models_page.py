"""An admin's look at the model versions in a real headless Chromium: the model card's pictures load
under the strict CSP (lazily, as they scroll into view) and the functional suite shows each
functionality against its floor."""

from __future__ import annotations

import json

from playwright.sync_api import Browser, ConsoleMessage, Response, expect

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.domain import Role
from threatwatch.web.modelinfo import FIGURES

from ..conftest import SHIPPED_MODELS
from ..web.seed import PASSWORD, make_user

LIVE = (SHIPPED_MODELS / "CURRENT").read_text().strip()


def test_admin_sees_model_card_figures_and_functional_floors(
    browser: Browser, live_url: str, e2e_settings: Settings
) -> None:
    with session_factory(engine_for(e2e_settings.database_url))() as session, session.begin():
        make_user(session, Role.ADMIN, "beheerder")
    metrics = json.loads((SHIPPED_MODELS / LIVE / "metrics.json").read_text())
    functionalities = metrics["functional"]["functionalities"]

    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    csp_errors: list[str] = []
    figure_statuses: list[int] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            csp_errors.append(message.text)

    def on_response(response: Response) -> None:
        if "/figures/" in response.url:
            figure_statuses.append(response.status)

    page.on("console", on_console)
    page.on("response", on_response)

    page.goto(f"{live_url}/models")
    expect(page).to_have_url(f"{live_url}/login?next=/models")
    page.fill("input[name=username]", "beheerder")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_url}/models")
    expect(page.locator("h1")).to_have_text("Model versions")

    section = page.locator(f'section[id="model-{LIVE}"]')
    images = section.locator(".figures img")
    expect(images).to_have_count(len(FIGURES))
    for index in range(len(FIGURES)):
        image = images.nth(index)
        assert image.get_attribute("loading") == "lazy" and (image.get_attribute("alt") or "").strip()
        image.scroll_into_view_if_needed()  # lazy: the browser fetches it once it is near the viewport
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    widths = page.evaluate(
        "id => Array.from(document.getElementById(id).querySelectorAll('.figures img'), i => i.naturalWidth)",
        f"model-{LIVE}",
    )
    assert len(widths) == len(FIGURES) and all(w > 0 for w in widths), widths
    assert figure_statuses and all(s == 200 for s in figure_statuses), figure_statuses

    # The functional suite: each functionality with its pass rate and floor.
    rows = section.locator("table.functional tbody tr")
    expect(rows).to_have_count(len(functionalities))
    expect(section.locator("table.functional thead")).to_contain_text("Floor")
    direct = section.locator('tr[data-functionality="direct_threat"]')
    expect(direct).to_contain_text("direct_threat")
    expect(direct.locator("td.floor")).to_have_text(f"{functionalities['direct_threat']['floor']:.2f}")
    expect(section.locator("tr.below-floor")).to_have_count(len(metrics["functional"]["below_floor"]))

    assert csp_errors == []  # same-origin pictures pass the strict CSP's img-src 'self'
    context.close()
