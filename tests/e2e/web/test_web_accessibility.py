"""axe-core's WCAG 2 A/AA rules (labels, names, contrast, structure) over every page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from conftest import STOCK_SYMBOL, WebStack
from web_support import DESKTOP, WEB, WebPage

from devkit.cognito import DEMO_USERS

pytestmark = pytest.mark.slow

ADMIN = next(u for u in DEMO_USERS if u.admin)
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
PAGES = ["/", "/signin", "/recipes", "/recipes/new", "/meetings", "/admin/meetings", "/stocks",
         f"/stocks/{STOCK_SYMBOL}", "/media"]


@pytest_asyncio.fixture
async def audited(browser: Any, web_stack: WebStack) -> AsyncIterator[WebPage]:
    """A page that may inject axe-core (the app's CSP admits only its own scripts)."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed: cd web && npm ci")
    context = await browser.new_context(viewport=DESKTOP, timezone_id="UTC", locale="en-US",
                                        bypass_csp=True)
    page = WebPage(await context.new_page(), web_stack.url).attach()
    yield page
    await context.close()


async def test_every_page_passes_axe_wcag_a_and_aa(audited: WebPage, web_stack: WebStack) -> None:
    """Signed in as an admin (so every control is there), no page has a serious or critical
    WCAG 2 A/AA violation."""
    await audited.sign_in("admin", ADMIN.password)
    found = {}
    # The Insights page once the insights API serves its reports (401 without a token).
    pages = PAGES
    if "insights" in web_stack.apis:
        async with httpx.AsyncClient(base_url=web_stack.apis["insights"], timeout=30) as http:
            if (await http.get("/insights/reports/overview")).status_code != 404:
                pages = [*PAGES, "/insights"]
    for route in pages:
        await audited.open(route)
        await audited.page.wait_for_load_state("networkidle")
        if not await audited.page.evaluate("() => 'axe' in window"):
            await audited.page.add_script_tag(path=str(AXE))
        result = await audited.page.evaluate(
            "() => axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})")
        assert result["passes"], f"axe checked nothing on {route}"
        serious = [f"{v['id']} ({v['impact']}): {v['help']} -> "
                   f"{[n['target'] for n in v['nodes']][:3]}"
                   for v in result["violations"] if v["impact"] in ("serious", "critical")]
        if serious:
            found[route] = serious
    assert not found, found
    audited.assert_console_clean()
