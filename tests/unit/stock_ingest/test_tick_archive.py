"""The raw archive layout: Hive hour partitions by tick time, one object per batch and hour."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

from services.stock_ingest.archive import (
    archive_key,
    archive_objects,
    batch_id,
    hour_prefix,
    partition_prefixes,
    read_archive_object,
)
from services.stock_ingest.models import Tick, validate_ticks

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def ticks_at(*stamps: str, symbol: str = "AAPL") -> list[Tick]:
    body = {
        "ticks": [
            {"symbol": symbol, "timestamp": s, "price": 10 + i, "volume": i}
            for i, s in enumerate(stamps)
        ]
    }
    batch = validate_ticks(body, now=NOW)
    assert not batch.rejected
    return batch.ticks


def test_key_layout_is_hive_style_by_utc_hour() -> None:
    """raw/year=YYYY/month=MM/day=DD/hour=HH/<batch>.json.gz, zero-padded, in UTC."""
    at = datetime(2024, 3, 5, 7, 59, 59, tzinfo=UTC)
    assert archive_key("b1", at) == "raw/year=2024/month=03/day=05/hour=07/b1.json.gz"
    local = datetime(2024, 3, 5, 1, 0, tzinfo=UTC).astimezone(tz=None)
    assert hour_prefix(local) == "raw/year=2024/month=03/day=05/hour=01/"
    assert hour_prefix(datetime(2024, 3, 5, 1, 30)) == "raw/year=2024/month=03/day=05/hour=01/"


def test_a_batch_spanning_hours_is_split_per_tick_hour() -> None:
    """One object per (batch, hour) touched, in hour order, across a year boundary."""
    ticks = ticks_at(
        "2024-12-31T23:59:59.999999Z",
        "2025-01-01T00:00:00Z",
        "2024-12-31T23:00:00Z",
        "2025-01-01T02:10:00+01:00",  # 01:10 UTC
    )
    objects = archive_objects("B", ticks)
    assert [key for key, _ in objects] == [
        "raw/year=2024/month=12/day=31/hour=23/B.json.gz",
        "raw/year=2025/month=01/day=01/hour=00/B.json.gz",
        "raw/year=2025/month=01/day=01/hour=01/B.json.gz",
    ]
    contents = [read_archive_object(data) for _, data in objects]
    assert contents == [[ticks[0], ticks[2]], [ticks[1]], [ticks[3]]]


def test_objects_are_gzipped_ndjson_of_tick_json() -> None:
    """Each line is a tick's JSON (Z timestamps, id), readable by any NDJSON reader."""
    ticks = ticks_at("2024-01-01T10:00:00Z", "2024-01-01T10:30:00.25Z")
    ((_, data),) = archive_objects("B", ticks)
    lines = gzip.decompress(data).decode().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["timestamp"] for r in rows] == ["2024-01-01T10:00:00Z", "2024-01-01T10:30:00.250000Z"]
    assert [r["id"] for r in rows] == [t.id for t in ticks]


def test_archiving_is_deterministic() -> None:
    """Same batch, same bytes: re-putting a retried batch overwrites with identical objects."""
    ticks = ticks_at("2024-01-01T10:00:00Z", "2024-01-01T11:00:00Z")
    assert archive_objects(batch_id(ticks), ticks) == archive_objects(batch_id(ticks), ticks)


def test_batch_id_depends_only_on_the_set_of_tick_ids() -> None:
    """Order does not matter; a different tick set gives a different id."""
    ticks = ticks_at("2024-01-01T10:00:00Z", "2024-01-01T10:00:01Z", "2024-01-01T10:00:02Z")
    assert batch_id(ticks) == batch_id(list(reversed(ticks)))
    assert batch_id(ticks) != batch_id(ticks[:2])
    assert len(batch_id(ticks)) == 32


def test_partition_prefixes_cover_the_half_open_range() -> None:
    """Every hour that can hold start <= t < end; an end on the hour excludes that hour."""
    start = datetime(2024, 2, 28, 22, 30, tzinfo=UTC)
    prefixes = partition_prefixes(start, datetime(2024, 3, 1, 1, 0, tzinfo=UTC))
    assert prefixes[0] == "raw/year=2024/month=02/day=28/hour=22/"
    assert prefixes[-1] == "raw/year=2024/month=03/day=01/hour=00/"
    assert "raw/year=2024/month=02/day=29/hour=12/" in prefixes  # leap day
    assert len(prefixes) == 27
    assert partition_prefixes(start, start + timedelta(microseconds=1)) == [hour_prefix(start)]


def test_partition_prefixes_edge_cases() -> None:
    """Empty or inverted ranges give nothing; naive datetimes are UTC; offsets are honoured."""
    at = datetime(2024, 1, 1, 5, tzinfo=UTC)
    assert partition_prefixes(at, at) == []
    assert partition_prefixes(at, at - timedelta(hours=3)) == []
    assert partition_prefixes(datetime(2024, 1, 1, 5), datetime(2024, 1, 1, 6)) == [
        "raw/year=2024/month=01/day=01/hour=05/"
    ]
    plus_two = at.astimezone(tz=datetime.now(UTC).astimezone().tzinfo)
    assert partition_prefixes(plus_two, at + timedelta(minutes=1)) == [hour_prefix(at)]


def test_every_archived_tick_lies_under_a_prefix_of_its_range() -> None:
    """Keys written for ticks in [start, end) all start with one of the listed prefixes."""
    stamps = [
        (datetime(2024, 7, 1, 21, 0, tzinfo=UTC) + timedelta(minutes=17 * i)).isoformat()
        for i in range(30)
    ]
    ticks = ticks_at(*stamps)
    prefixes = partition_prefixes(ticks[0].timestamp, ticks[-1].timestamp + timedelta(seconds=1))
    for key, _ in archive_objects("B", ticks):
        assert any(key.startswith(p) for p in prefixes), key
