"""The trend rules: resuming an engine from stored state, feeding it ticks, naming signals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from services.trend.events import TREND_EVENTS
from services.trend.indicators import IndicatorConfig, IndicatorEngine, InvalidIndicatorStateError
from services.trend.models import (
    IgnoredTicks,
    RecordedTick,
    SignalDetected,
    TrendPublic,
    TrendSummary,
)
from services.trend.signals import Signal, alert_subject
from shared.events import CloudEvent, Notification, event_type

TICKS_RECORDED = event_type("stock-ingest", "stock.ticks.recorded")


def resume(
    symbol: str, document: dict[str, Any] | None, config: IndicatorConfig
) -> tuple[IndicatorEngine, bool]:
    """The symbol's engine from its stored state document, and whether it had to restart.

    A state built with other periods than ``config`` (or unreadable) restarts from no tick:
    continuing it would mix two definitions of every indicator.
    """
    if document is None:
        return IndicatorEngine(symbol, config), False
    try:
        return IndicatorEngine.from_dict(document, config), False
    except InvalidIndicatorStateError:
        return IndicatorEngine(symbol, config), True


def in_order(ticks: Sequence[RecordedTick]) -> list[RecordedTick]:
    """Ticks in the order the engine takes them: (timestamp, id)."""
    return sorted(ticks, key=lambda t: (t.timestamp, t.id))


def advance(engine: IndicatorEngine, ticks: Sequence[RecordedTick]) -> list[Signal]:
    """Feed ticks in (timestamp, id) order; the crossovers they complete.

    Each signal's ``at`` is its tick's own timestamp (not a float round trip), so its key and
    event id are the same however often the ticks are replayed.
    """
    ordered = in_order(ticks)
    signals = engine.update_many(
        [t.price for t in ordered],
        [t.volume for t in ordered],
        [t.timestamp.timestamp() for t in ordered],
        [t.id for t in ordered],
    )
    if not signals:
        return []
    at = {t.id: t.timestamp for t in ordered}
    return [s.model_copy(update={"at": at[s.tick_id]}) for s in signals]


def key_time(at: datetime) -> str:
    """A UTC time in fixed width (always microseconds), so keys sort by time."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def signal_key(signal: Signal) -> str:
    """Sort key of a signal within its symbol: the crossing tick's time and id (unique)."""
    return f"{key_time(signal.at)}#{signal.tick_id}"


def signal_fact(signal: Signal) -> tuple[str, ...]:
    """What identifies a signal: its event id and its alert's ``signal_id`` derive from it."""
    return "signal", signal.symbol, signal_key(signal)


def signal_event(signal: Signal) -> CloudEvent:
    """``trend.signal.detected``, its id derived from the signal's key (replays repeat it)."""
    data = SignalDetected(subject=signal.subject, **signal.model_dump(exclude={"subject"}))
    return TREND_EVENTS.event("trend.signal.detected", data, subject=signal.symbol,
                              fact=signal_fact(signal))


def alert(signal: Signal) -> Notification:
    """The human alert, as the original sent it, with attributes subscribers can filter on."""
    return Notification(
        subject=alert_subject(signal.symbol),
        message=signal.message,
        attributes={
            "symbol": signal.symbol,
            "direction": signal.direction.value,
            "signal_id": TREND_EVENTS.fact_id(*signal_fact(signal)),
        },
    )


def summary(engine: IndicatorEngine) -> TrendSummary:
    """What GET /trends lists for a symbol."""
    state = engine.state
    return TrendSummary(symbol=engine.symbol, trend=engine.trend, as_of=engine.last_tick_time,
                        price=state.last_price, ticks_seen=state.ticks_seen)


def trend_view(engine: IndicatorEngine) -> TrendPublic:
    """What GET /trends/{symbol} shows: the summary, every indicator, the ignored ticks."""
    state = engine.state
    return TrendPublic(
        **summary(engine).model_dump(),
        indicators=engine.values(),
        ignored=IgnoredTicks(duplicates=state.duplicates, out_of_order=state.out_of_order),
    )


@dataclass
class AlertThrottle:
    """At most one e-mail alert per symbol and direction per ``window``, by tick time.

    Signals inside the window of the last alert of their direction still become signal rows
    and ``trend.signal.detected`` events; only their e-mail is held back, and counted. Times
    are the ticks' own, so a replayed batch throttles exactly as the first run did.
    """

    window: timedelta
    last_alert: dict[str, datetime] = field(default_factory=dict)
    suppressed: int = 0

    def admit(self, signal: Signal) -> bool:
        """Whether ``signal`` is e-mailed (and remembered as its direction's last alert)."""
        last = self.last_alert.get(signal.direction.value)
        if last is not None and signal.at - last < self.window:
            self.suppressed += 1
            return False
        self.last_alert[signal.direction.value] = signal.at
        return True

    def to_json(self) -> str:
        return orjson.dumps({"last_alert": {d: t.isoformat() for d, t in self.last_alert.items()},
                             "suppressed": self.suppressed,
                             "window_seconds": int(self.window.total_seconds())}).decode()

    @classmethod
    def from_json(cls, text: str | None, window: timedelta | None = None) -> AlertThrottle:
        """The throttle as stored with a symbol's state (a fresh one when there is none),
        with ``window`` from now on (None: the window it was stored with)."""
        document = orjson.loads(text) if text else {}
        if window is None:
            window = timedelta(seconds=document.get("window_seconds", 0))
        return cls(window, {d: datetime.fromisoformat(t)
                            for d, t in document.get("last_alert", {}).items()},
                   int(document.get("suppressed", 0)))
