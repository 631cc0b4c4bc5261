"""The stock-ingest rules: table keys, per-symbol grouping, events, symbol statistics, ranges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.stock_ingest.events import TICK_EVENTS
from services.stock_ingest.models import (
    RecordedTick,
    RejectedTick,
    SymbolSummary,
    Tick,
    TicksRecorded,
)
from shared.errors import UnprocessableError
from shared.events import CloudEvent

# Tick keys start with the year's digits: these bounds lie below and above every one of them.
LOWEST_KEY, HIGHEST_KEY = "0", "9"


def key_time(at: datetime) -> str:
    """A UTC timestamp in fixed width (always microseconds), so keys sort by time."""
    return utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def tick_key(tick: Tick) -> str:
    """Sort key of a curated tick: time, then id (the engine's order)."""
    return f"{key_time(tick.timestamp)}#{tick.id}"


def by_symbol(ticks: Sequence[Tick]) -> dict[str, list[Tick]]:
    """Each symbol's ticks in (timestamp, id) order; symbols in alphabetical order."""
    groups: dict[str, list[Tick]] = {}
    for tick in ticks:
        groups.setdefault(tick.symbol, []).append(tick)
    return {s: sorted(groups[s], key=lambda t: (t.timestamp, t.id)) for s in sorted(groups)}


def recorded_events(batch_id: str, groups: dict[str, list[Tick]]) -> list[CloudEvent]:
    """One ``stock.ticks.recorded`` event per symbol, with an id derived from batch and symbol.

    A retried request publishes the same event ids: SNS FIFO deduplication drops them within
    five minutes and the trend consumer skips event ids it has applied.
    """
    return [
        TICK_EVENTS.event(
            "stock.ticks.recorded",
            TicksRecorded(
                symbol=symbol,
                batch_id=batch_id,
                ticks=[RecordedTick(id=t.id, timestamp=t.timestamp, price=t.price,
                                    volume=t.volume) for t in ticks],
            ).model_dump(mode="json", exclude_none=True),
            subject=symbol,
            partitionkey=symbol,
            fact=(batch_id, symbol),
        )
        for symbol, ticks in groups.items()
    ]


@dataclass(frozen=True)
class SymbolBatch:
    """What one request adds to a symbol's statistics."""

    symbol: str
    count: int
    first_tick_at: datetime
    last_tick_at: datetime

    @classmethod
    def of(cls, symbol: str, ticks: Sequence[Tick]) -> SymbolBatch:
        """Statistics of a symbol's ticks, given in time order."""
        return cls(symbol, len(ticks), ticks[0].timestamp, ticks[-1].timestamp)


def merged(current: SymbolSummary | None, batch: SymbolBatch) -> SymbolSummary:
    """A symbol's statistics with one more batch counted."""
    if current is None:
        return SymbolSummary(symbol=batch.symbol, first_tick_at=batch.first_tick_at,
                             last_tick_at=batch.last_tick_at, tick_count=batch.count)
    return SymbolSummary(
        symbol=batch.symbol,
        first_tick_at=min(current.first_tick_at, batch.first_tick_at),
        last_tick_at=max(current.last_tick_at, batch.last_tick_at),
        tick_count=current.tick_count + batch.count,
    )


def time_range(
    start: datetime | None, end: datetime | None, *, now: datetime, default_span: timedelta,
    max_span: timedelta | None = None,
) -> tuple[datetime, datetime]:
    """A half-open UTC range [start, end) from optional query bounds; 422 when unusable.

    A missing ``end`` is ``now``; a missing ``start`` is ``default_span`` before ``end``.
    """
    end = utc(end) if end else now
    start = utc(start) if start else end - default_span
    if start >= end:
        raise UnprocessableError("'from' must be earlier than 'to'")
    if max_span is not None and end - start > max_span:
        hours = int(max_span.total_seconds() // 3600)
        raise UnprocessableError(f"the range spans more than {hours} hours; ask for less")
    return start, end


def optional_range(
    start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Optional query bounds in UTC; 422 when both are given and not in order."""
    start, end = start and utc(start), end and utc(end)
    if start and end and start >= end:
        raise UnprocessableError("'from' must be earlier than 'to'")
    return start, end


def utc(at: datetime) -> datetime:
    """``at`` in UTC; a naive datetime is taken to be UTC already."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def rejection_errors(rejected: Sequence[RejectedTick], *, batch: bool) -> list[dict[str, str]]:
    """Tick rejections as the platform's problem ``errors[]`` (field paths into the body)."""
    errors = []
    for tick in rejected:
        for error in tick.errors:
            path = [*(["ticks", str(tick.index)] if batch else []), *map(str, error.loc)]
            errors.append({"field": ".".join(path) or "body", "in": "body",
                           "message": error.msg})
    return errors
