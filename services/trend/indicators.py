"""Incremental technical indicators for one symbol, identical to TA-Lib's definitions.

One `IndicatorEngine` per symbol consumes ticks in order and keeps SMA short/long, EMA
fast/slow, MACD, RSI, Bollinger Bands and a UTC-day VWAP up to date in O(1) per tick. Its
whole memory is an `IndicatorState`, a small JSON document the trend worker saves after each
batch and resumes from; a resumed engine continues bit for bit as if it had never stopped.

Matching TA-Lib (checked numerically against PyPI TA-Lib 0.8.2, C library 0.8.1; see the unit
tests, which hold every output to 1e-9 relative on long random walks and trends):

* SMA: running sum, first value at index N-1. The engine replays TA-Lib's exact additions
  and subtractions, so values agree to the last bit until the first resync (below).
* EMA(N): k = 2/(N+1), seeded with the mean of the first N prices at index N-1.
* MACD(fast, slow, signal): TA-Lib seeds its *internal* fast EMA with the mean of the `fast`
  prices ending at index slow-1, not of the first `fast` prices, so the MACD line is not
  ``EMA(fast) - EMA(slow)`` of the standalone EMAs (their difference converges to it only
  slowly). The slow EMA is the standalone one. The signal line is an EMA of the MACD line
  seeded with the mean of its first `signal` values; all three outputs start at index
  slow+signal-2 (33 for 12/26/9).
* RSI(N): Wilder smoothing seeded with the plain mean of the first N gains and losses, first
  value at index N; ``100 * gain / (gain + loss)``, and 0 when both are exactly 0 (this
  TA-Lib build applies no epsilon).
* Bollinger(N, k): middle = SMA(N); std = population (ddof 0) standard deviation around it;
  bands = middle +/- k*std. Older TA-Lib sources compute the variance as E[x^2] - SMA^2, but
  the 0.8 results agree with a two-pass sum of squared deviations (to ~1e-12 of the price,
  and exactly 0 for a flat window, where E[x^2] - SMA^2 leaves noise of up to ~1e-8
  relative), so the engine computes std that way from its window when values are read,
  not on every tick.
* VWAP (not in TA-Lib): sum(price * volume) / sum(volume) over the ticks of the current UTC
  day; ticks without volume do not count; None until the day has volume.

SMA, EMA and the MACD line match bit for bit. RSI and the MACD signal differ in the last bits
(TA-Lib's binary behaves as if RSI's division by N were a multiplication by 1/N), ~1e-14
relative; the engine keeps the divisions of TA-Lib's source.

Running window sums drift with rounding over very long series; every `RESYNC_EVERY` ticks
they are recomputed exactly (``math.fsum``) from the window, which keeps the error bounded
for ever (TA-Lib itself never resyncs, so the two then differ by TA-Lib's own drift, around
1e-14 relative over 100k ticks).

Ticks are ordered by (timestamp, tick id): a tick at or before the last processed one is
dropped and counted (``duplicates`` when equal, ``out_of_order`` when older). Sort a batch by
(timestamp, id) before feeding it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from services.trend.signals import Direction, Signal, Trend, alert_message
from shared.errors import InvalidInputError

RESYNC_EVERY = 4096
"""Ticks between exact recomputations of the running window sums."""

STATE_VERSION = 1
_DAY = 86400.0
MAX_PERIOD = 1000  # keeps the state document small (the window holds the largest period)


class IndicatorConfig(BaseModel):
    """Indicator periods; output names follow them (``sma_5``, ``ema_12``, ``rsi_14``...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sma_short: int = Field(5, ge=2, le=MAX_PERIOD)
    sma_long: int = Field(20, ge=2, le=MAX_PERIOD)
    ema_fast: int = Field(12, ge=2, le=MAX_PERIOD)
    ema_slow: int = Field(26, ge=2, le=MAX_PERIOD)
    macd_signal: int = Field(9, ge=2, le=MAX_PERIOD)
    rsi_period: int = Field(14, ge=2, le=MAX_PERIOD)
    bb_period: int = Field(20, ge=2, le=MAX_PERIOD)
    bb_stddev: float = Field(2.0, gt=0, le=100, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> IndicatorConfig:
        if self.sma_short >= self.sma_long:
            raise ValueError("sma_short must be less than sma_long")
        if self.ema_fast >= self.ema_slow:
            raise ValueError("ema_fast must be less than ema_slow")
        return self

    @property
    def window_size(self) -> int:
        """How many past prices the state keeps (the largest window)."""
        return max(self.sma_short, self.sma_long, self.bb_period)

    @property
    def warm_up(self) -> int:
        """Ticks after which every indicator is defined and runs in its steady state."""
        return max(
            self.sma_long,  # a cross needs both SMAs at t-1
            self.bb_period,
            self.ema_slow + self.macd_signal - 1,
            self.rsi_period + 1,
        )

    def output_names(self) -> tuple[str, ...]:
        """Keys of `IndicatorEngine.values`, in order."""
        return (
            f"sma_{self.sma_short}",
            f"sma_{self.sma_long}",
            f"ema_{self.ema_fast}",
            f"ema_{self.ema_slow}",
            "macd",
            "macd_signal",
            "macd_hist",
            f"rsi_{self.rsi_period}",
            "bb_upper",
            "bb_middle",
            "bb_lower",
            "vwap",
        )


class InvalidIndicatorStateError(InvalidInputError):
    """A stored state document is malformed or does not fit the configuration."""


@dataclass(slots=True)
class IndicatorState:
    """Everything an engine remembers; `to_dict` / `from_dict` give its JSON document.

    While an indicator warms up, its value field accumulates TA-Lib's seed sum (EMAs, MACD
    signal, RSI gain/loss) and becomes an average at the seed tick. ``sum_*`` fields are
    TA-Lib's running totals of the last N-1 prices; ``total_bb`` the Bollinger total
    including the latest price, from which the bands are derived on demand.
    Timestamps are epoch seconds (UTC).
    """

    symbol: str
    config: IndicatorConfig
    window: deque[float]
    """The last ``config.window_size`` prices, oldest first; zero-padded while warming up."""
    version: int = STATE_VERSION
    ticks_seen: int = 0
    out_of_order: int = 0
    duplicates: int = 0
    last_tick_at: float | None = None
    last_tick_id: str = ""
    last_price: float | None = None
    sum_short: float = 0.0
    sum_long: float = 0.0
    sum_bb: float = 0.0
    total_bb: float = 0.0
    sma_short: float = 0.0
    sma_long: float = 0.0
    ema_fast: float = 0.0
    ema_slow: float = 0.0
    macd_fast: float = 0.0
    """MACD's own fast EMA (seeded differently from ``ema_fast``, see the module docs)."""
    macd: float = 0.0
    macd_signal: float = 0.0
    rsi_gain: float = 0.0
    rsi_loss: float = 0.0
    relation: int = 0
    """Sign of short SMA - long SMA at the last tick (0 while warming up)."""
    vwap_day_end: float = 0.0
    vwap_turnover: float = 0.0
    vwap_volume: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    """Reserved for later versions; kept as is."""

    @classmethod
    def initial(cls, symbol: str, config: IndicatorConfig | None = None) -> IndicatorState:
        """The state of an engine that has seen no tick."""
        config = config or IndicatorConfig()
        size = config.window_size
        return cls(symbol=symbol, config=config, window=deque([0.0] * size, maxlen=size))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (floats round-trip exactly through ``json``)."""
        document: dict[str, Any] = _STATE_ADAPTER.dump_python(self, mode="json")
        return document

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndicatorState:
        """Rebuild a state from `to_dict` output; `InvalidIndicatorStateError` if it is unusable."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise InvalidIndicatorStateError(f"unsupported indicator state version: {data!r:.80}")
        try:
            state = _STATE_ADAPTER.validate_python(data)
        except ValueError as exc:
            raise InvalidIndicatorStateError(str(exc)) from exc
        size = state.config.window_size
        if len(state.window) != size:
            raise InvalidIndicatorStateError(f"window holds {len(state.window)} prices, not {size}")
        state.window = deque(state.window, maxlen=size)
        return state


_STATE_ADAPTER: TypeAdapter[IndicatorState] = TypeAdapter(IndicatorState)


_RawSignal = tuple[int, float, float, float, float, str]  # relation, at, price, short, long, id


class IndicatorEngine:
    """Indicators and crossover signals of one symbol, fed tick by tick or in batches."""

    __slots__ = ("state", "config", "_k_fast", "_k_slow", "_k_signal")

    def __init__(self, symbol: str, config: IndicatorConfig | None = None) -> None:
        self._attach(IndicatorState.initial(symbol.upper(), config))

    @classmethod
    def from_state(cls, state: IndicatorState) -> IndicatorEngine:
        """Resume from a state (it is used, not copied)."""
        engine = cls.__new__(cls)
        engine._attach(state)
        return engine

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], config: IndicatorConfig | None = None
    ) -> IndicatorEngine:
        """Resume from a stored `IndicatorState.to_dict` document.

        With ``config``, a state built with other periods is refused (`InvalidIndicatorStateError`)
        rather than silently continued with its own; the caller then starts afresh.
        """
        state = IndicatorState.from_dict(data)
        if config is not None and state.config != config:
            raise InvalidIndicatorStateError(
                f"state was built with {state.config!r}, not the configured {config!r}"
            )
        return cls.from_state(state)

    def to_dict(self) -> dict[str, Any]:
        """The state document to store."""
        return self.state.to_dict()

    def _attach(self, state: IndicatorState) -> None:
        self.state = state
        self.config = c = state.config
        # TA-Lib's PER_TO_K
        self._k_fast = 2.0 / (c.ema_fast + 1)
        self._k_slow = 2.0 / (c.ema_slow + 1)
        self._k_signal = 2.0 / (c.macd_signal + 1)

    @property
    def symbol(self) -> str:
        return self.state.symbol

    @property
    def warmed_up(self) -> bool:
        """True once every indicator is defined."""
        return self.state.ticks_seen >= self.config.warm_up

    @property
    def trend(self) -> Trend:
        """The SMA relation at the last tick; flat while the long SMA warms up."""
        if self.state.ticks_seen < self.config.sma_long:
            return Trend.flat
        return {1: Trend.up, -1: Trend.down}.get(self.state.relation, Trend.flat)

    @property
    def last_tick_time(self) -> datetime | None:
        """Timestamp of the last processed tick."""
        at = self.state.last_tick_at
        return None if at is None else datetime.fromtimestamp(at, UTC)

    def update(
        self, price: float, volume: int | None, at: float, tick_id: str = ""
    ) -> Signal | None:
        """Process one tick (``at`` in epoch seconds); the crossover it completes, if any."""
        signals = self.update_many((price,), (volume,), (at,), (tick_id,))
        return signals[0] if signals else None

    def update_many(
        self,
        prices: Sequence[float],
        volumes: Sequence[int | None],
        timestamps: Sequence[float],
        tick_ids: Sequence[str] | None = None,
    ) -> list[Signal]:
        """Process a batch of ticks in order (timestamps in epoch seconds); the crossovers.

        Prices must be positive finite floats (validated upstream, as `Tick` does); volumes
        are ints or None.
        """
        count = len(prices)
        if (
            len(volumes) != count
            or len(timestamps) != count
            or (tick_ids is not None and len(tick_ids) != count)
        ):
            raise ValueError("prices, volumes, timestamps and tick_ids differ in length")
        ids = repeat("") if tick_ids is None else tick_ids
        ticks = zip(prices, volumes, timestamps, ids, strict=False)  # lengths checked above
        raw: list[_RawSignal] = []
        state = self.state
        warm_up = self.config.warm_up
        if state.ticks_seen < warm_up:
            for price, volume, at, tick_id in ticks:
                self._warm_up_step(price, volume, at, tick_id, raw)
                if state.ticks_seen >= warm_up:
                    break
        self._steady(ticks, raw)
        return [self._signal(*found) for found in raw]

    def _signal(
        self, relation: int, at: float, price: float, short: float, long: float, tick_id: str
    ) -> Signal:
        symbol = self.state.symbol
        direction = Direction.up if relation > 0 else Direction.down
        # Built from trusted values: skipping validation keeps crossover-heavy batches fast.
        return Signal.model_construct(
            symbol=symbol,
            direction=direction,
            at=datetime.fromtimestamp(at, UTC),
            price=price,
            short=short,
            long=long,
            message=alert_message(symbol, direction),
            tick_id=tick_id,
        )

    def values(self) -> dict[str, float | None]:
        """Indicator values at the last tick, None while an indicator warms up."""
        s, c = self.state, self.config
        n = s.ticks_seen
        macd_ready = n >= c.ema_slow + c.macd_signal - 1
        if n >= c.bb_period:
            middle = s.total_bb / c.bb_period
            squares = 0.0
            for price in list(s.window)[-c.bb_period :]:
                squares += (price - middle) * (price - middle)
            deviation = math.sqrt(squares / c.bb_period) * c.bb_stddev
            bands: tuple[float | None, ...] = (
                middle + deviation,
                middle,
                middle - deviation,
            )
        else:
            bands = (None, None, None)
        if n >= c.rsi_period + 1:
            total = s.rsi_gain + s.rsi_loss
            rsi: float | None = 100.0 * (s.rsi_gain / total) if total != 0 else 0.0
        else:
            rsi = None
        return dict(
            zip(
                c.output_names(),
                (
                    s.sma_short if n >= c.sma_short else None,
                    s.sma_long if n >= c.sma_long else None,
                    s.ema_fast if n >= c.ema_fast else None,
                    s.ema_slow if n >= c.ema_slow else None,
                    s.macd if macd_ready else None,
                    s.macd_signal if macd_ready else None,
                    s.macd - s.macd_signal if macd_ready else None,
                    rsi,
                    *bands,
                    s.vwap_turnover / s.vwap_volume if s.vwap_volume else None,
                ),
                strict=True,
            )
        )

    def _warm_up_step(
        self, price: float, volume: int | None, at: float, tick_id: str, raw: list[_RawSignal]
    ) -> None:
        """One tick while some indicator is still seeding: the readable, branchy path."""
        s, c = self.state, self.config
        last_at = s.last_tick_at
        if last_at is not None and at <= last_at:
            if at < last_at or tick_id < s.last_tick_id:
                s.out_of_order += 1
                return
            if tick_id == s.last_tick_id:
                s.duplicates += 1
                return
        s.last_tick_at, s.last_tick_id = at, tick_id
        n = s.ticks_seen

        # Windows: TA-Lib adds the new price, reads the average, then drops the oldest.
        window = s.window
        out_short = window[1 - c.sma_short]
        out_long = window[1 - c.sma_long]
        out_bb = window[1 - c.bb_period]
        window.append(price)
        total = s.sum_short + price
        s.sum_short = total - out_short
        s.sma_short = total / c.sma_short
        total = s.sum_long + price
        s.sum_long = total - out_long
        s.sma_long = total / c.sma_long
        s.total_bb = s.sum_bb + price
        s.sum_bb = s.total_bb - out_bb

        s.ema_fast = _ema_step(s.ema_fast, price, n, 0, c.ema_fast, self._k_fast)
        s.ema_slow = _ema_step(s.ema_slow, price, n, 0, c.ema_slow, self._k_slow)
        s.macd_fast = _ema_step(
            s.macd_fast, price, n, c.ema_slow - c.ema_fast, c.ema_fast, self._k_fast
        )
        if n >= c.ema_slow - 1:
            s.macd = s.macd_fast - s.ema_slow
            s.macd_signal = _ema_step(
                s.macd_signal, s.macd, n, c.ema_slow - 1, c.macd_signal, self._k_signal
            )

        if n >= 1:
            period = c.rsi_period
            if s.last_price is None:
                raise InvalidIndicatorStateError("a state past its first tick has no last price")
            change = price - s.last_price
            if n > period:
                s.rsi_loss *= period - 1
                s.rsi_gain *= period - 1
            if change < 0:
                s.rsi_loss -= change
            else:
                s.rsi_gain += change
            if n >= period:
                s.rsi_loss /= period
                s.rsi_gain /= period

        self._vwap_step(price, volume, at)

        if n >= c.sma_long - 1:
            relation = (s.sma_short > s.sma_long) - (s.sma_short < s.sma_long)
            if n >= c.sma_long and relation and relation != s.relation:
                raw.append((relation, at, price, s.sma_short, s.sma_long, tick_id))
            s.relation = relation
        s.last_price = price
        s.ticks_seen = n + 1

    def _vwap_step(self, price: float, volume: int | None, at: float) -> None:
        s = self.state
        if at >= s.vwap_day_end:
            s.vwap_day_end = (at // _DAY + 1.0) * _DAY
            s.vwap_turnover = 0.0
            s.vwap_volume = 0
        if volume:
            s.vwap_turnover += price * volume
            s.vwap_volume += volume

    def _steady(
        self, ticks: Iterator[tuple[float, int | None, float, str]], raw: list[_RawSignal]
    ) -> None:
        """The hot loop: every indicator past warm-up, all state in locals.

        Same arithmetic as `_warm_up_step`, in the same order, without the seeding branches.
        """
        s, c = self.state, self.config
        window = s.window
        append = window.append
        i_short, i_long, i_bb = 1 - c.sma_short, 1 - c.sma_long, 1 - c.bb_period
        n_short, n_long = float(c.sma_short), float(c.sma_long)
        k_fast, k_slow, k_signal = self._k_fast, self._k_slow, self._k_signal
        rsi_n = float(c.rsi_period)
        rsi_keep = rsi_n - 1.0
        fsum = math.fsum

        n = s.ticks_seen
        resync_at = (n // RESYNC_EVERY + 1) * RESYNC_EVERY
        last_at = -math.inf if s.last_tick_at is None else s.last_tick_at
        last_id = s.last_tick_id
        out_of_order, duplicates = s.out_of_order, s.duplicates
        last_price = s.last_price
        if last_price is None:  # no tick yet: the warm-up loop has taken every tick there was
            return
        sum_short, sum_long, sum_bb, total_bb = s.sum_short, s.sum_long, s.sum_bb, s.total_bb
        sma_short, sma_long = s.sma_short, s.sma_long
        ema_fast, ema_slow, macd_fast = s.ema_fast, s.ema_slow, s.macd_fast
        macd, signal = s.macd, s.macd_signal
        gain, loss = s.rsi_gain, s.rsi_loss
        relation = s.relation
        day_end, turnover, day_volume = s.vwap_day_end, s.vwap_turnover, s.vwap_volume

        for price, volume, at, tick_id in ticks:
            if at <= last_at:
                if at < last_at or tick_id < last_id:
                    out_of_order += 1
                    continue
                if tick_id == last_id:
                    duplicates += 1
                    continue
            last_at = at
            last_id = tick_id

            out_short = window[i_short]
            out_long = window[i_long]
            out_bb = window[i_bb]
            append(price)
            total = sum_short + price
            sum_short = total - out_short
            sma_short = total / n_short
            total = sum_long + price
            sum_long = total - out_long
            sma_long = total / n_long
            total_bb = sum_bb + price
            sum_bb = total_bb - out_bb

            ema_fast = ((price - ema_fast) * k_fast) + ema_fast
            ema_slow = ((price - ema_slow) * k_slow) + ema_slow
            macd_fast = ((price - macd_fast) * k_fast) + macd_fast
            macd = macd_fast - ema_slow
            signal = ((macd - signal) * k_signal) + signal

            change = price - last_price
            last_price = price
            loss *= rsi_keep
            gain *= rsi_keep
            if change < 0:
                loss -= change
            else:
                gain += change
            loss /= rsi_n
            gain /= rsi_n

            if at >= day_end:
                day_end = (at // _DAY + 1.0) * _DAY
                turnover = 0.0
                day_volume = 0
            if volume:
                turnover += price * volume
                day_volume += volume

            if sma_short > sma_long:
                if relation != 1:
                    raw.append((1, at, price, sma_short, sma_long, tick_id))
                    relation = 1
            elif sma_short < sma_long:
                if relation != -1:
                    raw.append((-1, at, price, sma_short, sma_long, tick_id))
                    relation = -1
            else:
                relation = 0

            n += 1
            if n == resync_at:
                resync_at += RESYNC_EVERY
                prices = list(window)
                sum_short = fsum(prices[i_short:])
                sum_long = fsum(prices[i_long:])
                sum_bb = fsum(prices[i_bb:])

        s.ticks_seen = n
        s.last_tick_at = None if last_at == -math.inf else last_at
        s.last_tick_id = last_id
        s.out_of_order, s.duplicates = out_of_order, duplicates
        s.last_price = last_price
        s.sum_short, s.sum_long, s.sum_bb, s.total_bb = sum_short, sum_long, sum_bb, total_bb
        s.sma_short, s.sma_long = sma_short, sma_long
        s.ema_fast, s.ema_slow, s.macd_fast = ema_fast, ema_slow, macd_fast
        s.macd, s.macd_signal = macd, signal
        s.rsi_gain, s.rsi_loss = gain, loss
        s.relation = relation
        s.vwap_day_end, s.vwap_turnover, s.vwap_volume = day_end, turnover, day_volume


def _ema_step(value: float, x: float, n: int, start: int, period: int, k: float) -> float:
    """TA-Lib's EMA at tick n for an EMA whose seed window starts at tick ``start``.

    Before the seed tick ``value`` is the running seed sum; at it, the sum becomes the mean.
    """
    seed_at = start + period - 1
    if n < start:
        return value
    if n < seed_at:
        return value + x
    if n == seed_at:
        return (value + x) / period
    return ((x - value) * k) + value
