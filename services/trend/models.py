"""Request, response, event and domain models of the trend service."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from services.trend.signals import Crossover, Trend


class RecordedTick(BaseModel):
    """A tick as ``stock.ticks.recorded`` carries it (the consumer's view of the contract)."""

    id: str
    timestamp: AwareDatetime
    price: float
    volume: int | None = None


class TicksRecorded(BaseModel):
    """Data of ``stock.ticks.recorded``: one symbol's ticks of one ingest request."""

    symbol: str
    batch_id: str
    ticks: list[RecordedTick]


class IgnoredTicks(BaseModel):
    """Ticks the engine skipped: repeats of processed ones, and ones older than the last."""

    duplicates: int
    out_of_order: int


class TrendSummary(BaseModel):
    """A symbol's latest trend, as GET /trends lists it."""

    symbol: str
    trend: Trend
    as_of: AwareDatetime | None
    """Time of the last processed tick."""
    price: float | None
    ticks_seen: int


class TrendList(BaseModel):
    items: list[TrendSummary]


class AlertsPublic(BaseModel):
    """The e-mail alert throttle of a symbol: at most one alert per direction per window."""

    window_seconds: int = 0
    last_up: AwareDatetime | None = None
    """Tick time of the last up-cross alert sent."""
    last_down: AwareDatetime | None = None
    suppressed: int = 0
    """Signals whose e-mail the window held back (their events still went out)."""


class TrendPublic(TrendSummary):
    """GET /trends/{symbol}: indicators at the last tick, null while warming up.

    Indicator names follow the configured periods (``sma_5``, ``ema_12``, ``rsi_14``...).
    """

    indicators: dict[str, float | None]
    ignored: IgnoredTicks
    alerts: AlertsPublic = Field(default_factory=lambda: AlertsPublic())


class SignalPublic(Crossover):
    """A crossover, as GET /trends/{symbol}/signals lists it."""


class SignalPage(BaseModel):
    """One page of signals, newest first; pass ``next_cursor`` back as ``cursor``."""

    items: list[SignalPublic]
    next_cursor: str | None = None


class SignalDetected(SignalPublic):
    """Data of ``trend.signal.detected`` on trend-events."""

    symbol: str
    subject: str
    tick_id: str
