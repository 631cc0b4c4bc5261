"""OHLCV candles from the raw tick archive, computed by DuckDB over gzipped NDJSON.

The caller lists the archive objects of `archive.partition_prefixes(start, end)`, streams
them to local files and hands those over (`candles_from_files`; tests also pass bytes to
`candles_from_objects`). DuckDB reads the files as it goes, within a memory limit, spilling
to disk beyond it. DuckDB never reads S3 itself: its httpfs extension is normally
downloaded at run time, which these machines cannot do (the PyPI ``duckdb-ext-httpfs`` wheel
exists only for duckdb 1.4.4), and the service's own aiobotocore client already knows the
endpoint and credentials.

Rules, shared by the SQL and by the pure-Python reference `candles_python`:

* a tick counts when ``start <= timestamp < end`` and its symbol matches;
* a tick id seen twice (a batch archived again under another batch id) counts once;
* buckets are aligned to the UTC epoch (``1d`` = a UTC day); empty buckets are omitted;
* open/close are the prices of the first/last tick by (timestamp, id), the engine's order;
* volume sums the ticks' volumes, a tick without volume adding 0.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import duckdb
from pydantic import BaseModel, ConfigDict, PlainSerializer

from services.stock_ingest.models import Tick, format_timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Interval(StrEnum):
    """Candle width."""

    minute = "1m"
    five_minutes = "5m"
    fifteen_minutes = "15m"
    hour = "1h"
    day = "1d"

    @property
    def seconds(self) -> int:
        return _SECONDS[self]


_SECONDS = {
    Interval.minute: 60,
    Interval.five_minutes: 300,
    Interval.fifteen_minutes: 900,
    Interval.hour: 3600,
    Interval.day: 86400,
}


class Candle(BaseModel):
    """Open, high, low, close and volume of one symbol over one interval."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    start: Annotated[datetime, PlainSerializer(format_timestamp, return_type=str, when_used="json")]
    """Start of the bucket (UTC); the bucket ends one interval later."""
    open: float
    high: float
    low: float
    close: float
    volume: int
    count: int
    """Ticks in the bucket."""


def _micros(at: datetime) -> int:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return (at - _EPOCH) // timedelta(microseconds=1)


def _bucket_start(micros: int, width: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros - micros % width)


def candles_python(
    ticks: Iterable[Tick], symbol: str, interval: Interval, start: datetime, end: datetime
) -> list[Candle]:
    """The reference implementation: the same candles as `candles_from_files`, in Python."""
    width = Interval(interval).seconds * 1_000_000
    low_us, high_us = _micros(start), _micros(end)
    unique: dict[str, tuple[int, float, int]] = {}
    for tick in ticks:
        us = _micros(tick.timestamp)
        if tick.symbol != symbol or not low_us <= us < high_us:
            continue
        row = (us, tick.price, tick.volume or 0)
        if tick.id not in unique or row < unique[tick.id]:
            unique[tick.id] = row
    buckets: dict[int, list[tuple[int, str, float, int]]] = {}
    for tick_id, (us, price, volume) in unique.items():
        buckets.setdefault(us - us % width, []).append((us, tick_id, price, volume))
    candles = []
    for bucket, rows in sorted(buckets.items()):
        rows.sort()
        prices = [price for _, _, price, _ in rows]
        candles.append(
            Candle(
                symbol=symbol,
                start=_bucket_start(bucket, width),
                open=prices[0],
                high=max(prices),
                low=min(prices),
                close=prices[-1],
                volume=sum(volume for *_, volume in rows),
                count=len(rows),
            )
        )
    return candles


# One hour partition's files at a time: each tick id's first row by (us, price, volume),
# then per-bucket partial aggregates with the (us, id) keys of their open and close, which
# `_merge` combines across partitions (a 1d bucket spans 24 of them).
_CANDLES_SQL = """
WITH ticks AS (
    SELECT id, price, coalesce(volume, 0) AS volume, epoch_us("timestamp") AS us
    FROM read_json(
        $paths,
        format = 'newline_delimited',
        compression = 'gzip',
        columns = {
            'symbol': 'VARCHAR', 'timestamp': 'TIMESTAMPTZ', 'price': 'DOUBLE',
            'volume': 'BIGINT', 'id': 'VARCHAR'
        }
    )
    WHERE symbol = $symbol AND epoch_us("timestamp") >= $low AND epoch_us("timestamp") < $high
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY us, price, volume) = 1
)
SELECT
    us - ((us % $width) + $width) % $width AS bucket,
    min(us) AS open_us,
    first(id ORDER BY us, id) AS open_id,
    first(price ORDER BY us, id) AS open,
    max(price) AS high,
    min(price) AS low,
    max(us) AS close_us,
    first(id ORDER BY us DESC, id DESC) AS close_id,
    first(price ORDER BY us DESC, id DESC) AS close,
    sum(volume) AS volume,
    count(*) AS count
FROM ticks
GROUP BY bucket
ORDER BY bucket
"""


def candles_from_files(
    paths: Sequence[str | Path],
    symbol: str,
    interval: Interval,
    start: datetime,
    end: datetime,
    *,
    memory_limit_mb: int | None = None,
) -> list[Candle]:
    """Candles of ``symbol`` for ``start <= t < end`` from local ``.json.gz`` archive files
    read together (one partition, or a few small ones)."""
    return candles_from_partitions([paths], symbol, interval, start, end,
                                   memory_limit_mb=memory_limit_mb)


def candles_from_partitions(
    partitions: Iterable[Sequence[str | Path]],
    symbol: str,
    interval: Interval,
    start: datetime,
    end: datetime,
    *,
    memory_limit_mb: int | None = None,
) -> list[Candle]:
    """Candles from archive files grouped by hour partition, read one partition at a time.

    Memory follows the largest partition, not the range: DuckDB aggregates each partition
    (within ``memory_limit_mb``) and only per-bucket partial aggregates are kept and merged.
    A tick id counts once within its partition; an id is derived from the tick's timestamp
    (or given with it), and a tick's partition is its timestamp's hour, so the copies of a
    tick (a batch archived again) always share one.
    """
    width = Interval(interval).seconds * 1_000_000
    params: dict[str, object] = {
        "symbol": symbol, "low": _micros(start), "high": _micros(end), "width": width}
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False}
    if memory_limit_mb:
        config |= {"memory_limit": f"{memory_limit_mb}MB", "threads": 1}
    buckets: dict[int, _Partial] = {}
    # A private in-memory database per call: connections are cheap and not thread-safe.
    with duckdb.connect(config=config) as con:
        for paths in partitions:
            if not paths:
                continue
            params["paths"] = [str(p) for p in paths]
            for row in con.execute(_CANDLES_SQL, params).fetchall():
                partial = _Partial(*row)
                buckets[partial.bucket] = partial.merge(buckets.get(partial.bucket))
    return [
        Candle(symbol=symbol, start=_bucket_start(bucket, width), open=p.open, high=p.high,
               low=p.low, close=p.close, volume=int(p.volume), count=p.count)
        for bucket, p in sorted(buckets.items())
    ]


@dataclass(frozen=True)
class _Partial:
    """One bucket's aggregates over one partition, with the keys of its open and close."""

    bucket: int
    open_us: int
    open_id: str
    open: float
    high: float
    low: float
    close_us: int
    close_id: str
    close: float
    volume: int
    count: int

    def merge(self, other: _Partial | None) -> _Partial:
        if other is None:
            return self
        first = min(self, other, key=lambda p: (p.open_us, p.open_id))
        last = max(self, other, key=lambda p: (p.close_us, p.close_id))
        return _Partial(self.bucket, first.open_us, first.open_id, first.open,
                        max(self.high, other.high), min(self.low, other.low), last.close_us,
                        last.close_id, last.close, self.volume + other.volume,
                        self.count + other.count)


def candles_from_objects(
    objects: Iterable[bytes],
    symbol: str,
    interval: Interval,
    start: datetime,
    end: datetime,
) -> list[Candle]:
    """`candles_from_files` over archive objects held in memory (spooled to a temp dir)."""
    with tempfile.TemporaryDirectory(prefix="candles-") as folder:
        paths = []
        for number, data in enumerate(objects):
            path = Path(folder) / f"{number}.json.gz"
            path.write_bytes(data)
            paths.append(path)
        return candles_from_files(paths, symbol, interval, start, end)


class CandleSeries(BaseModel):
    """Response of GET /stocks/{symbol}/candles: buckets with ticks, oldest first."""

    symbol: str
    interval: Interval
    start: Annotated[datetime, PlainSerializer(format_timestamp, return_type=str, when_used="json")]
    end: Annotated[datetime, PlainSerializer(format_timestamp, return_type=str, when_used="json")]
    items: list[Candle]
