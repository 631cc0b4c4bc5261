"""SMA crossover signals and the alerts they raise.

Convention (the usual one, and TA-Lib users'): an up (golden) cross happens at tick t when
``short[t-1] <= long[t-1]`` and ``short[t] > long[t]``; a down (death) cross when
``short[t-1] >= long[t-1]`` and ``short[t] < long[t]``. Both averages must be defined at t-1
and at t, so the first tick with full windows never signals. Reaching equal averages is not a
cross; leaving equality is, whichever side the averages came from (a touch-and-go signals).

The alert texts are the original project's, as plain text (the original's markdown emphasis
is dropped: an e-mail or SMS subscriber would see the asterisks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import TypeGuard

from pydantic import AwareDatetime, BaseModel, ConfigDict, computed_field

UPTREND_MESSAGE = "{symbol} is in an Uptrend! Consider a buy opportunity."
DOWNTREND_MESSAGE = "{symbol} is in a Downtrend! Consider selling."
ALERT_SUBJECT = "Stock Alert: {symbol}"


class Direction(StrEnum):
    """Which way the short average crossed the long one."""

    up = "up"
    down = "down"


class Trend(StrEnum):
    """Where the short average stands against the long one."""

    up = "up"
    down = "down"
    flat = "flat"  # equal averages, or still warming up


class Crossover(BaseModel):
    """What a crossover is, wherever it is shown: the API's `SignalPublic`, the event's data."""

    direction: Direction
    at: AwareDatetime
    """Timestamp of the tick that completed the cross."""
    price: float
    short: float
    """Short SMA at that tick."""
    long: float
    """Long SMA at that tick."""
    message: str


class Signal(Crossover):
    """An SMA crossover at one tick."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    tick_id: str = ""
    """Id of the tick that completed the cross (with ``at``, the signal's identity)."""

    # mypy refuses a decorator over @property; pydantic's documented way to type it
    @computed_field  # type: ignore[prop-decorator]
    @property
    def subject(self) -> str:
        """Subject line of the alert (SNS email subject)."""
        return alert_subject(self.symbol)


def alert_message(symbol: str, direction: Direction) -> str:
    """The alert text for a cross of ``symbol``."""
    template = UPTREND_MESSAGE if direction is Direction.up else DOWNTREND_MESSAGE
    return template.format(symbol=symbol)


def alert_subject(symbol: str) -> str:
    """The alert subject line for ``symbol``."""
    return ALERT_SUBJECT.format(symbol=symbol)


def make_signal(
    symbol: str, direction: Direction, at: datetime, price: float, short: float, long: float,
    tick_id: str = "",
) -> Signal:
    """A `Signal` with its alert message filled in."""
    return Signal(
        symbol=symbol,
        direction=direction,
        at=at,
        price=price,
        short=short,
        long=long,
        message=alert_message(symbol, direction),
        tick_id=tick_id,
    )


def crossover(prev_short: float, prev_long: float, short: float, long: float) -> Direction | None:
    """The cross between two consecutive ticks with full windows, if any."""
    if prev_short <= prev_long and short > long:
        return Direction.up
    if prev_short >= prev_long and short < long:
        return Direction.down
    return None


def trend_of(short: float | None, long: float | None) -> Trend:
    """The trend the two averages show; flat while either is undefined."""
    if short is None or long is None or math.isnan(short) or math.isnan(long):
        return Trend.flat
    if short > long:
        return Trend.up
    if short < long:
        return Trend.down
    return Trend.flat


def detect_crossovers(
    shorts: Sequence[float | None], longs: Sequence[float | None]
) -> list[tuple[int, Direction]]:
    """Every cross in two aligned series; ``None`` or NaN marks a window still filling.

    The reference definition: the indicator engine detects the same crosses incrementally.
    """

    def defined(x: float | None) -> TypeGuard[float]:
        return x is not None and not math.isnan(x)

    found: list[tuple[int, Direction]] = []
    for t in range(1, min(len(shorts), len(longs))):
        ps, pl, s, lg = shorts[t - 1], longs[t - 1], shorts[t], longs[t]
        if defined(ps) and defined(pl) and defined(s) and defined(lg):
            direction = crossover(ps, pl, s, lg)
            if direction is not None:
                found.append((t, direction))
    return found
