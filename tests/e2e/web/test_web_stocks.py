"""The stocks pages: the symbol list and a live candle chart with overlays and signals."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from conftest import STOCK_SYMBOL, WebStack
from web_support import WebPage

from devkit.testing import auth_header

playwright = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
expect = playwright.expect
pytestmark = pytest.mark.slow


async def test_symbol_chart_draws_candles_overlays_and_signals_and_refreshes(
    ui: WebPage, web_stack: WebStack, machine_token: str
) -> None:
    """The list links the symbol; its page draws candles, both SMAs, the Bollinger band and a
    marker per signal, lists indicators and signals, and picks up a new tick without reload."""
    page = ui.page
    await ui.open("/stocks")
    row = page.locator("#symbols tr", has=page.get_by_role("link", name=STOCK_SYMBOL))
    await expect(row).to_contain_text("160")
    await ui.screenshot("stocks")
    await row.get_by_role("link", name=STOCK_SYMBOL).click()

    chart = page.locator("#chart svg.chart")
    await expect(chart).not_to_have_attribute("data-candles", "0")
    for part in ("path.sma-short", "path.sma-long", "path.band", ".candles rect"):
        await expect(chart.locator(part).first).to_be_attached()
    async with httpx.AsyncClient(base_url=web_stack.url) as http:
        signals = (await http.get(f"/trends/{STOCK_SYMBOL}/signals?limit=50")).json()["items"]
    assert signals, "the seeded wave crosses its averages"
    await expect(chart.locator("path.signal")).to_have_count(len(signals))
    await expect(page.locator("#signals li")).to_have_count(len(signals))
    await expect(page.locator("#indicators")).to_contain_text("SMA 5")
    await ui.screenshot("stock-chart")

    # A new tick at a price the wave never reaches: the page polls and shows it.
    tick = {"symbol": STOCK_SYMBOL, "timestamp": datetime.now(UTC).isoformat(), "price": 321.5,
            "volume": 7}
    async with httpx.AsyncClient(base_url=web_stack.apis["stock-ingest"]) as http:
        response = await http.post("/stocks/ticks", json=tick,
                                   headers=auth_header(machine_token))
    assert response.status_code == 202, response.text
    await expect(page.locator("#stock-headline")).to_contain_text("321.50", timeout=60_000)
    ui.assert_console_clean()
