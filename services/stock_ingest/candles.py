"""OHLCV candles from the raw tick archive, computed by DuckDB over gzipped NDJSON.

The caller lists the archive objects of `archive.partition_prefixes(start, end)`, fetches
them, and hands them over as local files (`candles_from_files`) or bytes
(`candles_from_objects`). DuckDB never reads S3 itself: its httpfs extension is normally
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
    first(price ORDER BY us, id) AS open,
    max(price) AS high,
    min(price) AS low,
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
) -> list[Candle]:
    """Candles of ``symbol`` for ``start <= t < end`` from local ``.json.gz`` archive files."""
    if not paths:
        return []
    width = Interval(interval).seconds * 1_000_000
    params = {
        "paths": [str(p) for p in paths],
        "symbol": symbol,
        "low": _micros(start),
        "high": _micros(end),
        "width": width,
    }
    # A private in-memory database per call: connections are cheap and not thread-safe.
    with duckdb.connect(config={"autoinstall_known_extensions": False}) as con:
        rows = con.execute(_CANDLES_SQL, params).fetchall()
    return [
        Candle(
            symbol=symbol,
            start=_bucket_start(bucket, width),
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=int(volume),
            count=count,
        )
        for bucket, open_, high, low, close, volume, count in rows
    ]


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
