"""Queue handlers of the trend service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import orjson
from pydantic import ValidationError

from services.trend import logic
from services.trend.indicators import IndicatorConfig, IndicatorEngine
from services.trend.models import TicksRecorded
from services.trend.signals import Signal
from services.trend.store import PartialEvent, StateWrite, StoredState, TrendStates
from shared.events import CloudEvent
from shared.logging import get_logger
from shared.outbox import TRANSACTION_LIMIT
from shared.worker import Outcome, PerBatch, QueueSubscription

log = get_logger("trend.consumers")

# A state write holds the state and, per signal, its row, its event and its alert.
SIGNALS_PER_WRITE = (TRANSACTION_LIMIT - 1) // 3

TICKS = QueueSubscription(
    "trend-ticks.fifo", event_types=frozenset({logic.TICKS_RECORDED}), strategy=PerBatch)


class TrendUpdater:
    """Applies ``stock.ticks.recorded`` events to per-symbol indicators and announces crosses.

    The handler of `TICKS`, called with a whole received batch (`PerBatch`): for every symbol
    in it, the state is read once and written once (more often only when its ticks complete
    more than `SIGNALS_PER_WRITE` signals), however many of its events the batch holds. Per
    batch:

        1 BatchGetItem     every symbol's state + every event id's idempotency record
        per symbol         its new state, conditional on the version read, in one transaction
                           with its new signals: their rows, and in the outbox their
                           trend.signal.detected events and alert texts (TrendStore.commit)
        1 BatchWriteItem   the applied event ids

    Nothing is announced unless the state that produced it is committed, and nothing
    committed goes unannounced: the worker's outbox relay publishes the outbox to
    trend-events and stock-trend-alerts. A redelivered event is recognised by its id (or by
    the state's ``last_events``), and the ticks of an event a write stopped inside are
    skipped up to where it stopped (``partial``), so no signal is queued twice. Alerts are
    at least once only across the relay's window: a relay that dies after SNS accepted a
    PublishBatch and before it deleted those (at most ten) messages from the outbox sends
    them again; the structured events keep their ids, so consumers drop the repeat, but an
    e-mail alert repeats.
    """

    def __init__(self, store: TrendStates, *, config: IndicatorConfig,
                 alert_window: timedelta = timedelta(0)) -> None:
        self.store = store
        self.config = config
        self.alert_window = alert_window

    async def __call__(self, events: Sequence[CloudEvent]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(events)
        lanes: dict[str, list[tuple[int, CloudEvent, TicksRecorded]]] = {}
        blocked: set[str] = set()
        for index, event in enumerate(events):
            group = event.partitionkey or event.subject or ""
            if group in blocked:
                outcomes[index] = Outcome.FAILED  # keeps the symbol's order (released)
                continue
            try:
                data = TicksRecorded.model_validate(event.data)
            except ValidationError as exc:
                log.warning("ticks.unreadable", event_id=event.id, error=str(exc)[:500])
                outcomes[index] = Outcome.FAILED
                blocked.add(group)
                continue
            lanes.setdefault(data.symbol, []).append((index, event, data))

        # The same event twice in one receive (a producer's retry, a redelivery) is one key:
        # BatchGetItem refuses a list with repeated keys, and would fail the whole batch.
        loaded = await self.store.load(list(lanes), list(dict.fromkeys(
            event.key for lane in lanes.values() for _, event, _ in lane)))
        writes: dict[str, list[StateWrite]] = {}
        pending: dict[str, list[tuple[int, str]]] = {}
        for symbol, lane in lanes.items():
            fresh: list[tuple[int, CloudEvent, TicksRecorded]] = []
            seen: set[str] = set()
            for index, event, data in lane:
                if event.key in loaded.applied or event.key in seen:
                    outcomes[index] = Outcome.DUPLICATE
                else:
                    fresh.append((index, event, data))
                    seen.add(event.key)
            if fresh:
                writes[symbol] = self._plan(symbol, loaded.states.get(symbol), fresh)
                pending[symbol] = [(index, event.key) for index, event, _ in fresh]

        applied = await self.store.commit(writes, unrecorded=loaded.unrecorded)
        for symbol, lane_writes in writes.items():
            done = [index for index, key in pending[symbol] if key in applied]
            for index, _ in pending[symbol]:
                outcomes[index] = Outcome.SUCCEEDED if index in done else Outcome.FAILED
            last = lane_writes[-1]
            log.info("trend.updated", symbol=symbol, events=len(pending[symbol]),
                     ticks_seen=last.summary.ticks_seen,
                     signals=sum(len(w.signals) for w in lane_writes), writes=len(lane_writes),
                     version=last.version, lost_race=len(done) < len(pending[symbol]))
        return [o or Outcome.SUCCEEDED for o in outcomes]

    def _plan(self, symbol: str, stored: StoredState | None,
              lane: list[tuple[int, CloudEvent, TicksRecorded]]) -> list[StateWrite]:
        """The state writes that apply ``lane`` (events not applied yet) to ``symbol``.

        Every tick completes at most one signal, so feeding the engine no more ticks than a
        write has room for keeps each write within the transaction limit; when a write is
        full, it is cut where the engine stands, inside an event if need be.
        """
        engine, restarted = logic.resume(symbol, stored.document if stored else None,
                                         self.config)
        if restarted:
            log.warning("trend.state_restarted", symbol=symbol,
                        reason="stored state has other indicator periods")
        resumed = stored.partial if stored and not restarted else None
        version = stored.version if stored else 0
        writes: list[StateWrite] = []
        applied: list[str] = []
        signals: list[Signal] = []
        throttle = logic.AlertThrottle.from_json(stored.alerting if stored else None,
                                                 self.alert_window)

        def cut(partial: PartialEvent | None) -> None:
            alerts = [s for s in signals if throttle.admit(s)]
            writes.append(_write(engine, version + len(writes) + 1, applied, partial, signals,
                                 alerts, throttle.to_json()))
            signals.clear()

        for _, event, data in lane:
            ticks = logic.in_order(data.ticks)
            done = resumed.ticks if resumed and resumed.key == event.key else 0
            while len(ticks) - done > SIGNALS_PER_WRITE - len(signals):
                room = SIGNALS_PER_WRITE - len(signals)
                if room == 0:
                    cut(PartialEvent(event.key, done) if done else None)
                    continue
                signals += logic.advance(engine, ticks[done : done + room])
                done += room
            signals += logic.advance(engine, ticks[done:])
            applied.append(event.key)
        cut(None)
        return writes


def _write(engine: IndicatorEngine, version: int, applied: list[str],
           partial: PartialEvent | None, signals: list[Signal], alerts: list[Signal],
           alerting: str) -> StateWrite:
    # The engine goes on changing after this write: its state is serialised now.
    return StateWrite(symbol=engine.symbol, version=version, summary=logic.summary(engine),
                      state=orjson.dumps(engine.to_dict()).decode(), applied=tuple(applied),
                      partial=partial, signals=tuple(signals), alerts=tuple(alerts),
                      alerting=alerting)
