"""The whole local platform for the browser tests: the emulator (the kit's ``stack``), every
service API and worker as a process, and the gateway serving the built web app on one origin,
driven by Playwright through Debian's Chromium.

Skips, with the reason, where Chromium, the Playwright package or npm (to build web/dist) is
missing. Logs of every process go to test-artifacts/web/logs/.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from web_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    DIST,
    WebPage,
    build_web,
)

from devkit.testing import LocalStack, ServiceProcess, auth_header

STOCK_SYMBOL = "RGTA"
INSIGHTS_PACKAGE = Path(__file__).resolve().parents[3] / "services" / "insights"
STOCK_TICKS = 160
# Stops the processes of web_stack; run by the teardown hook below or at the session's end.
_STOPPERS: list[Callable[[], None]] = []


@dataclass
class WebStack:
    """The running platform: the gateway's URL (the only one the browser uses) and the APIs'."""

    url: str
    apis: dict[str, str]
    stack: LocalStack
    # The environment the services run with (for a one-off command such as a compaction).
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, or a skip saying how to install it."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver "
                    "(Playwright's own browser download cannot work here)")
    pytest.importorskip("playwright.async_api", reason="the playwright package is not installed "
                        "(pip install -e '.[dev]')")
    return CHROMIUM


@pytest.fixture(scope="session")
def web_dist(chromium: Path) -> Path:
    """web/dist, built from web/ first when it is missing or stale."""
    problem = build_web()
    if problem:
        pytest.skip(problem)
    return DIST


def stock_ticks(symbol: str, count: int, end: datetime) -> list[dict[str, object]]:
    """``count`` ticks, 20 s apart up to ``end``: a wave whose 5- and 20-tick averages cross."""
    start = end - timedelta(seconds=20 * (count - 1))
    return [{"symbol": symbol, "timestamp": (start + timedelta(seconds=20 * i)).isoformat(),
             "price": round(100 + 6 * math.sin(i / 7) + i * 0.05, 2), "volume": 100 + i}
            for i in range(count)]


def _wait_for_trend(trend_url: str, symbol: str, ticks: int) -> None:
    for _ in range(600):
        response = httpx.get(f"{trend_url}/trends/{symbol}", timeout=10)
        if response.status_code == 200 and response.json()["ticks_seen"] >= ticks:
            return
        time.sleep(0.1)
    raise AssertionError(f"the trend worker did not process {ticks} ticks of {symbol}")


@pytest.fixture(scope="session")
def web_stack(stack: LocalStack, web_dist: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    """Every API and worker plus the gateway, started together; stock ticks already in."""
    logs = ARTIFACTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    env = {**stack.env, "PYTHONUNBUFFERED": "1"}
    meetings_env = {**env, "MEETINGS_OPENS": "07:00", "MEETINGS_CLOSES": "21:00"}
    media_env = {**env, "MEDIA_ENCODE_PRESET": "ultrafast", "MEDIA_PROGRESS_INTERVAL_SECONDS": "1",
                 "MEDIA_WORK_DIR": str(tmp_path_factory.mktemp("web-media"))}
    apis = {
        "recipes": ServiceProcess.api("services.recipes.main:app", env,
                                      log_path=logs / "recipes.log"),
        "meetings": ServiceProcess.api("services.meetings.main:app", meetings_env,
                                       log_path=logs / "meetings.log"),
        "stock-ingest": ServiceProcess.api("services.stock_ingest.main:app", env,
                                           log_path=logs / "stock-ingest.log"),
        "trend": ServiceProcess.api("services.trend.main:app", env, log_path=logs / "trend.log"),
        "media-jobs": ServiceProcess.api("services.media_jobs.main:app", media_env,
                                         log_path=logs / "media-jobs.log"),
    }
    # Playback URLs default to the media-jobs API's own port; the web app plays them from its
    # own origin (the gateway), as it does with `make run`.
    media_env["MEDIA_JOBS_PORT"] = str(apis["media-jobs"].port)
    apis["media-jobs"].env["MEDIA_JOBS_PORT"] = media_env["MEDIA_JOBS_PORT"]
    workers = [
        ServiceProcess.worker("services.recipes.worker", env, log_path=logs / "recipes-worker.log"),
        ServiceProcess.worker("services.meetings.worker", meetings_env,
                              log_path=logs / "meetings-worker.log"),
        # Its relay publishes the tick events the stock-ingest API commits to its outbox.
        ServiceProcess.worker("services.stock_ingest.worker", env,
                              log_path=logs / "stock-ingest-worker.log"),
        ServiceProcess.worker("services.trend.worker", env, log_path=logs / "trend-worker.log"),
        ServiceProcess.worker("services.media_jobs.worker", media_env,
                              log_path=logs / "media-jobs-worker.log"),
    ]
    # insights (the page views every page reports, the About page's counter, the Insights
    # page's reports), once its package is there. Its per-client limits are lifted: every
    # browser test posts page views from the same address, and a 429 would be a console error.
    if INSIGHTS_PACKAGE.joinpath("main.py").exists():
        insights_env = {**env, "RATE_LIMIT_ANONYMOUS_PER_MINUTE": "100000",
                        "RATE_LIMIT_ANONYMOUS_BURST": "10000",
                        "INSIGHTS_COMPACTION_INTERVAL_SECONDS": "1",
                        "INSIGHTS_LAKE_REFRESH_SECONDS": "0",
                        "INSIGHTS_LAKE_CACHE_DIR": str(tmp_path_factory.mktemp("web-insights"))}
        apis["insights"] = ServiceProcess.api("services.insights.main:app", insights_env,
                                              log_path=logs / "insights.log")
        workers.append(ServiceProcess.worker("services.insights.worker", insights_env,
                                             log_path=logs / "insights-worker.log"))
    gateway = ServiceProcess.gateway(env, apis, web_dist, log_path=logs / "gateway.log")
    processes = [*apis.values(), *workers, gateway]

    def stop() -> None:
        for process in reversed(processes):
            process.stop()

    _STOPPERS.append(stop)
    try:
        # Started side by side: each waits for its own /readyz (generously: the machine may
        # be busy with other work).
        with ThreadPoolExecutor(len(processes)) as pool:
            list(pool.map(lambda p: p.start(timeout=180), processes))
        ticks = stock_ticks(STOCK_SYMBOL, STOCK_TICKS, datetime.now(UTC) - timedelta(minutes=1))
        token = httpx.post(stack.settings.cognito_token_url, auth=(
            stack.machine_client_id, stack.machine_client_secret), data={
            "grant_type": "client_credentials", "scope": "stocks/ingest"}, timeout=30)
        assert token.status_code == 200, token.text
        response = httpx.post(f"{apis['stock-ingest'].url}/stocks/ticks", json={"ticks": ticks},
                              headers=auth_header(token.json()["access_token"]), timeout=60)
        assert response.status_code == 202, response.text
        _wait_for_trend(apis["trend"].url, STOCK_SYMBOL, STOCK_TICKS)
        yield WebStack(gateway.url, {name: api.url for name, api in apis.items()}, stack,
                       apis["insights"].env if "insights" in apis else env)
    finally:
        stop()


@pytest_asyncio.fixture(scope="session")
async def browser(chromium: Path, web_stack: WebStack) -> AsyncIterator[Any]:
    """One Chromium for the session (Playwright gives it a fresh user data directory).

    Playwright's async API runs on the tests' own event loop; its sync API would hold a loop
    of its own and stop every later async fixture of the session from running.
    """
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        yield instance
        await instance.close()


@pytest_asyncio.fixture
async def ui(browser: Any, web_stack: WebStack) -> AsyncIterator[WebPage]:
    """A fresh browser context (no session storage) on the gateway, desktop-sized, in UTC."""
    context = await browser.new_context(viewport=DESKTOP, timezone_id="UTC", locale="en-US",
                                        base_url=web_stack.url)
    from playwright.async_api import expect

    timeout = float(os.environ.get("REGATTA_UI_TIMEOUT_MS", "30000"))
    context.set_default_timeout(timeout)
    expect.set_options(timeout=timeout)
    page = WebPage(await context.new_page(), web_stack.url).attach()
    yield page
    await context.close()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the platform's processes after the last browser test: later tests of the session
    share the emulator, and these workers would compete for their queues."""
    here = Path(__file__).parent
    if nextitem is None or here not in Path(str(nextitem.path)).parents:
        while _STOPPERS:
            _STOPPERS.pop()()
