"""insights in the browser: the page views every route change reports, the Insights page's
charts drawn from real data (events sent through the collector, compacted into the lake,
read back by the reports), and the static About page's visitor counter."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from conftest import WebStack
from web_support import DESKTOP, WebPage

from devkit.cognito import DEMO_USERS
from devkit.testing import auth_header

playwright = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
expect = playwright.expect
pytestmark = pytest.mark.slow

ADMIN = next(u for u in DEMO_USERS if u.admin)
# A browser people use: HeadlessChrome is a bot to the collector, and bots are no visitors.
PERSON = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
PHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


def needs_insights(web_stack: WebStack) -> None:
    if "insights" not in web_stack.apis:
        pytest.skip("the insights service is not in this tree yet (services/insights)")


@pytest_asyncio.fixture
async def person(browser: Any, web_stack: WebStack) -> AsyncIterator[WebPage]:
    """A fresh context that looks like a person's browser (not a bot), in UTC."""
    context = await browser.new_context(viewport=DESKTOP, timezone_id="UTC", locale="en-US",
                                        user_agent=PERSON, base_url=web_stack.url)
    context.set_default_timeout(30_000)
    page = WebPage(await context.new_page(), web_stack.url).attach()
    yield page
    await context.close()


def collected_events(page: Any) -> tuple[list[str], list[dict[str, Any]], list[int]]:
    """What the page sends to the collector: the request types (a beacon is "ping"), the
    bodies (readable for fetch only: Chromium does not expose a beacon's), the answers."""
    kinds: list[str] = []
    bodies: list[dict[str, Any]] = []
    answers: list[int] = []

    def on_request(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/insights/events"):
            kinds.append(request.resource_type)
            if request.post_data:
                bodies.append(json.loads(request.post_data))

    page.on("request", on_request)
    page.on("response", lambda r: answers.append(r.status)
            if r.url.endswith("/insights/events") else None)
    return kinds, bodies, answers


async def wait_until(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_every_route_change_reports_one_page_view(person: WebPage,
                                                        web_stack: WebStack) -> None:
    """Each route change sends exactly one beacon, which the collector accepts. Where the
    browser refuses beacons, a keepalive fetch carries the same `page` event: the route's
    path without its query, the previous route as referrer. With Do Not Track the event
    carries no client hint at all."""
    needs_insights(web_stack)
    page = person.page
    kinds, _, answers = collected_events(page)
    await person.open("/recipes")
    await person.open("/stocks?x=1")
    await page.get_by_role("link", name="Media").click()
    await wait_until(lambda: len(kinds) >= 3 and len(answers) >= 3)
    await asyncio.sleep(0.3)
    assert kinds == ["ping"] * 3 and answers == [202] * 3
    person.assert_console_clean()

    # The fallback, whose body the test can read.
    context = page.context
    await context.add_init_script("Navigator.prototype.sendBeacon = undefined")
    fresh = WebPage(await context.new_page(), web_stack.url).attach()
    _, sent, answers = collected_events(fresh.page)
    await fresh.open("/recipes")
    await fresh.open("/stocks?x=1")
    await fresh.page.get_by_role("link", name="Media").click()
    await wait_until(lambda: len(sent) >= 3 and len(answers) >= 3)
    assert [e["path"] for e in sent] == ["/recipes", "/stocks", "/media"]
    assert all(e["type"] == "page" and e["id"] for e in sent)
    assert len({e["id"] for e in sent}) == 3
    assert sent[1]["referrer"] == f"{web_stack.url}/recipes"
    assert sent[2]["referrer"] == f"{web_stack.url}/stocks"
    assert sent[0]["properties"] == {"screen": "wide"}
    assert answers == [202] * 3

    await context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})")
    await context.set_extra_http_headers({"DNT": "1"})
    await fresh.page.reload()
    await wait_until(lambda: len(sent) >= 4)
    assert sent[3]["path"] == "/media" and sent[3]["properties"] == {}
    fresh.assert_console_clean()


def seed_events(run: str) -> list[dict[str, Any]]:
    """A small clickstream of today: three visits through the seed's shop (home -> product ->
    cart -> purchase for one of them), from a desktop and a phone."""
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = now.isoformat().replace("+00:00", "Z")
    events = []
    for visit, steps in enumerate([["/home", "/product", "/cart", "event:purchase"],
                                   ["/home", "/product"], ["/home"]]):
        referrer = "https://search.example.org/results" if visit == 0 else None
        for i, step in enumerate(steps):
            event: dict[str, Any] = {"id": f"{run}-{visit}-{i}", "timestamp": stamp}
            if step.startswith("event:"):
                event |= {"type": "track", "name": step[6:], "path": steps[i - 1],
                          "properties": {"amount": 42.5}}
            else:
                event |= {"type": "page", "path": step, "referrer": referrer}
                referrer = f"https://shop.example.org{step}"
            events.append(event)
    return events


def compact(web_stack: WebStack) -> None:
    """One compaction run, as the scheduled ECS task runs it (the worker's timer may have
    taken the lease: then this run does nothing and the worker's does the work)."""
    result = subprocess.run([sys.executable, "-m", "services.insights.compact", "--once"],
                            env=web_stack.env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


async def test_the_insights_page_draws_its_charts_from_the_lake(
    ui: WebPage, web_stack: WebStack, tokens: dict[str, str]
) -> None:
    """Events sent through the collector and compacted reach every panel: the tiles, the
    time series, top pages and referrers, devices, the event mix, the funnel (its default
    steps are the seed's shop) and the figures are the reports' own."""
    needs_insights(web_stack)
    async with httpx.AsyncClient(base_url=web_stack.url, timeout=30) as http:
        probe = await http.get("/insights/reports/overview", headers=auth_header(tokens["admin"]))
    if probe.status_code == 404:
        pytest.skip("the insights API serves no report routes yet (services/insights/main.py "
                    "does not include services.insights.reports_api)")
    run = f"web{int(time.time() * 1000)}"
    events = seed_events(run)
    async with httpx.AsyncClient(base_url=web_stack.url, timeout=30) as http:
        for agent, part in ((PERSON, events[:4]), (PHONE, events[4:])):
            response = await http.post("/insights/events", json={"events": part},
                                       headers={"User-Agent": agent})
            assert response.status_code == 202, response.text
            assert response.json()["accepted"] == len(part)
        await asyncio.to_thread(compact, web_stack)
        admin = auth_header(tokens["admin"])
        deadline = time.monotonic() + 30
        while True:
            pages = (await http.get("/insights/reports/breakdown?by=page&limit=100",
                                    headers=admin)).json()["items"]
            views = {p["value"]: p["pageviews"] for p in pages}
            if views.get("/cart", 0) >= 1 and views.get("/home", 0) >= 3:
                break
            assert time.monotonic() < deadline, f"not in the reports after 30 s: {pages}"
            await asyncio.sleep(0.5)
        overview = (await http.get("/insights/reports/overview", headers=admin)).json()

    page = ui.page
    await ui.sign_in("admin", ADMIN.password)
    await ui.open("/insights")
    for panel in ("overview", "timeseries", "pages", "referrers", "devices", "events",
                  "funnel", "business"):
        await expect(page.locator(f"#insights-{panel}")).to_have_attribute("data-loaded", "true")
    tiles = page.locator("#insights-overview .tile")
    await expect(tiles).to_have_count(6)
    pageviews = int((await tiles.filter(has_text="Page views").locator("dd").inner_text())
                    .replace(",", ""))
    assert pageviews >= overview["pageviews"] >= 6
    chart = page.locator("#insights-timeseries svg.chart")
    await expect(chart).not_to_have_attribute("data-points", "0")
    assert int(await chart.get_attribute("data-total") or 0) >= 1
    await expect(chart.locator("path.line")).to_be_attached()
    top = page.locator("#insights-pages table.bars tbody tr")
    # The row of /home itself (the session's other tests send paths such as /<run>/home).
    home = top.filter(has=page.locator(".bar-label", has_text=re.compile(r"^/home$")))
    await expect(home).to_contain_text(f"{views['/home']:,}")
    await expect(page.locator("#insights-referrers")).to_contain_text("search.example.org")
    await expect(page.locator("#insights-devices")).to_contain_text("mobile")
    await expect(page.locator("#insights-events")).to_contain_text("purchase")
    funnel = page.locator("#funnel-result .funnel li")
    await expect(funnel).to_have_count(4)
    await expect(funnel.first).to_contain_text("/home")
    await expect(funnel.last).to_contain_text("event:purchase")
    for panel in ("overview", "timeseries", "pages", "funnel"):
        await expect(page.locator(f"#insights-{panel} .error:not(:empty)")).to_have_count(0)
    await ui.screenshot("insights")

    # The funnel builder: two steps of the user's choosing.
    steps = page.locator("#funnel-steps li")
    while await steps.count() > 2:
        await steps.last.get_by_role("button", name="Remove this step").click()
    await steps.nth(1).locator("input").fill("/cart")
    await page.get_by_role("button", name="Show funnel").click()
    await expect(funnel).to_have_count(2)
    await expect(funnel.last).to_contain_text("/cart")
    ui.assert_console_clean()


async def test_the_about_page_counts_a_view_per_load(person: WebPage,
                                                     web_stack: WebStack) -> None:
    """about.html shows the counter's views and today's visitors; a reload adds one view and
    no visitor (the same browser, the same day)."""
    needs_insights(web_stack)
    page = person.page
    await page.goto(f"{web_stack.url}/about.html")
    status = page.locator("#counter")
    await expect(status).to_have_attribute("data-state", "ready")
    await expect(page.get_by_role("heading", name="About this deployment")).to_be_visible()
    first = int((await page.locator("#views").inner_text()).replace(",", ""))
    visitors = int((await page.locator("#visitors-today").inner_text()).replace(",", ""))
    assert first >= 1 and visitors >= 1
    await person.screenshot("about")
    await page.reload()
    await expect(status).to_have_attribute("data-state", "ready")
    await expect(page.locator("#views")).to_have_text(f"{first + 1:,}")
    await expect(page.locator("#visitors-today")).to_have_text(f"{visitors:,}")
    person.assert_console_clean()
