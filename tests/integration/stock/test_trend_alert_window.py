"""Trend alerts are throttled: at most one e-mail per symbol and direction per window of tick
time (TREND_ALERT_WINDOW_SECONDS), the rest counted in GET /trends/{symbol}; every signal still
becomes a row and a trend.signal.detected event."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from stock_checks import ORIGIN, TrendWorkers, all_signals, wait_for_relayed, wait_for_trend

from devkit.testing import EventTap, LocalStack, eventually
from services.trend.logic import AlertThrottle
from services.trend.signals import Signal
from shared.aws import AwsClients

pytestmark = pytest.mark.integration

WINDOW = 120  # seconds of tick time


async def test_alerts_are_held_back_inside_their_window(
    ingest: httpx.AsyncClient, trends: httpx.AsyncClient, alerts: EventTap, signal_events: EventTap,
    aws: AwsClients, stack: LocalStack, tmp_path: Path,
) -> None:
    """A zigzag over five minutes of ticks crosses dozens of times: the alerts sent are
    exactly those an offline throttle admits (one per direction per two minutes), the others
    are counted, and every signal still has its event."""
    symbol = "WNDW"
    pool = TrendWorkers({**stack.env, "TREND_ALERT_WINDOW_SECONDS": str(WINDOW)},
                        tmp_path / "workers")
    try:
        pool.start()
        raw = [{"symbol": symbol, "timestamp": (ORIGIN + timedelta(seconds=2 * i)).isoformat(),
                "price": 100.0 + (3.0 if i % 2 else 0.0) + i * 0.01, "volume": 10}
               for i in range(150)]
        response = await ingest.post("/stocks/ticks", json={"ticks": raw})
        assert response.status_code == 202, response.text
        view = (await wait_for_trend(trends, {symbol: len(raw)}))[symbol]
        await wait_for_relayed(aws, stack.resources, "trend")
    finally:
        pool.stop_all()
    signals = [Signal.model_validate({**s, "symbol": symbol, "message": ""})
               for s in await all_signals(trends, symbol)]
    signals.sort(key=lambda s: s.at)
    throttle = AlertThrottle(timedelta(seconds=WINDOW))
    admitted = [s for s in signals if throttle.admit(s)]
    assert len(signals) > 20 and 2 <= len(admitted) <= 2 * (300 // WINDOW + 1)

    async def all_sent() -> list[dict]:
        await alerts.drain()
        await signal_events.drain()
        mine = [m for m in alerts.events
                if m["MessageAttributes"]["symbol"]["Value"] == symbol]
        assert len(mine) >= len(admitted)
        return mine

    mine = await eventually(all_sent, timeout=30)
    directions = Counter(m["MessageAttributes"]["direction"]["Value"] for m in mine)
    assert directions == Counter(s.direction.value for s in admitted)
    events = [e for e in signal_events.events if e["subject"] == symbol]
    assert len({e["id"] for e in events}) == len(signals)
    assert view["alerts"]["suppressed"] == len(signals) - len(admitted) == throttle.suppressed
    assert view["alerts"]["window_seconds"] == WINDOW
