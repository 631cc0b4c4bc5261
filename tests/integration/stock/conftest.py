"""The stock pipeline against the emulator: one stock-ingest API and one trend API for the
session, trend workers per test module, and taps on the topics to see what was published.

Tests use their own symbols, so they never read each other's ticks, state or signals.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from stock_checks import TrendWorkers

from devkit.testing import EventTap, LocalStack, ServiceProcess, machine_auth
from shared.aws import AwsClients


@pytest.fixture(scope="session")
def stock_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stock")


@pytest.fixture(scope="session")
def ingest_url(stack: LocalStack, stock_logs: Path) -> Iterator[str]:
    """The URL of a stock-ingest API process; its worker relays the events it commits."""
    with (
        ServiceProcess.api("services.stock_ingest.main:app", stack.env,
                           log_path=stock_logs / "ingest.log") as api,
        ServiceProcess.worker("services.stock_ingest.worker", stack.env,
                              log_path=stock_logs / "ingest-worker.log"),
    ):
        yield api.url


@pytest.fixture(scope="session")
def trend_url(stack: LocalStack, stock_logs: Path) -> Iterator[str]:
    """The URL of a trend API process."""
    with ServiceProcess.api("services.trend.main:app", stack.env,
                            log_path=stock_logs / "trend.log") as api:
        yield api.url


@pytest_asyncio.fixture(scope="session")
async def ingest(ingest_url: str, stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the stock-ingest API that posts as the producers' machine client (a
    client-credentials token with the scope stocks/ingest, from the emulator)."""
    async with httpx.AsyncClient(base_url=ingest_url, timeout=60,
                                 auth=machine_auth(stack)) as client:
        yield client


@pytest_asyncio.fixture(scope="session")
async def trends(trend_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=trend_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def workers(stack: LocalStack, stock_logs: Path) -> Iterator[TrendWorkers]:
    """Trend worker processes this module starts; all stopped when the module ends."""
    # Every signal is e-mailed here (these tests count alerts against signals); the alert
    # window has its own test.
    pool = TrendWorkers({**stack.env, "TREND_ALERT_WINDOW_SECONDS": "0"},
                        stock_logs / f"workers-{uuid.uuid4().hex[:6]}")
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest_asyncio.fixture(scope="module")
async def alerts(aws: AwsClients, stack: LocalStack) -> AsyncIterator[EventTap]:
    """A queue on stock-trend-alerts (SNS envelopes, so subjects and attributes show)."""
    async with EventTap.open(aws, stack.resources, "stock-trend-alerts", raw=False) as tap:
        yield tap


@pytest_asyncio.fixture(scope="module")
async def signal_events(aws: AwsClients, stack: LocalStack) -> AsyncIterator[EventTap]:
    """A queue on trend-events."""
    async with EventTap.open(aws, stack.resources, "trend-events") as tap:
        yield tap


@pytest_asyncio.fixture(scope="module")
async def recorded_events(aws: AwsClients, stack: LocalStack) -> AsyncIterator[EventTap]:
    """A FIFO queue on stock-ticks.fifo: every stock.ticks.recorded event, in group order."""
    async with EventTap.open(aws, stack.resources, "stock-ticks.fifo") as tap:
        yield tap
