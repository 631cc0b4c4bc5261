"""Candles over a large archive: a stock-ingest API process of its own reads tens of MB of
gzipped partitions with bounded memory, and refuses a range heavier than STOCK_CANDLES_MAX_BYTES.

The archive is written straight into the emulator's bucket (the layout of
services.stock_ingest.archive, one symbol, distant past hours nobody else uses); the API's
peak resident memory (VmHWM of /proc/<pid>/status) is read before and after the query.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from devkit.testing import LocalStack, ServiceProcess
from services.stock_ingest.archive import archive_key
from services.stock_ingest.models import format_timestamp
from shared.aws import AwsClients

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SYMBOL = "BIGMEM"
FIRST_HOUR = datetime(2019, 2, 4, 0, tzinfo=UTC)
HOURS = 24
OBJECTS_PER_HOUR = 4
TICKS_PER_OBJECT = 12_000  # about 43 MB of gzipped NDJSON in all
# Peak RSS the candle query may add to the API process: less than the bytes it reads.
# Measured on this archive: +4 MiB reading one partition at a time; +113 MiB when every
# object was held in memory and DuckDB read all of them at once (the code before).
MEMORY_CEILING = 32 * 1024 * 1024


@dataclass
class Hour:
    count: int = 0
    volume: int = 0
    high: float = float("-inf")
    low: float = float("inf")
    sizes: list[int] = field(default_factory=list)


def archive_object(hour: datetime, rng: random.Random, stats: Hour) -> bytes:
    """One object of an hour partition: TICKS_PER_OBJECT ticks with random ids and prices."""
    lines = []
    for _ in range(TICKS_PER_OBJECT):
        at = hour + timedelta(microseconds=rng.randrange(3_600_000_000))
        price = round(rng.uniform(10, 500), 4)
        volume = rng.randrange(1, 10_000)
        lines.append(f'{{"symbol":"{SYMBOL}","timestamp":"{format_timestamp(at)}",'
                     f'"price":{price},"volume":{volume},"id":"{rng.getrandbits(128):032x}"}}')
        stats.count += 1
        stats.volume += volume
        stats.high, stats.low = max(stats.high, price), min(stats.low, price)
    return gzip.compress("\n".join(lines).encode() + b"\n", compresslevel=6, mtime=0)


@pytest_asyncio.fixture(scope="module")
async def big_archive(aws: AwsClients, stack: LocalStack) -> dict[datetime, Hour]:
    """HOURS hour partitions of OBJECTS_PER_HOUR objects each in the stock archive bucket."""
    s3 = await aws.client("s3")
    bucket = stack.resources.bucket("stock-archive")
    rng = random.Random(20190204)
    hours: dict[datetime, Hour] = {}
    semaphore = asyncio.Semaphore(4)

    async def put(key: str, body: bytes) -> None:
        async with semaphore:
            await s3.put_object(Bucket=bucket, Key=key, Body=body)

    for h in range(HOURS):
        hour = FIRST_HOUR + timedelta(hours=h)
        stats = hours[hour] = Hour()
        bodies = [archive_object(hour, rng, stats) for _ in range(OBJECTS_PER_HOUR)]
        stats.sizes = [len(b) for b in bodies]
        await asyncio.gather(*(put(archive_key(uuid.uuid4().hex, hour), b) for b in bodies))
    return hours


def weight(hours: dict[datetime, Hour], count: int) -> int:
    return sum(sum(h.sizes) for h in list(hours.values())[:count])


@pytest.fixture(scope="module")
def bounded_api(stack: LocalStack, big_archive: dict[datetime, Hour],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """An API whose byte bound admits 18 of the 24 hours, and not all of them."""
    bound = weight(big_archive, 18) + 1
    # STOCK_CANDLES_MEMORY_MB: the default
    env = {**stack.env, "STOCK_CANDLES_MAX_BYTES": str(bound)}
    log = tmp_path_factory.mktemp("bounded") / "ingest.log"
    with ServiceProcess.api("services.stock_ingest.main:app", env, log_path=log) as api:
        yield api


def peak_rss(api: ServiceProcess) -> int:
    """VmHWM of the API process, in bytes."""
    assert api.process is not None
    for line in Path(f"/proc/{api.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


async def test_candles_over_a_large_archive_stay_under_the_memory_ceiling(
    bounded_api: ServiceProcess, big_archive: dict[datetime, Hour],
) -> None:
    """18 hours, 72 objects, about 32 MB gzipped (about 110 MB of JSON): the hourly candles
    are right, and the query adds less than MEMORY_CEILING to the process's peak RSS."""
    end = FIRST_HOUR + timedelta(hours=18)
    params = {"interval": "1h", "from": format_timestamp(FIRST_HOUR),
              "to": format_timestamp(end)}
    async with httpx.AsyncClient(base_url=bounded_api.url, timeout=300) as client:
        # Warm up: DuckDB, the S3 client and the route are loaded before the baseline.
        warm = await client.get(f"/stocks/{SYMBOL}/candles", params={
            "interval": "1h", "from": format_timestamp(FIRST_HOUR),
            "to": format_timestamp(FIRST_HOUR + timedelta(hours=1))})
        assert warm.status_code == 200, warm.text
        before = peak_rss(bounded_api)
        response = await client.get(f"/stocks/{SYMBOL}/candles", params=params)
        after = peak_rss(bounded_api)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    hours = list(big_archive.items())[:18]
    assert [c["start"] for c in items] == [format_timestamp(h) for h, _ in hours]
    for candle, (_, stats) in zip(items, hours, strict=True):
        assert (candle["count"], candle["volume"]) == (stats.count, stats.volume)
        assert (candle["high"], candle["low"]) == (stats.high, stats.low)
    read = weight(big_archive, 18)
    print(f"\ncandles over {read / 2**20:.1f} MiB gzipped ({18 * OBJECTS_PER_HOUR} objects, "  # noqa: T201
          f"{sum(s.count for _, s in hours)} ticks): peak RSS {before / 2**20:.1f} -> "
          f"{after / 2**20:.1f} MiB (+{(after - before) / 2**20:.1f} MiB)")
    assert read > 25 * 2**20, "the archive is too small for the test to mean much"
    assert after - before < MEMORY_CEILING


async def test_a_range_heavier_than_the_bound_is_422_naming_it(
    bounded_api: ServiceProcess, big_archive: dict[datetime, Hour],
) -> None:
    """All 24 hours weigh more than STOCK_CANDLES_MAX_BYTES: 422 problem+json naming the bound and
    the range's weight, before any object is read."""
    async with httpx.AsyncClient(base_url=bounded_api.url, timeout=60) as client:
        response = await client.get(f"/stocks/{SYMBOL}/candles", params={
            "interval": "1h", "from": format_timestamp(FIRST_HOUR),
            "to": format_timestamp(FIRST_HOUR + timedelta(hours=HOURS))})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    bound = weight(big_archive, 18) + 1
    assert "STOCK_CANDLES_MAX_BYTES" in body["detail"] and str(bound) in body["detail"]
    assert (body["max_bytes"], body["range_bytes"]) == (bound, weight(big_archive, HOURS))
