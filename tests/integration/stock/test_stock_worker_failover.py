"""Trend workers come and go: the state ends where one uninterrupted worker would have put it
(TA-Lib from scratch over the stored ticks), whether a worker is killed mid-stream or two
share the queue. The state lives in DynamoDB only; the FIFO queue gives each symbol to one
worker at a time."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from stock_checks import (
    TrendWorkers,
    all_signals,
    assert_matches_oracle,
    oracle,
    produce,
    wait_for_empty_queue,
    wait_for_trend,
)

from devkit.testing import LocalStack, eventually, queue_depth
from shared.aws import AwsClients

pytestmark = pytest.mark.integration


async def assert_like_one_worker(trends: httpx.AsyncClient, produced: object,
                                 workers: TrendWorkers, aws: AwsClients,
                                 stack: LocalStack) -> None:
    by_symbol = produced.by_symbol  # type: ignore[attr-defined]
    try:
        views = await wait_for_trend(trends, {s: len(t) for s, t in by_symbol.items()},
                                     timeout=90)
    except AssertionError as exc:
        depths = {q: await queue_depth(aws, stack.resources, q)
                  for q in ("trend-ticks.fifo", "trend-ticks-dlq.fifo")}
        raise AssertionError(f"{exc}; queues {depths}; worker troubles: "
                             f"{workers.troubles()}") from None
    for symbol, ticks in by_symbol.items():
        assert views[symbol]["ignored"] == {"duplicates": 0, "out_of_order": 0}
        assert_matches_oracle(views[symbol], await all_signals(trends, symbol), oracle(ticks))


async def test_a_worker_killed_mid_stream_and_restarted_ends_in_the_same_state(
    ingest: httpx.AsyncClient, trends: httpx.AsyncClient, workers: TrendWorkers,
    aws: AwsClients, stack: LocalStack,
) -> None:
    """SIGKILL while it works through a stream of small requests; a new worker takes over
    (after the killed one's messages time out) and finishes with the from-scratch state."""
    symbols = ["KILA", "KILB", "KILC", "KILD"]
    first = workers.start()
    await workers.started(first)
    sending = asyncio.ensure_future(produce(ingest, symbols, 1200, seed=21, batch=40))

    async def mid_stream() -> bool:
        seen = [(await trends.get(f"/trends/{s}")).json().get("ticks_seen", 0) for s in symbols]
        assert 0 < sum(seen) < 900, seen
        return True

    await eventually(mid_stream, timeout=60, interval=0.1)
    workers.kill(first)
    workers.start()
    produced = await sending
    await assert_like_one_worker(trends, produced, workers, aws, stack)
    await wait_for_empty_queue(aws, stack.resources, "trend-ticks.fifo")
    assert await queue_depth(aws, stack.resources, "trend-ticks-dlq.fifo") == {
        "visible": 0, "in_flight": 0}


async def test_two_workers_in_parallel_end_in_the_same_state_as_one(
    ingest: httpx.AsyncClient, trends: httpx.AsyncClient, workers: TrendWorkers,
    aws: AwsClients, stack: LocalStack,
) -> None:
    """Two workers share the queue (each symbol with one of them at a time): same state."""
    workers.stop_all()
    pair = [workers.start(), workers.start()]
    await workers.started(*pair)
    symbols = [f"PAR{c}" for c in "ABCDEFGH"]
    produced = await produce(ingest, symbols, 1200, seed=31, batch=50, concurrency=4)
    await assert_like_one_worker(trends, produced, workers, aws, stack)
    worked = [w.log_path.read_text().count('"trend.updated"') for w in pair]  # type: ignore[union-attr]
    assert all(worked), f"both workers should have applied events, got {worked}"
