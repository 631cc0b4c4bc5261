"""The raw tick archive's layout in S3: Hive-style hour partitions of gzipped NDJSON.

    raw/year=YYYY/month=MM/day=DD/hour=HH/<batch-id>.json.gz

Partitions are by *tick* time (UTC), not by arrival time as Firehose would do: a candle query
for [from, to) then reads exactly the partitions of its hours. An accepted batch spanning
several hours is therefore written as one object per hour it touches, all named after the
batch. The batch id is derived from the tick ids, so a retried batch rewrites the same keys
with the same bytes (gzip without a timestamp) instead of adding copies.

Each line is one accepted `Tick` in its JSON form (UTC timestamp with ``Z``); Athena/Glue, and
DuckDB's ``read_json``, read the objects as they are.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from services.stock_ingest.models import Tick

RAW_PREFIX = "raw/"
ARCHIVE_SUFFIX = ".json.gz"
_HOUR = timedelta(hours=1)


def batch_id(ticks: Iterable[Tick]) -> str:
    """A batch id that depends only on the set of tick ids (same ticks, same id)."""
    digest = hashlib.sha256("\n".join(sorted(t.id for t in ticks)).encode()).hexdigest()
    return digest[:32]


def hour_prefix(at: datetime, prefix: str = RAW_PREFIX) -> str:
    """The partition prefix of the UTC hour containing ``at`` (naive means UTC)."""
    at = _utc(at)
    return f"{prefix}year={at:%Y}/month={at:%m}/day={at:%d}/hour={at:%H}/"


def archive_key(batch: str, hour: datetime, prefix: str = RAW_PREFIX) -> str:
    """The object key of a batch's ticks within one hour."""
    return f"{hour_prefix(hour, prefix)}{batch}{ARCHIVE_SUFFIX}"


def archive_objects(
    batch: str, ticks: Sequence[Tick], prefix: str = RAW_PREFIX
) -> list[tuple[str, bytes]]:
    """The (key, gzipped NDJSON) objects of a batch: one per UTC hour its ticks touch.

    Ticks keep their batch order within an object; hours come in chronological order.
    """
    by_hour: dict[datetime, list[bytes]] = {}
    for tick in ticks:
        hour = _utc(tick.timestamp).replace(minute=0, second=0, microsecond=0)
        by_hour.setdefault(hour, []).append(tick.model_dump_json().encode())
    return [
        (archive_key(batch, hour, prefix), gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
        for hour, lines in sorted(by_hour.items())
    ]


def read_archive_object(data: bytes) -> list[Tick]:
    """The ticks of one archive object (the inverse of `archive_objects`)."""
    lines = gzip.decompress(data).splitlines()
    return [Tick.model_validate_json(line, context=_NO_CLOCK) for line in lines if line.strip()]


def partition_prefixes(start: datetime, end: datetime, prefix: str = RAW_PREFIX) -> list[str]:
    """The hour prefixes that can hold ticks with ``start <= timestamp < end``.

    Naive datetimes are UTC. An empty range gives no prefix. Callers should cap the range
    (a year is 8,784 prefixes).
    """
    start, end = _utc(start), _utc(end)
    if end <= start:
        return []
    hour = start.replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour < end:
        prefixes.append(hour_prefix(hour, prefix))
        hour += _HOUR
    return prefixes


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


# Archived ticks were checked against the clock when accepted; re-reading them must not be.
_NO_CLOCK = {"now": datetime.max.replace(tzinfo=UTC) - timedelta(days=1)}
