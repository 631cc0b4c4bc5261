"""The trend batch handler against an in-memory store: one state read/write per symbol and
batch, applied events skipped, lost races failed, unreadable events holding their symbol back,
signals committed with the state that produced them, writes cut to fit a transaction, and a
crash between two writes of one batch neither losing nor repeating a signal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import orjson

from services.trend import logic
from services.trend.consumers import SIGNALS_PER_WRITE, TICKS, TrendUpdater
from services.trend.indicators import IndicatorConfig, IndicatorEngine
from services.trend.models import RecordedTick
from services.trend.signals import Signal
from services.trend.store import Loaded, PartialEvent, StateWrite, StoredState
from shared.events import CloudEvent
from shared.worker import Outcome, SqsWorker
from tests.support.sqs_double import RecordingSqs, page

T0 = datetime(2024, 6, 3, 10, tzinfo=UTC)
SMALL = IndicatorConfig(sma_short=2, sma_long=3)
RECORDED = "dev.regatta.stock-ingest.stock.ticks.recorded.v1"


class Crash(Exception):
    """The process died in the middle of a commit."""


class MemoryStore:
    """TrendStore's two batch calls, in memory, with a log of every call and every write."""

    def __init__(self) -> None:
        self.states: dict[str, StoredState] = {}
        self.applied: set[str] = set()
        self.calls: list[str] = []
        self.writes: list[StateWrite] = []
        self.lose: set[str] = set()
        self.crash_after: int | None = None  # writes, then Crash

    async def load(self, symbols: Sequence[str], keys: Sequence[str]) -> Loaded:
        self.calls.append(f"load {sorted(symbols)}")
        states = {s: self.states[s] for s in symbols if s in self.states}
        marked = {k for state in states.values() for k in state.last_events} & set(keys)
        return Loaded(states, {k for k in keys if k in self.applied} | marked, set())

    async def commit(self, writes: Mapping[str, Sequence[StateWrite]], *,
                     unrecorded: object) -> set[str]:
        self.calls.append(f"commit {sorted(writes)}")
        applied: set[str] = set()
        for symbol, lane in writes.items():
            for write in lane:
                if symbol in self.lose:
                    break
                if self.crash_after is not None and len(self.writes) == self.crash_after:
                    raise Crash
                stored = self.states.get(symbol)
                assert write.version == (stored.version if stored else 0) + 1
                self.writes.append(write)
                self.states[symbol] = StoredState(symbol, write.version,
                                                  orjson.loads(write.state),
                                                  write.applied, write.partial)
                applied |= set(write.applied)
        self.applied |= applied
        return applied

    @property
    def signals(self) -> list[object]:
        return [s for w in self.writes for s in w.signals]


def ticks_of(symbol: str, prices: list[float], start: int = 0) -> list[dict[str, object]]:
    return [{"id": f"{symbol}-{start + i}", "price": p, "volume": 10,
             "timestamp": (T0 + timedelta(seconds=start + i)).isoformat()}
            for i, p in enumerate(prices)]


def recorded(symbol: str, prices: list[float], *, start: int = 0, event_id: str = "") -> CloudEvent:
    return CloudEvent(id=event_id or f"{symbol}-{start}", source="regatta/stock-ingest",
                      type=RECORDED, subject=symbol, partitionkey=symbol,
                      data={"symbol": symbol, "batch_id": "b",
                            "ticks": ticks_of(symbol, prices, start)})


def updater(store: MemoryStore) -> TrendUpdater:
    return TrendUpdater(store, config=SMALL)


def zigzag(count: int) -> list[float]:
    """Prices whose 2- and 3-tick averages cross on almost every tick."""
    return [10.0 + (3 if i % 2 else 0) + i * 0.01 for i in range(count)]


def one_go(symbol: str, prices: list[float]) -> tuple[IndicatorEngine, list[Signal]]:
    """The engine fed every tick at once, and its signals: what any split must end at."""
    engine = IndicatorEngine(symbol, SMALL)
    signals = logic.advance(engine, [RecordedTick.model_validate(t)
                                     for t in ticks_of(symbol, prices)])
    return engine, signals


async def test_a_batch_reads_and_writes_each_symbol_once() -> None:
    """Three events of two symbols: one load, one commit, one write per symbol, both
    symbols' ticks applied in order."""
    store = MemoryStore()
    outcomes = await updater(store)([recorded("AAA", [3, 2]), recorded("BBB", [1, 2, 3]),
                                     recorded("AAA", [1, 5], start=2)])
    assert outcomes == [Outcome.SUCCEEDED] * 3
    assert store.calls == ["load ['AAA', 'BBB']", "commit ['AAA', 'BBB']"]
    assert [w.symbol for w in store.writes] == ["AAA", "BBB"]
    assert store.states["AAA"].document["ticks_seen"] == 4
    assert store.states["AAA"].version == 1
    assert store.states["AAA"].last_events == (
        "regatta/stock-ingest#AAA-0", "regatta/stock-ingest#AAA-2")


async def test_signals_commit_with_the_state_that_produced_them() -> None:
    """The write that stores the state after the crossing tick carries its signal; the
    alert and the event the store queues with it are derived from that signal."""
    store = MemoryStore()
    await updater(store)([recorded("AAA", [3, 2, 1, 5])])
    (write,) = store.writes
    (signal,) = write.signals
    assert write.summary.ticks_seen == 4 and write.partial is None
    assert logic.alert(signal).message == "AAA is in an Uptrend! Consider a buy opportunity."
    event = logic.signal_event(signal)
    assert event.data["tick_id"] == "AAA-3" and event.subject == "AAA"
    assert event.type == "dev.regatta.trend.trend.signal.detected.v1"


async def test_applied_events_are_duplicates_and_change_nothing() -> None:
    """A redelivered batch: every event is DUPLICATE, no signal is queued, no state written."""
    store = MemoryStore()
    batch = [recorded("AAA", [3, 2, 1, 5]), recorded("AAA", [1, 1], start=4)]
    await updater(store)(batch)
    state, writes = dict(store.states), len(store.writes)
    store.calls.clear()
    store.applied.clear()  # the idempotency records are gone: the state's last_events tell
    assert await updater(store)(batch) == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert store.states == state and len(store.writes) == writes
    assert store.calls == ["load ['AAA']", "commit []"]


async def test_many_signals_are_cut_into_writes_that_fit_a_transaction() -> None:
    """An event whose ticks cross on almost every tick: several writes of at most
    SIGNALS_PER_WRITE signals, consecutive versions, each write cut inside the event where
    its state stands; together exactly the signals and the state of one uninterrupted run."""
    store = MemoryStore()
    prices = zigzag(150)
    engine, expected = one_go("ZIG", prices)
    assert len(expected) > 2 * SIGNALS_PER_WRITE
    first, second = recorded("ZIG", prices[:40]), recorded("ZIG", prices[40:], start=40)
    assert await updater(store)([first, second]) == [Outcome.SUCCEEDED, Outcome.SUCCEEDED]
    assert len(store.writes) > 2
    assert all(len(w.signals) <= SIGNALS_PER_WRITE for w in store.writes)
    assert [w.version for w in store.writes] == list(range(1, len(store.writes) + 1))
    # Every cut but the last stops inside an event, naming how many of its ticks the state
    # holds; the events before it are applied in full.
    starts = {first.key: 0, second.key: 40}
    for write in store.writes[:-1]:
        assert write.partial is not None
        assert write.partial == PartialEvent(write.partial.key,
                                             write.summary.ticks_seen - starts[write.partial.key])
        assert write.applied == (() if write.partial.key == first.key else (first.key,))
    assert {w.partial.key for w in store.writes[:-1] if w.partial} == set(starts)
    assert store.writes[-1].partial is None
    assert store.writes[-1].applied == (first.key, second.key)
    assert store.signals == expected
    assert store.states["ZIG"].document == engine.to_dict()


async def test_a_crash_between_two_writes_loses_and_repeats_nothing() -> None:
    """The process dies after the first of several writes of one batch; the redelivered
    batch resumes inside the event where that write stopped: every signal exactly once,
    no tick counted as a duplicate, the state of one uninterrupted run."""
    store = MemoryStore()
    prices = zigzag(120)
    engine, expected = one_go("ZIG", prices)
    batch = [recorded("ZIG", prices)]
    store.crash_after = 1
    try:
        await updater(store)(batch)
    except Crash:
        pass
    else:
        raise AssertionError("the batch needs more than one write for this test")
    (first,) = store.writes
    assert first.partial is not None and first.applied == ()
    store.crash_after = None
    assert await updater(store)(batch) == [Outcome.SUCCEEDED]
    assert store.signals == expected
    state = store.states["ZIG"].document
    assert state == engine.to_dict()
    assert (state["duplicates"], state["out_of_order"]) == (0, 0)
    assert await updater(store)(batch) == [Outcome.DUPLICATE]


async def test_a_symbol_that_lost_a_race_fails_and_the_others_succeed() -> None:
    """When another worker moved a symbol's state, its events fail (and come back later)."""
    store = MemoryStore()
    store.lose = {"BBB"}
    outcomes = await updater(store)([recorded("AAA", [1, 2]), recorded("BBB", [1, 2]),
                                     recorded("BBB", [3], start=2)])
    assert outcomes == [Outcome.SUCCEEDED, Outcome.FAILED, Outcome.FAILED]
    assert "BBB" not in store.states


async def test_an_unreadable_event_holds_back_the_rest_of_its_symbol() -> None:
    """Bad data fails that event; later events of its symbol are not applied; others are."""
    store = MemoryStore()
    bad = CloudEvent(source="regatta/stock-ingest", type=RECORDED, subject="AAA",
                     partitionkey="AAA", data={"symbol": "AAA", "ticks": "nope"})
    outcomes = await updater(store)([recorded("AAA", [1]), bad, recorded("AAA", [2], start=1),
                                     recorded("BBB", [5])])
    assert outcomes == [Outcome.SUCCEEDED, Outcome.FAILED, Outcome.FAILED, Outcome.SUCCEEDED]
    assert store.states["AAA"].document["ticks_seen"] == 1


async def test_other_event_types_are_acknowledged_without_effect() -> None:
    """An event the queue should not have carried is deleted, not retried into the DLQ: the
    subscription (`TICKS`) accepts ticks only, so the updater never sees it."""
    store, sqs = MemoryStore(), RecordingSqs()
    other = CloudEvent(source="x", type="dev.regatta.other.thing.v1", subject="AAA",
                       partitionkey="AAA", data={})
    records = page(other.to_json(), recorded("AAA", [1]).to_json(), groups="AA")
    worker = SqsWorker(sqs, "https://sqs/trend-ticks.fifo", TICKS.strategy(updater(store)),
                       event_types=TICKS.event_types)

    await worker.process(records)

    assert [r.outcome for r in records] == [Outcome.SUCCEEDED, Outcome.SUCCEEDED]
    assert sorted(sqs.deleted) == ["r0", "r1"]
    assert store.states["AAA"].document["ticks_seen"] == 1
