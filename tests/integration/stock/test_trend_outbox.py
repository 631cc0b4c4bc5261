"""A trend worker killed right after it commits a batch (fault point trend.batch.committed):
the state, the signals and their alerts and events are committed together, so after a restart
every signal goes out exactly once and no tick is applied twice. And ticks that cross on
almost every tick: more signals than one transaction holds, each still sent once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from stock_checks import (
    ORIGIN,
    TrendWorkers,
    accepted,
    all_signals,
    assert_matches_oracle,
    oracle,
    produce,
    wait_for_empty_queue,
    wait_for_trend,
)

from devkit.testing import (
    EventTap,
    FaultDrill,
    LocalStack,
    ServiceProcess,
    eventually,
    read_all,
)
from services.trend.consumers import SIGNALS_PER_WRITE
from shared.aws import AwsClients

pytestmark = pytest.mark.integration

SYMBOL = "OBXA"
TICKS = 400


async def queued(aws: AwsClients, stack: LocalStack, symbol: str) -> list[dict[str, str]]:
    """The trend outbox's messages about ``symbol`` (alert texts and signal events)."""
    dynamodb = await aws.client("dynamodb")
    items = await read_all(dynamodb.scan, TableName=stack.resources.table("trend-outbox"),
                           ConsistentRead=True)
    return [{"topic": i["topic"]["S"], "body": i["body"]["S"]} for i in items
            if "body" in i and symbol in i["body"]["S"]]


def about(alerts: EventTap, symbol: str = SYMBOL) -> list[dict[str, Any]]:
    """The alerts (SNS envelopes) about ``symbol``."""
    return [m for m in alerts.events
            if m["MessageAttributes"]["symbol"]["Value"] == symbol]


async def started(worker: ServiceProcess, times: int) -> None:
    async def polling() -> bool:
        assert worker.log_path is not None
        assert worker.log_path.read_text().count('"worker.started"') >= times
        return True

    await eventually(polling, timeout=60, interval=0.1)


async def test_a_worker_killed_right_after_its_commit_sends_every_signal_once(
    ingest: httpx.AsyncClient, trends: httpx.AsyncClient, alerts: EventTap, signal_events: EventTap,
    aws: AwsClients, stack: LocalStack, tmp_path: Path,
) -> None:
    # The armed worker's relay polls seldom, so what the batch commits is still in the
    # outbox when the worker dies; the restarted one polls at the usual pace.
    env = {**stack.env, "TREND_BATCH_WINDOW_SECONDS": "0.05", "TREND_ALERT_WINDOW_SECONDS": "0",
           "OUTBOX_POLL_SECONDS": "5", "OUTBOX_IDLE_POLL_SECONDS": "30"}
    worker = ServiceProcess.worker("services.trend.worker", env,
                                   log_path=tmp_path / "worker.log")
    with FaultDrill(worker, "trend.batch.committed") as drill:
        await started(worker, 1)
        produced = await produce(ingest, [SYMBOL], TICKS, seed=41)
        drill.killed()

        # Committed: the state with every tick, the signal rows, and in the outbox an alert
        # and an event per signal, none of them sent yet.
        view = (await trends.get(f"/trends/{SYMBOL}")).json()
        assert view["ticks_seen"] == TICKS
        signals = await all_signals(trends, SYMBOL)
        assert signals, "no crossover: too few ticks for the test to mean much"
        waiting = Counter(m["topic"] for m in await queued(aws, stack, SYMBOL))
        assert waiting == {"stock-trend-alerts": len(signals), "trend-events": len(signals)}
        await alerts.drain()
        assert not about(alerts)

        drill.restart(env={"OUTBOX_POLL_SECONDS": "0.1", "OUTBOX_IDLE_POLL_SECONDS": "0.5"})
        await started(worker, 2)

        async def sent() -> bool:
            await alerts.drain()
            mine = about(alerts)
            assert len(mine) >= len(signals), (len(mine), len(signals))
            return True

        await eventually(sent, timeout=90, interval=0.5)
        # The tick event comes back after its visibility timeout and is recognised as applied.
        await wait_for_empty_queue(aws, stack.resources, "trend-ticks.fifo")
        assert '"outcome": "duplicate"' in worker.log_path.read_text()  # type: ignore[union-attr]

    await alerts.drain()
    await signal_events.drain()
    mine = about(alerts)
    ids = Counter(m["MessageAttributes"]["signal_id"]["Value"] for m in mine)
    assert len(mine) == len(signals) and set(ids.values()) == {1}
    events = [e for e in signal_events.events if e["subject"] == SYMBOL]
    assert sorted(e["id"] for e in events) == sorted(ids)
    assert await queued(aws, stack, SYMBOL) == []

    after = (await trends.get(f"/trends/{SYMBOL}")).json()
    assert after == view
    assert after["ignored"] == {"duplicates": 0, "out_of_order": 0}
    assert await all_signals(trends, SYMBOL) == signals
    assert_matches_oracle(after, signals, oracle(produced.by_symbol[SYMBOL]))


async def test_more_signals_than_a_transaction_holds_are_each_sent_once(
    ingest: httpx.AsyncClient, trends: httpx.AsyncClient, alerts: EventTap, signal_events: EventTap,
    workers: TrendWorkers,
) -> None:
    """A zigzag price crosses the averages on almost every tick: one request's event is
    committed in several full transactions (100 items: state, and per signal its row, event
    and alert), and every signal is stored and sent once, as TA-Lib finds them."""
    symbol = "OBXZ"
    workers.start()
    raw = [{"symbol": symbol, "timestamp": (ORIGIN + timedelta(seconds=i)).isoformat(),
            "price": 100.0 + (3.0 if i % 2 else 0.0) + i * 0.01, "volume": 10}
           for i in range(160)]
    response = await ingest.post("/stocks/ticks", json={"ticks": raw})
    assert response.status_code == 202, response.text
    view = (await wait_for_trend(trends, {symbol: len(raw)}))[symbol]
    signals = await all_signals(trends, symbol)
    assert len(signals) > 3 * SIGNALS_PER_WRITE
    assert_matches_oracle(view, signals, oracle(accepted(raw)))
    assert view["ignored"] == {"duplicates": 0, "out_of_order": 0}

    async def sent() -> bool:
        await alerts.drain()
        await signal_events.drain()
        assert len(about(alerts, symbol)) >= len(signals)
        assert len([e for e in signal_events.events if e["subject"] == symbol]) >= len(signals)
        return True

    await eventually(sent, timeout=60, interval=0.5)
    await alerts.drain()
    ids = Counter(m["MessageAttributes"]["signal_id"]["Value"] for m in about(alerts, symbol))
    assert len(ids) == len(signals) and set(ids.values()) == {1}
    events = [e for e in signal_events.events if e["subject"] == symbol]
    assert sorted(e["id"] for e in events) == sorted(ids)
