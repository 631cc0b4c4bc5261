"""The events stock-ingest publishes (through its outbox): ``stock.ticks.recorded``, one per
symbol of a batch, its id derived from batch and symbol (a retried request repeats it)."""

from __future__ import annotations

from shared.outbox import EventSource

TICK_EVENTS = EventSource(service="stock-ingest", topic="stock-ticks.fifo")
TICKS_RECORDED = TICK_EVENTS.type_of("stock.ticks.recorded")
