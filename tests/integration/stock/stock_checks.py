"""Helpers of the stock pipeline tests: producing ticks, trend workers, topic taps, and the
offline oracle (TA-Lib over the stored ticks) the pipeline's results are held against."""

from __future__ import annotations

import math
import signal
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import talib

from devkit.testing import ServiceProcess, eventually, queue_depth, read_all
from services.stock_ingest.archive import partition_prefixes, read_archive_object
from services.stock_ingest.models import Tick, validate_ticks
from services.stock_ingest.producer import mock_ticks
from services.stock_ingest.sender import TickSender
from services.trend.signals import detect_crossovers
from shared.aws import AwsClients
from shared.topology import Resources

# Far enough back that no tick is "in the future", recent enough to be today-ish.
ORIGIN = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


@dataclass
class Produced:
    """Ticks a test sent, as accepted ticks (with their ids), by symbol in time order."""

    by_symbol: dict[str, list[Tick]] = field(default_factory=dict)
    requests: list[list[dict[str, Any]]] = field(default_factory=list)
    """The tick bodies of every request the service accepted, in acceptance order."""

    @property
    def count(self) -> int:
        return sum(len(t) for t in self.by_symbol.values())

    @property
    def span(self) -> tuple[datetime, datetime]:
        stamps = [t.timestamp for ticks in self.by_symbol.values() for t in ticks]
        return min(stamps), max(stamps) + timedelta(seconds=1)


def accepted(raw: Sequence[dict[str, Any]]) -> list[Tick]:
    """The ticks the service accepts for these bodies (ids as it derives them)."""
    ticks = []
    for start in range(0, len(raw), 500):
        batch = validate_ticks({"ticks": list(raw[start : start + 500])})
        assert not batch.rejected and not batch.duplicates
        ticks += batch.ticks
    return ticks


async def produce(ingest: httpx.AsyncClient, symbols: list[str], count: int, *, seed: int,
                  batch: int = 500, concurrency: int = 2,
                  start: datetime = ORIGIN) -> Produced:
    """Send ``count`` seeded mock ticks through the real sender; what was accepted."""
    raw = list(mock_ticks(symbols, count=count, seed=seed, start=start, rate=1))
    produced = Produced()
    sender = TickSender(ingest, batch=batch, concurrency=concurrency,
                        on_delivery=lambda d: produced.requests.append(d.ticks))
    report = await sender.send(raw)
    assert (report.accepted, report.lost, report.rejected) == (count, 0, 0), report
    for tick in accepted(raw):
        produced.by_symbol.setdefault(tick.symbol, []).append(tick)
    for ticks in produced.by_symbol.values():
        ticks.sort(key=lambda t: (t.timestamp, t.id))
    return produced


class TrendWorkers:
    """``python -m services.trend.worker`` processes a test module starts and stops."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        # A short batch window keeps the tests quick; the worker contract is unchanged.
        self.env = {**env, "TREND_BATCH_WINDOW_SECONDS": "0.05"}
        self.logs = logs
        self.running: list[ServiceProcess] = []
        self.count = 0
        logs.mkdir(parents=True, exist_ok=True)

    def start(self) -> ServiceProcess:
        worker = ServiceProcess.worker("services.trend.worker", self.env,
                                       log_path=self.logs / f"worker-{self.count}.log")
        self.count += 1
        self.running.append(worker.start())
        return worker

    async def started(self, *workers: ServiceProcess) -> None:
        """Wait until each worker is polling its queue (its log says worker.started)."""

        async def polling() -> bool:
            for worker in workers:
                assert worker.process is not None and worker.process.poll() is None
                assert '"worker.started"' in worker.log_path.read_text()  # type: ignore[union-attr]
            return True

        await eventually(polling, timeout=60, interval=0.1)

    def kill(self, worker: ServiceProcess) -> None:
        """SIGKILL: no drain, no release; its in-flight messages wait out their visibility."""
        worker.signal(signal.SIGKILL)
        worker.wait()

    def troubles(self) -> list[str]:
        """Warning and error lines of every worker started so far (for failure messages)."""
        lines = []
        for log in sorted(self.logs.glob("worker-*.log")):
            lines += [f"{log.name}: {line[:300]}" for line in log.read_text().splitlines()
                      if '"warning"' in line or '"error"' in line]
        return lines[-20:]

    def stop_all(self) -> None:
        for worker in self.running:
            worker.stop()
        self.running.clear()


async def wait_for_trend(trends: httpx.AsyncClient, expected: dict[str, int], *,
                         timeout: float = 60) -> dict[str, dict[str, Any]]:
    """Wait until every symbol's trend has seen its ticks; the views, by symbol."""
    views: dict[str, dict[str, Any]] = {}

    async def caught_up() -> bool:
        for symbol, count in expected.items():
            response = await trends.get(f"/trends/{symbol}")
            views[symbol] = response.json()
            assert response.status_code == 200 and views[symbol]["ticks_seen"] == count, (
                symbol, views[symbol].get("ticks_seen"), count)
        return True

    await eventually(caught_up, timeout=timeout, interval=0.5)
    return views


async def wait_for_relayed(aws: AwsClients, resources: Resources, service: str) -> None:
    """Wait until ``service``'s outbox relay has published everything committed so far (its
    outbox holds nothing but the relay's lease)."""
    dynamodb = await aws.client("dynamodb")

    async def relayed() -> bool:
        response = await dynamodb.scan(TableName=resources.table(f"{service}-outbox"),
                                       ConsistentRead=True)
        waiting = [i for i in response["Items"] if i["shard"]["S"] != "#lease"]
        assert not waiting and "LastEvaluatedKey" not in response, f"{len(waiting)} waiting"
        return True

    await eventually(relayed, timeout=60, interval=0.2)


async def wait_for_empty_queue(aws: AwsClients, resources: Resources, queue: str) -> None:
    async def empty() -> bool:
        depth = await queue_depth(aws, resources, queue)
        assert depth == {"visible": 0, "in_flight": 0}, depth
        return True

    await eventually(empty, timeout=60, interval=0.5)


async def stored_ticks(aws: AwsClients, resources: Resources, symbol: str) -> list[dict]:
    """Every curated item of a symbol, in key order."""
    dynamodb = await aws.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": resources.table("stock-ticks"),
        "KeyConditionExpression": "symbol = :s AND tick_key BETWEEN :low AND :high",
        "ExpressionAttributeValues": {":s": {"S": symbol}, ":low": {"S": "0"},
                                      ":high": {"S": "9"}},
    }
    return await read_all(dynamodb.query, **request)


async def archived_ids(aws: AwsClients, resources: Resources, symbols: set[str],
                       start: datetime, end: datetime) -> Counter[str]:
    """How often each tick id of ``symbols`` appears in the archive's partitions of a range."""
    s3 = await aws.client("s3")
    bucket = resources.bucket("stock-archive")
    counts: Counter[str] = Counter()
    for prefix in partition_prefixes(start, end):
        listed = await s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        assert not listed.get("IsTruncated")
        for entry in listed.get("Contents", []):
            body = await (await s3.get_object(Bucket=bucket, Key=entry["Key"]))["Body"].read()
            counts.update(t.id for t in read_archive_object(body) if t.symbol in symbols)
    return counts


async def all_signals(trends: httpx.AsyncClient, symbol: str) -> list[dict[str, Any]]:
    """Every signal of a symbol, oldest first (walking the newest-first pages)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = (await trends.get(f"/trends/{symbol}/signals", params=params)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return list(reversed(items))


@dataclass(frozen=True)
class Oracle:
    """What a symbol's trend must show, computed from scratch with TA-Lib."""

    indicators: dict[str, float]
    signals: list[dict[str, Any]]


def oracle(ticks: Sequence[Tick]) -> Oracle:
    """TA-Lib over the ticks in (timestamp, id) order, default periods; crosses offline."""
    ordered = sorted(ticks, key=lambda t: (t.timestamp, t.id))
    prices = np.array([t.price for t in ordered], dtype=float)
    sma5, sma20 = talib.SMA(prices, 5), talib.SMA(prices, 20)
    macd, macd_signal, macd_hist = talib.MACD(prices, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(prices, 20, 2.0, 2.0, 0)
    day = ordered[-1].timestamp.date()
    today = [t for t in ordered if t.timestamp.date() == day and t.volume]
    indicators = {
        "sma_5": sma5[-1], "sma_20": sma20[-1],
        "ema_12": talib.EMA(prices, 12)[-1], "ema_26": talib.EMA(prices, 26)[-1],
        "macd": macd[-1], "macd_signal": macd_signal[-1], "macd_hist": macd_hist[-1],
        "rsi_14": talib.RSI(prices, 14)[-1],
        "bb_upper": upper[-1], "bb_middle": middle[-1], "bb_lower": lower[-1],
        "vwap": sum(t.price * t.volume for t in today) / sum(t.volume for t in today),
    }
    signals = [
        {"direction": direction.value, "at": ordered[i].timestamp, "price": ordered[i].price,
         "short": sma5[i], "long": sma20[i]}
        for i, direction in detect_crossovers(list(sma5), list(sma20))
    ]
    return Oracle({k: float(v) for k, v in indicators.items()}, signals)


def assert_matches_oracle(view: dict[str, Any], signals: list[dict[str, Any]],
                          expected: Oracle) -> None:
    """The API's indicators and signals equal the oracle's (to 1e-9 of the price)."""
    scale = 1e-9 * max(abs(view["price"]), 1.0)
    for name, value in expected.indicators.items():
        got = view["indicators"][name]
        assert got is not None and math.isclose(got, value, rel_tol=1e-9, abs_tol=scale), (
            name, got, value)
    assert len(signals) == len(expected.signals), (len(signals), len(expected.signals))
    for got, want in zip(signals, expected.signals, strict=True):
        assert got["direction"] == want["direction"]
        assert datetime.fromisoformat(got["at"]) == want["at"]
        assert got["price"] == want["price"]
        assert math.isclose(got["short"], want["short"], rel_tol=1e-9, abs_tol=scale)
        assert math.isclose(got["long"], want["long"], rel_tol=1e-9, abs_tol=scale)
