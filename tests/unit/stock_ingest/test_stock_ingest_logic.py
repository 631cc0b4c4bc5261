"""The ingest rules: table keys, per-symbol events, symbol statistics, query ranges, errors."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.stock_ingest import logic
from services.stock_ingest.archive import batch_id
from services.stock_ingest.models import SymbolSummary, Tick, validate_ticks
from shared.errors import ProblemError

NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)


def ticks(*rows: tuple[str, str, float]) -> list[Tick]:
    body = {"ticks": [{"symbol": s, "timestamp": t, "price": p, "volume": 100}
                      for s, t, p in rows]}
    batch = validate_ticks(body, now=NOW)
    assert not batch.rejected
    return batch.ticks


def test_tick_keys_sort_by_time_then_id_whatever_the_precision() -> None:
    """Keys are fixed width, so string order is (timestamp, id) order, microseconds or not."""
    later, earlier, same_time = ticks(("A", "2024-06-03T10:00:00.5Z", 1),
                                      ("A", "2024-06-03T10:00:00Z", 2),
                                      ("A", "2024-06-03T10:00:00.500000Z", 3))
    assert logic.tick_key(earlier) == f"2024-06-03T10:00:00.000000Z#{earlier.id}"
    assert logic.tick_key(earlier) < logic.tick_key(later)
    assert sorted([logic.tick_key(later), logic.tick_key(same_time)]) == [
        f"2024-06-03T10:00:00.500000Z#{i}" for i in sorted([later.id, same_time.id])]
    assert logic.LOWEST_KEY < logic.tick_key(earlier) < logic.HIGHEST_KEY


def test_by_symbol_orders_each_symbols_ticks() -> None:
    """Symbols come alphabetically, each with its ticks in (timestamp, id) order."""
    batch = ticks(("MSFT", "2024-06-03T10:00:02Z", 1), ("AAPL", "2024-06-03T10:00:01Z", 2),
                  ("MSFT", "2024-06-03T10:00:01Z", 3))
    groups = logic.by_symbol(batch)
    assert list(groups) == ["AAPL", "MSFT"]
    assert [t.price for t in groups["MSFT"]] == [3, 1]


def test_one_recorded_event_per_symbol_with_a_stable_id() -> None:
    """Each symbol's event carries its ticks in order; the same batch gives the same ids."""
    batch = ticks(("MSFT", "2024-06-03T10:00:02Z", 1.5), ("AAPL", "2024-06-03T10:00:01Z", 2),
                  ("MSFT", "2024-06-03T10:00:01Z", 3))
    bid = batch_id(batch)
    events = logic.recorded_events(bid, logic.by_symbol(batch))
    again = logic.recorded_events(bid, logic.by_symbol(list(reversed(batch))))
    assert [e.id for e in events] == [e.id for e in again]
    assert len({e.id for e in events}) == 2
    other = logic.recorded_events("another-batch", logic.by_symbol(batch))
    assert not {e.id for e in events} & {e.id for e in other}
    msft = events[1]
    uuid.UUID(msft.id)
    assert msft.type == "dev.regatta.stock-ingest.stock.ticks.recorded.v1"
    assert (msft.source, msft.subject, msft.partitionkey) == ("regatta/stock-ingest", "MSFT",
                                                              "MSFT")
    assert json.loads(msft.to_json())["data"] == {
        "symbol": "MSFT",
        "batch_id": bid,
        "ticks": [
            {"id": batch[2].id, "timestamp": "2024-06-03T10:00:01Z", "price": 3.0, "volume": 100},
            {"id": batch[0].id, "timestamp": "2024-06-03T10:00:02Z", "price": 1.5, "volume": 100},
        ],
    }


def test_symbol_statistics_merge_min_max_and_count() -> None:
    """A batch widens first/last only where it reaches further, and adds its count."""
    at = datetime(2024, 6, 3, 10, tzinfo=UTC)
    first = logic.merged(None, logic.SymbolBatch("A", 3, at, at + timedelta(minutes=1)))
    assert first == SymbolSummary(symbol="A", first_tick_at=at,
                                  last_tick_at=at + timedelta(minutes=1), tick_count=3)
    older = logic.merged(first, logic.SymbolBatch("A", 2, at - timedelta(hours=1), at))
    assert (older.first_tick_at, older.last_tick_at, older.tick_count) == (
        at - timedelta(hours=1), at + timedelta(minutes=1), 5)
    newer = logic.merged(older, logic.SymbolBatch("A", 1, at + timedelta(hours=2),
                                                  at + timedelta(hours=2)))
    assert newer.last_tick_at == at + timedelta(hours=2)
    assert newer.first_tick_at == older.first_tick_at


def test_time_range_defaults_bounds_and_caps() -> None:
    """Missing bounds default from now; naive means UTC; empty or too long ranges are 422."""
    day = timedelta(days=1)
    assert logic.time_range(None, None, now=NOW, default_span=day) == (NOW - day, NOW)
    naive = datetime(2024, 6, 1, 12)
    assert logic.time_range(naive, None, now=NOW, default_span=day)[0] == naive.replace(
        tzinfo=UTC)
    with pytest.raises(ProblemError) as empty:
        logic.time_range(NOW, NOW, now=NOW, default_span=day)
    assert empty.value.status == 422
    with pytest.raises(ProblemError, match="more than 48 hours"):
        logic.time_range(NOW - 3 * day, NOW, now=NOW, default_span=day,
                         max_span=timedelta(hours=48))
    assert logic.optional_range(None, None) == (None, None)
    with pytest.raises(ProblemError):
        logic.optional_range(NOW, NOW - day)


def test_rejections_become_problem_errors_with_body_paths() -> None:
    """Each field error names its place in the body: ticks.<index>.<field> for a batch."""
    batch = validate_ticks({"ticks": [{"symbol": "A", "timestamp": "2024-06-03T10:00:00Z",
                                       "price": 1}, {"symbol": "A", "price": -1}]}, now=NOW)
    errors = logic.rejection_errors(batch.rejected, batch=True)
    assert {e["field"] for e in errors} == {"ticks.1.timestamp", "ticks.1.price"}
    single = validate_ticks({"symbol": "A", "price": 1}, now=NOW)
    assert logic.rejection_errors(single.rejected, batch=False) == [
        {"field": "timestamp", "in": "body", "message": "Field required"}]
