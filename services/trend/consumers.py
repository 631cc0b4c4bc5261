"""Queue handlers of the trend service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import ValidationError

from services.trend import logic
from services.trend.indicators import IndicatorConfig
from services.trend.models import TicksRecorded
from services.trend.signals import Signal
from services.trend.store import SymbolUpdate, TrendStore
from shared.events import SNS_BATCH_SIZE, CloudEvent, EventPublisher
from shared.logging import get_logger
from shared.worker import Outcome

log = get_logger("trend.consumers")


class TrendUpdater:
    """Applies ``stock.ticks.recorded`` events to per-symbol indicators and announces crosses.

    Called with a whole received batch (``shared.batch``): for every symbol in it, the state
    is read once and written once, however many of its events the batch holds. Per batch:

        1 BatchGetItem     every symbol's state + every event id's idempotency record
        publish + store    the batch's new signals: alert texts, trend.signal.detected, and
                           the signals table (all at once)
        commit             one conditional PutItem per symbol, then the event ids
                           (see TrendStore.commit)

    Publishing comes before the commit, so no state is committed before its signals are
    announced and stored. If the process dies in between, the redelivered events recompute
    the very same signals and publish them again: at least once (the structured event keeps
    its id, so consumers drop the repeat; an e-mail alert may repeat), never lost.
    """

    def __init__(self, store: TrendStore, *, alerts: EventPublisher, events: EventPublisher,
                 config: IndicatorConfig) -> None:
        self.store = store
        self.alerts = alerts
        self.events = events
        self.config = config

    async def __call__(self, events: Sequence[CloudEvent]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(events)
        lanes: dict[str, list[tuple[int, CloudEvent, TicksRecorded]]] = {}
        blocked: set[str] = set()
        for index, event in enumerate(events):
            group = event.partitionkey or event.subject or ""
            if event.type != logic.TICKS_RECORDED:
                outcomes[index] = Outcome.SUCCEEDED  # not ours to apply
                continue
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
        updates: list[tuple[SymbolUpdate, list[int]]] = []
        for symbol, lane in lanes.items():
            stored = loaded.states.get(symbol)
            engine, restarted = logic.resume(symbol, stored and stored.document, self.config)
            if restarted:
                log.warning("trend.state_restarted", symbol=symbol,
                            reason="stored state has other indicator periods")
            update = SymbolUpdate(symbol, stored.version if stored else 0, engine)
            indexes = []
            for index, event, data in lane:
                if event.key in loaded.applied or event.key in update.event_keys:
                    outcomes[index] = Outcome.DUPLICATE
                    continue
                update.signals += logic.advance(engine, data.ticks)
                update.event_keys.append(event.key)
                indexes.append(index)
            if indexes:
                updates.append((update, indexes))

        signals = [s for update, _ in updates for s in update.signals]
        await asyncio.gather(self._announce(signals), self.store.save_signals(signals))
        lost = await self.store.commit([update for update, _ in updates],
                                       unrecorded=loaded.unrecorded)
        for update, indexes in updates:
            outcome = Outcome.FAILED if update.symbol in lost else Outcome.SUCCEEDED
            for index in indexes:
                outcomes[index] = outcome
            log.info("trend.updated", symbol=update.symbol, events=len(indexes),
                     ticks_seen=update.engine.state.ticks_seen, signals=len(update.signals),
                     version=update.expected_version + 1, lost_race=update.symbol in lost)
        return [o or Outcome.SUCCEEDED for o in outcomes]

    async def _announce(self, signals: list[Signal]) -> None:
        # Standard topics keep no order, so every PublishBatch of both topics goes at once.
        chunks = [signals[i : i + SNS_BATCH_SIZE] for i in range(0, len(signals), SNS_BATCH_SIZE)]
        await asyncio.gather(
            *(self.alerts.notify([logic.alert(s) for s in chunk]) for chunk in chunks),
            *(self.events.publish([logic.signal_event(s) for s in chunk]) for chunk in chunks))
