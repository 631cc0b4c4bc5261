"""OHLCV candles: DuckDB over archive objects equals the pure-Python reference."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.stock_ingest.archive import archive_objects, batch_id
from services.stock_ingest.candles import (
    Candle,
    Interval,
    candles_from_files,
    candles_from_objects,
    candles_from_partitions,
    candles_python,
)
from services.stock_ingest.models import Tick, validate_ticks

NOW = datetime(2030, 1, 1, tzinfo=UTC)
T0 = datetime(2024, 2, 28, 23, 47, 13, tzinfo=UTC)


def generated_ticks(seed: int, n: int, span: timedelta) -> list[Tick]:
    """Random ticks of three symbols over ``span`` from T0: boundaries, ties, null volumes."""
    rnd = random.Random(seed)
    raw = []
    for _ in range(n):
        offset = timedelta(microseconds=rnd.randrange(int(span / timedelta(microseconds=1))))
        if rnd.random() < 0.1:  # land exactly on a minute boundary
            offset = timedelta(minutes=offset // timedelta(minutes=1))
        raw.append(
            {
                "symbol": rnd.choice(["AAPL", "AAPL", "MSFT", "BRK.B"]),
                "timestamp": (T0 + offset).isoformat(),
                "price": round(rnd.uniform(90, 110), 2),
                "volume": rnd.choice([None, 0, 100, 2500]),
            }
        )
    ticks: list[Tick] = []
    for start in range(0, n, 500):
        ticks += validate_ticks({"ticks": raw[start : start + 500]}, now=NOW).ticks
    return ticks


def archived(ticks: list[Tick], batch_size: int = 300) -> list[bytes]:
    objects = []
    for start in range(0, len(ticks), batch_size):
        batch = ticks[start : start + batch_size]
        objects += [data for _, data in archive_objects(batch_id(batch), batch)]
    return objects


@pytest.fixture(scope="module")
def ticks() -> list[Tick]:
    return generated_ticks(1, 3000, timedelta(hours=26))


@pytest.fixture(scope="module")
def archive_files(ticks, tmp_path_factory) -> list[Path]:
    """The ticks archived in batches of 1,000, as local files (one per batch and hour)."""
    folder = tmp_path_factory.mktemp("archive")
    paths = []
    for number, data in enumerate(archived(ticks, 1000)):
        path = folder / f"{number}.json.gz"
        path.write_bytes(data)
        paths.append(path)
    return paths


@pytest.mark.parametrize("interval", list(Interval))
@pytest.mark.parametrize("symbol", ["AAPL", "BRK.B"])
def test_duckdb_equals_python_for_every_interval(
    ticks, archive_files, interval: Interval, symbol: str
) -> None:
    """Across minute, hour, day and month boundaries DuckDB's candles equal the reference."""
    start, end = T0 + timedelta(minutes=3, seconds=30), T0 + timedelta(hours=25, minutes=1)
    got = candles_from_files(archive_files, symbol, interval, start, end)
    assert got == candles_python(ticks, symbol, interval, start, end)
    assert len(got) > 1
    assert all(c.start.tzinfo is UTC and c.start.timestamp() % interval.seconds == 0 for c in got)


def test_candles_from_objects_reads_bytes(ticks, archive_files) -> None:
    """The in-memory entry point gives the same candles as the file one."""
    start, end = T0, T0 + timedelta(hours=30)
    objects = [path.read_bytes() for path in archive_files]
    assert candles_from_objects(objects, "MSFT", Interval.hour, start, end) == candles_from_files(
        archive_files, "MSFT", Interval.hour, start, end
    )


def test_range_is_half_open_and_filters_by_tick_time() -> None:
    """A tick exactly at ``end`` is excluded, one exactly at ``start`` included."""
    stamps = ["2024-01-01T10:00:00Z", "2024-01-01T10:00:30Z", "2024-01-01T10:01:00Z"]
    ticks = validate_ticks(
        {
            "ticks": [
                {"symbol": "X", "timestamp": s, "price": 1.0 + i} for i, s in enumerate(stamps)
            ]
        },
        now=NOW,
    ).ticks
    start, end = datetime(2024, 1, 1, 10, tzinfo=UTC), datetime(2024, 1, 1, 10, 1, tzinfo=UTC)
    (candle,) = candles_from_objects(archived(ticks), "X", Interval.minute, start, end)
    assert candle == Candle(
        symbol="X", start=start, open=1.0, high=2.0, low=1.0, close=2.0, volume=0, count=2
    )


def test_open_close_follow_time_then_id_and_volume_nulls_count_zero() -> None:
    """Same-timestamp ticks are ordered by id (the engine's order); null volume adds 0."""
    at = "2024-01-01T10:00:05Z"
    body = {
        "ticks": [
            {"symbol": "X", "timestamp": at, "price": 3.0, "id": "b", "volume": 10},
            {"symbol": "X", "timestamp": at, "price": 1.0, "id": "c"},
            {"symbol": "X", "timestamp": at, "price": 2.0, "id": "a", "volume": 5},
        ]
    }
    ticks = validate_ticks(body, now=NOW).ticks
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
    for interval in (Interval.minute, Interval.day):
        (candle,) = candles_from_objects(archived(ticks), "X", interval, start, end)
        assert (candle.open, candle.close, candle.volume, candle.count) == (2.0, 1.0, 15, 3)
        assert [candle] == candles_python(ticks, "X", interval, start, end)


def test_a_batch_archived_twice_counts_once(ticks) -> None:
    """The same tick ids under two batch ids (a retried batch regrouped) are deduplicated."""
    start, end = T0, T0 + timedelta(hours=3)
    early = [t for t in ticks if t.timestamp < end]
    once = candles_from_objects(archived(early, 300), "AAPL", Interval.minute, start, end)
    twice = candles_from_objects(
        archived(early, 300) + archived(early, 170), "AAPL", Interval.minute, start, end
    )
    assert twice == once == candles_python(early, "AAPL", Interval.minute, start, end)


def test_no_files_or_no_matching_ticks_give_no_candles(archive_files) -> None:
    """Nothing to read, an unknown symbol or an empty range: an empty list."""
    start, end = T0, T0 + timedelta(hours=1)
    assert candles_from_files([], "AAPL", Interval.minute, start, end) == []
    assert candles_from_files(archive_files, "NOPE", Interval.minute, start, end) == []
    assert candles_from_files(archive_files, "AAPL", Interval.minute, end, start) == []


def test_candle_json_uses_z_timestamps() -> None:
    """Candles serialise their bucket start as UTC with Z."""
    candle = Candle(
        symbol="X",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        open=1,
        high=2,
        low=0.5,
        close=1.5,
        volume=10,
        count=4,
    )
    assert candle.model_dump(mode="json")["start"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize("interval", list(Interval))
def test_partitions_read_one_at_a_time_merge_into_the_same_candles(
    ticks, tmp_path, interval: Interval,
) -> None:
    """Files grouped by hour partition (as the API reads them), each group aggregated on its
    own and the partial buckets merged (a day spans 26 of them here), with every batch
    archived twice: the reference's candles, ties on open/close included."""
    start, end = T0, T0 + timedelta(hours=27)
    groups: dict[str, list[Path]] = {}
    for copy in range(2):  # the same ticks archived again under other batch ids
        for number, (key, data) in enumerate(
                (k, d) for s in range(0, len(ticks), 700 + copy * 300)
                for k, d in archive_objects(batch_id(ticks[s:s + 700 + copy * 300]) + str(copy),
                                            ticks[s:s + 700 + copy * 300])):
            path = tmp_path / f"{copy}-{number}.json.gz"
            path.write_bytes(data)
            groups.setdefault(key.rsplit("/", 1)[0], []).append(path)
    assert len(groups) >= 26
    got = candles_from_partitions(list(groups.values()), "AAPL", interval, start, end,
                                  memory_limit_mb=64)
    assert got == candles_python(ticks, "AAPL", interval, start, end)
    assert sum(c.count for c in got) == sum(1 for t in ticks if t.symbol == "AAPL")
