"""The whole pipeline, producer -> stock-ingest -> SNS FIFO -> SQS FIFO -> trend worker -> APIs,
held against offline truth: the ticks sent, and TA-Lib over the ticks the table holds."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
import pytest_asyncio
from stock_checks import (
    Produced,
    TrendWorkers,
    all_signals,
    archived_ids,
    assert_matches_oracle,
    oracle,
    produce,
    stored_ticks,
    wait_for_empty_queue,
    wait_for_relayed,
    wait_for_trend,
)

from devkit.testing import EventTap, LocalStack, queue_depth
from services.stock_ingest.models import format_timestamp
from shared.aws import AwsClients

pytestmark = pytest.mark.integration

SYMBOLS = ["PIPA", "PIPB", "PIPC", "PIPD"]
TICKS = 2400


@pytest_asyncio.fixture(scope="module")
async def run(ingest: httpx.AsyncClient, trends: httpx.AsyncClient, workers: TrendWorkers,
              alerts: EventTap, signal_events: EventTap, recorded_events: EventTap, aws: AwsClients,
              stack: LocalStack) -> Produced:
    """2,400 ticks of four symbols sent by the producer and fully processed by one worker,
    whose relay has published every signal it committed."""
    workers.start()
    produced = await produce(ingest, SYMBOLS, TICKS, seed=11)
    await wait_for_trend(trends, {s: len(t) for s, t in produced.by_symbol.items()})
    await wait_for_relayed(aws, stack.resources, "trend")
    return produced


async def test_every_accepted_tick_is_in_the_table_exactly_once(
    run: Produced, aws: AwsClients, stack: LocalStack
) -> None:
    """The curated table holds each accepted tick once, under its (time, id) key, nothing else."""
    for symbol, ticks in run.by_symbol.items():
        items = await stored_ticks(aws, stack.resources, symbol)
        keys = [i["tick_key"]["S"] for i in items]
        assert len(keys) == len(set(keys)) == len(ticks)
        assert {k.partition("#")[2] for k in keys} == {t.id for t in ticks}
        assert keys == sorted(keys)


async def test_every_accepted_tick_is_in_the_archive_exactly_once(
    run: Produced, aws: AwsClients, stack: LocalStack
) -> None:
    """Across the hour partitions, each accepted tick id appears in exactly one object line."""
    counts = await archived_ids(aws, stack.resources, set(SYMBOLS), *run.span)
    expected = {t.id for ticks in run.by_symbol.values() for t in ticks}
    assert set(counts) == expected
    assert set(counts.values()) == {1}


async def test_symbol_statistics_count_every_tick(run: Produced, ingest: httpx.AsyncClient) -> None:
    """GET /stocks/symbols: first/last tick time and tick count of each symbol."""
    items = {s["symbol"]: s for s in (await ingest.get("/stocks/symbols")).json()["items"]}
    for symbol, ticks in run.by_symbol.items():
        assert items[symbol] == {
            "symbol": symbol, "tick_count": len(ticks),
            "first_tick_at": format_timestamp(ticks[0].timestamp),
            "last_tick_at": format_timestamp(ticks[-1].timestamp),
        }


async def test_trend_state_equals_talib_from_scratch(
    run: Produced, trends: httpx.AsyncClient, aws: AwsClients, stack: LocalStack
) -> None:
    """Indicators and the whole signal list equal TA-Lib over the stored ticks, from scratch."""
    for symbol in SYMBOLS:
        view = (await trends.get(f"/trends/{symbol}")).json()
        stored = {i["tick_key"]["S"].partition("#")[2] for i in
                  await stored_ticks(aws, stack.resources, symbol)}
        ticks = [t for t in run.by_symbol[symbol] if t.id in stored]
        assert len(ticks) == view["ticks_seen"]
        assert view["ignored"] == {"duplicates": 0, "out_of_order": 0}
        assert view["as_of"] == format_timestamp(ticks[-1].timestamp)
        assert_matches_oracle(view, await all_signals(trends, symbol), oracle(ticks))


async def test_each_signal_is_alerted_and_announced_exactly_once(
    run: Produced, trends: httpx.AsyncClient, alerts: EventTap, signal_events: EventTap
) -> None:
    """The alerts topic carries each signal once, with the original subject and text; so does
    trend-events as a structured trend.signal.detected event."""
    await alerts.drain()
    await signal_events.drain()
    for symbol in SYMBOLS:
        signals = await all_signals(trends, symbol)
        assert signals, f"{symbol} produced no crossover: too few ticks for the test to mean much"
        mine = [m for m in alerts.events
                if m["MessageAttributes"]["symbol"]["Value"] == symbol]
        ids = Counter(m["MessageAttributes"]["signal_id"]["Value"] for m in mine)
        assert len(mine) == len(signals) and set(ids.values()) == {1}
        assert {m["Subject"] for m in mine} == {f"Stock Alert: {symbol}"}
        assert sorted(m["Message"] for m in mine) == sorted(s["message"] for s in signals)
        events = [e for e in signal_events.events if e["subject"] == symbol]
        assert sorted(e["id"] for e in events) == sorted(ids)
        assert {e["type"] for e in events} == {"dev.regatta.trend.trend.signal.detected.v1"}
        by_time = {e["data"]["at"]: e["data"] for e in events}
        for signal in signals:
            assert {k: by_time[signal["at"]][k] for k in signal} == signal


async def test_redelivering_every_tick_event_changes_nothing(
    run: Produced, trends: httpx.AsyncClient, aws: AwsClients, stack: LocalStack,
    alerts: EventTap, recorded_events: EventTap,
) -> None:
    """Every stock.ticks.recorded event sent to the trend queue again: state, signals, alerts
    all stay as they were (the events' ids were applied already)."""
    await recorded_events.drain()
    mine = [e for e in recorded_events.events if e["subject"] in SYMBOLS]
    assert sum(len(e["data"]["ticks"]) for e in mine) == TICKS
    before = {s: (await trends.get(f"/trends/{s}")).json() for s in SYMBOLS}
    signals_before = {s: await all_signals(trends, s) for s in SYMBOLS}
    await alerts.drain()
    sqs = await aws.client("sqs")
    queue = await stack.resources.queue_url(aws, "trend-ticks.fifo")
    for start in range(0, len(mine), 10):
        response = await sqs.send_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(i), "MessageBody": json.dumps(event), "MessageGroupId": event["subject"],
             "MessageDeduplicationId": uuid.uuid4().hex,
             "MessageAttributes": {"type": {"DataType": "String", "StringValue": event["type"]}}}
            for i, event in enumerate(mine[start : start + 10])])
        assert not response.get("Failed")
    await wait_for_empty_queue(aws, stack.resources, "trend-ticks.fifo")
    for symbol in SYMBOLS:
        assert (await trends.get(f"/trends/{symbol}")).json() == before[symbol]
        assert await all_signals(trends, symbol) == signals_before[symbol]
    await wait_for_relayed(aws, stack.resources, "trend")  # anything queued is sent by now
    assert await alerts.drain() == []


async def test_two_copies_of_an_event_in_one_receive_change_nothing(
    run: Produced, trends: httpx.AsyncClient, aws: AwsClients, stack: LocalStack,
    alerts: EventTap, recorded_events: EventTap,
) -> None:
    """Each of five events sent twice, side by side in its group, so one receive holds both
    copies: handled (not failed into the DLQ), and nothing changes. BatchGetItem refuses a
    key list with repeats, which used to fail every such batch."""
    await recorded_events.drain()
    mine = [e for e in recorded_events.events if e["subject"] == SYMBOLS[0]][-5:]
    before = (await trends.get(f"/trends/{SYMBOLS[0]}")).json()
    await alerts.drain()
    sqs = await aws.client("sqs")
    queue = await stack.resources.queue_url(aws, "trend-ticks.fifo")
    response = await sqs.send_message_batch(QueueUrl=queue, Entries=[
        {"Id": f"{i}-{copy}", "MessageBody": json.dumps(event),
         "MessageGroupId": event["subject"], "MessageDeduplicationId": uuid.uuid4().hex}
        for i, event in enumerate(mine) for copy in range(2)])
    assert not response.get("Failed")
    await wait_for_empty_queue(aws, stack.resources, "trend-ticks.fifo")
    dlq = await queue_depth(aws, stack.resources, "trend-ticks-dlq.fifo")
    assert dlq == {"visible": 0, "in_flight": 0}
    assert (await trends.get(f"/trends/{SYMBOLS[0]}")).json() == before
    assert await alerts.drain() == []


async def test_a_retried_request_is_deduplicated_end_to_end(
    run: Produced, ingest: httpx.AsyncClient, trends: httpx.AsyncClient, aws: AwsClients,
    stack: LocalStack,
) -> None:
    """The producer's last request sent again: same batch, same keys, same counts, same state."""
    body: list[dict[str, Any]] = run.requests[-1]
    symbols = sorted({t["symbol"] for t in body})
    before = {s: (await trends.get(f"/trends/{s}")).json() for s in symbols}
    stats_before = (await ingest.get("/stocks/symbols")).json()
    response = await ingest.post("/stocks/ticks", json={"ticks": body})
    assert response.status_code == 202 and response.json()["accepted"] == len(body)
    await wait_for_empty_queue(aws, stack.resources, "trend-ticks.fifo")
    assert (await ingest.get("/stocks/symbols")).json() == stats_before
    for symbol in symbols:
        assert len(await stored_ticks(aws, stack.resources, symbol)) == len(
            run.by_symbol[symbol])
        assert (await trends.get(f"/trends/{symbol}")).json() == before[symbol]
    counts = await archived_ids(aws, stack.resources, set(symbols), *run.span)
    assert set(counts.values()) == {1}
