"""The trend batch handler against an in-memory store: one state read/write per symbol and
batch, applied events skipped, lost races failed, unreadable events holding their symbol back,
and signals announced before they are committed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from services.trend.consumers import TrendUpdater
from services.trend.indicators import IndicatorConfig
from services.trend.store import Loaded, StoredState, SymbolUpdate
from shared.events import CloudEvent, Notification
from shared.worker import Outcome

T0 = datetime(2024, 6, 3, 10, tzinfo=UTC)
SMALL = IndicatorConfig(sma_short=2, sma_long=3)
RECORDED = "dev.regatta.stock-ingest.stock.ticks.recorded.v1"


class MemoryStore:
    """TrendStore's two batch calls, in memory, with a log of every call."""

    def __init__(self) -> None:
        self.states: dict[str, StoredState] = {}
        self.applied: set[str] = set()
        self.calls: list[str] = []
        self.lose: set[str] = set()

    async def load(self, symbols: Sequence[str], keys: Sequence[str]) -> Loaded:
        self.calls.append(f"load {sorted(symbols)}")
        return Loaded({s: self.states[s] for s in symbols if s in self.states},
                      {k for k in keys if k in self.applied}, set())

    async def save_signals(self, signals: Sequence[object]) -> None:
        self.calls.append(f"signals {len(signals)}")

    async def commit(self, updates: Sequence[SymbolUpdate], *, unrecorded: object) -> set[str]:
        self.calls.append(f"commit {[u.symbol for u in updates]}")
        for update in updates:
            if update.symbol in self.lose:
                continue
            self.states[update.symbol] = StoredState(update.symbol, update.expected_version + 1,
                                                     update.engine.to_dict())
            self.applied.update(update.event_keys)
        return {u.symbol for u in updates} & self.lose


class Publisher:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.sent: list[Any] = []

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        self.calls.append(f"events {len(events)}")
        self.sent += events

    async def notify(self, notifications: Sequence[Notification]) -> None:
        self.calls.append(f"alerts {len(notifications)}")
        self.sent += notifications


def recorded(symbol: str, prices: list[float], *, start: int = 0, event_id: str = "") -> CloudEvent:
    ticks = [{"id": f"{symbol}-{start + i}", "price": p, "volume": 10,
              "timestamp": (T0 + timedelta(seconds=start + i)).isoformat()}
             for i, p in enumerate(prices)]
    return CloudEvent(id=event_id or f"{symbol}-{start}", source="regatta/stock-ingest",
                      type=RECORDED, subject=symbol, partitionkey=symbol,
                      data={"symbol": symbol, "batch_id": "b", "ticks": ticks})


def updater(store: MemoryStore) -> tuple[TrendUpdater, Publisher, Publisher]:
    alerts, events = Publisher(store.calls), Publisher(store.calls)
    return TrendUpdater(store, alerts=alerts, events=events, config=SMALL), alerts, events  # type: ignore[arg-type]


async def test_a_batch_reads_and_writes_each_symbol_once() -> None:
    """Three events of two symbols: one load, one commit, both symbols' ticks applied in order."""
    store = MemoryStore()
    handle, _, _ = updater(store)
    outcomes = await handle([recorded("AAA", [3, 2]), recorded("BBB", [1, 2, 3]),
                             recorded("AAA", [1, 5], start=2)])
    assert outcomes == [Outcome.SUCCEEDED] * 3
    assert store.calls[0] == "load ['AAA', 'BBB']"
    assert sorted(store.calls[1:4]) == ["alerts 1", "events 1", "signals 1"]
    assert store.calls[4:] == ["commit ['AAA', 'BBB']"]
    assert store.states["AAA"].document["ticks_seen"] == 4
    assert store.states["AAA"].version == 1


async def test_signals_are_announced_before_the_commit() -> None:
    """Alert text, structured event and signal row are written, then the state that
    produced them."""
    store = MemoryStore()
    handle, alerts, events = updater(store)
    await handle([recorded("AAA", [3, 2, 1, 5])])
    commit = store.calls.index("commit ['AAA']")
    assert max(store.calls.index(c) for c in ("alerts 1", "events 1", "signals 1")) < commit
    (alert,) = alerts.sent
    assert alert.message == "AAA is in an Uptrend! Consider a buy opportunity."
    (event,) = events.sent
    assert event.data["tick_id"] == "AAA-3" and event.subject == "AAA"


async def test_applied_events_are_duplicates_and_change_nothing() -> None:
    """A redelivered batch: every event is DUPLICATE, no signal is sent, no state written."""
    store = MemoryStore()
    handle, alerts, _ = updater(store)
    batch = [recorded("AAA", [3, 2, 1, 5]), recorded("AAA", [1, 1], start=4)]
    await handle(batch)
    state, sent = dict(store.states), len(alerts.sent)
    store.calls.clear()
    assert await handle(batch) == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert store.states == state and len(alerts.sent) == sent
    assert store.calls == ["load ['AAA']", "signals 0", "commit []"]


async def test_a_symbol_that_lost_a_race_fails_and_the_others_succeed() -> None:
    """When another worker moved a symbol's state, its events fail (and come back later)."""
    store = MemoryStore()
    store.lose = {"BBB"}
    handle, _, _ = updater(store)
    outcomes = await handle([recorded("AAA", [1, 2]), recorded("BBB", [1, 2]),
                             recorded("BBB", [3], start=2)])
    assert outcomes == [Outcome.SUCCEEDED, Outcome.FAILED, Outcome.FAILED]
    assert "BBB" not in store.states


async def test_an_unreadable_event_holds_back_the_rest_of_its_symbol() -> None:
    """Bad data fails that event; later events of its symbol are not applied; others are."""
    store = MemoryStore()
    handle, _, _ = updater(store)
    bad = CloudEvent(source="regatta/stock-ingest", type=RECORDED, subject="AAA",
                     partitionkey="AAA", data={"symbol": "AAA", "ticks": "nope"})
    outcomes = await handle([recorded("AAA", [1]), bad, recorded("AAA", [2], start=1),
                             recorded("BBB", [5])])
    assert outcomes == [Outcome.SUCCEEDED, Outcome.FAILED, Outcome.FAILED, Outcome.SUCCEEDED]
    assert store.states["AAA"].document["ticks_seen"] == 1


async def test_other_event_types_are_acknowledged_without_effect() -> None:
    """An event the queue should not have carried is deleted, not retried into the DLQ."""
    store = MemoryStore()
    handle, _, _ = updater(store)
    other = CloudEvent(source="x", type="dev.regatta.other.thing.v1", data={})
    assert await handle([other]) == [Outcome.SUCCEEDED]
    assert store.states == {}
