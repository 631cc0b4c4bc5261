"""A small closed-loop HTTP load generator: N clients, each sending its next request on reply."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp


@dataclass
class LoadResult:
    clients: int
    seconds: float
    requests: int
    errors: int
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(99)


async def run_load(
    url: str, clients: int, seconds: float, headers: dict[str, str] | None = None,
    method: str = "GET", body: bytes | None = None,
) -> LoadResult:
    """Hit ``url`` with ``clients`` concurrent clients for ``seconds`` (``method``, with
    ``body`` if given: the same bytes every time); non-2xx are errors."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                async with session.request(method, url, headers=headers,
                                           data=body) as response:
                    await response.read()
                    ok = 200 <= response.status < 300
            except aiohttp.ClientError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return LoadResult(clients, elapsed, len(latencies) + errors, errors, latencies)


RATE_LIMIT_MODES = ("off", "on")


def rate_limit_env(mode: str) -> dict[str, str]:
    """Environment for a benchmark's API processes by rate-limit mode.

    ``off`` is what the suites and benchmarks always ran with (``RATE_LIMITS_ENABLED=false``,
    from `LocalStack.env`). ``on`` enables the kit's limiters with rates and bursts so high
    that no request is ever refused: every limited request still takes its token (the bucket
    lookup, refill and store), so a run measures what the limiter costs, not what it refuses.
    """
    if mode == "off":
        return {"RATE_LIMITS_ENABLED": "false"}
    if mode != "on":
        raise ValueError(f"rate-limit mode {mode!r} is not one of {RATE_LIMIT_MODES}")
    unlimited = {"PER_MINUTE": "1e12", "BURST": "1000000000"}
    return {"RATE_LIMITS_ENABLED": "true",
            **{f"RATE_LIMIT_{cls}_{what}": value for cls in ("ANONYMOUS", "USER")
               for what, value in unlimited.items()}}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each named process spends between ``start`` and ``stop``."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self.used = {name: -cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> None:
        self.used = {name: used + cpu_seconds(self.pids[name]) for name, used in self.used.items()}

    def per_turn(self, turns: int) -> str:
        return ", ".join(f"{name} {used / max(turns, 1) * 1000:.1f} ms"
                         for name, used in self.used.items())


def outbox_report(paths: list[Path], since: float = 0.0) -> str:
    """One line on the outbox relays' commit-to-publish lag, from the stats files the relays
    write when they stop (OUTBOX_STATS_PATH); the lags of every relay are pooled. ``since``
    (a time.time()) leaves out messages committed before it: the set-up's, while the worker
    process was still starting."""
    lags: list[float] = []
    published = 0
    for path in paths:
        if path.exists():
            document = json.loads(path.read_text())
            kept = [lag for lag, at in zip(document["lags_ms"], document["committed_ms"],
                                           strict=True) if at >= since * 1000]
            published += len(kept)
            lags += kept
    if not lags:
        return "outbox: nothing relayed (no stats written)"
    lags.sort()

    def at(q: float) -> float:
        return lags[min(len(lags) - 1, max(0, int(q * len(lags) + 0.5) - 1))]

    verdict = "met" if at(0.99) < 1000 else "NOT met"
    return (f"outbox: {published:,} messages relayed; commit -> published p50 {at(0.5):,.0f} ms, "
            f"p99 {at(0.99):,.0f} ms, max {lags[-1]:,.0f} ms (target p99 < 1,000 ms: {verdict})")


def call_latency_report(files: dict[str, Path], operations: tuple[str, ...] = (
        "dynamodb.TransactWriteItems", "dynamodb.Query", "sns.PublishBatch",
        "dynamodb.BatchWriteItem")) -> str:
    """One line on the AWS call latency behind the outbox lag: p50/p99 of ``operations`` in
    each process, from the call-count files (AWS_CALL_COUNTS_PATH) named by ``files``
    (label -> path). Latency includes the client's retries and the emulator's queue."""
    parts = []
    for label, path in files.items():
        if not path.exists():
            continue
        latency = json.loads(path.read_text()).get("latency_ms", {})
        calls = [f"{op.split('.', 1)[1]} {latency[op]['p50']:,.0f}/{latency[op]['p99']:,.0f}"
                 for op in operations if op in latency]
        if calls:
            parts.append(f"{label}: " + ", ".join(calls))
    return "AWS call latency p50/p99 ms: " + ("; ".join(parts) or "none recorded")
