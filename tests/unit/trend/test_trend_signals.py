"""SMA crossover signals: the convention, its edge cases, and the alert texts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import talib

from services.trend.indicators import IndicatorConfig, IndicatorEngine
from services.trend.signals import (
    Direction,
    Signal,
    Trend,
    alert_message,
    alert_subject,
    crossover,
    detect_crossovers,
    make_signal,
    trend_of,
)

T0 = 1_700_000_000.0
SMALL = IndicatorConfig(sma_short=2, sma_long=3)


def feed(prices: list[float], config: IndicatorConfig = SMALL) -> tuple[IndicatorEngine, list]:
    engine = IndicatorEngine("ACME", config)
    signals = engine.update_many(prices, [None] * len(prices), [T0 + i for i in range(len(prices))])
    return engine, signals


def test_crossover_convention() -> None:
    """Up when short goes from <= long to > long; down mirrored; touching is no cross."""
    assert crossover(1.0, 2.0, 3.0, 2.0) is Direction.up
    assert crossover(2.0, 2.0, 3.0, 2.0) is Direction.up
    assert crossover(3.0, 2.0, 1.0, 2.0) is Direction.down
    assert crossover(2.0, 2.0, 1.0, 2.0) is Direction.down
    assert crossover(1.0, 2.0, 2.0, 2.0) is None
    assert crossover(3.0, 2.0, 3.5, 2.0) is None


def test_no_signal_on_the_first_tick_with_full_windows() -> None:
    """Short above long at the first full tick is a trend, not a cross (t-1 was not full)."""
    engine, signals = feed([1.0, 1.0, 5.0])
    assert signals == []
    assert engine.trend is Trend.up


def test_cross_one_tick_after_warm_up() -> None:
    """The earliest possible cross is at the tick after both windows fill."""
    # sma2: -, 2.5, 1.5, 3.0 ; sma3: -, -, 2.0, 8/3
    engine, signals = feed([3.0, 2.0, 1.0, 5.0])
    assert [(s.direction, s.at) for s in signals] == [
        (Direction.up, datetime.fromtimestamp(T0 + 3, UTC)),
    ]
    assert signals[0].short == 3.0
    assert signals[0].long == pytest.approx(8 / 3)
    assert signals[0].price == 5.0


def test_equal_then_cross_signals_once_on_leaving_equality() -> None:
    """Reaching exactly equal averages is not a cross; leaving equality across is."""
    # Small integers keep the averages exactly equal where they should be.
    _, signals = feed([2.0, 2.0, 2.0, 2.0, 3.0])
    assert [s.direction for s in signals] == [Direction.up]
    # sma2: 1.5 2.5 2.5 2 2 2.5 2 0.5 ; sma3: 2 2 7/3 7/3 2 7/3 2 4/3 (from tick 2)
    _, signals = feed([3.0, 1.0, 2.0, 3.0, 2.0, 2.0, 2.0, 3.0, 1.0, 0.0])
    assert [(s.direction, s.at.timestamp() - T0) for s in signals] == [
        (Direction.up, 3),
        (Direction.down, 5),
        (Direction.up, 7),  # from equality at tick 6
        (Direction.down, 9),  # from equality at tick 8
    ]


def test_touch_and_go_counts_as_a_cross() -> None:
    """Above, exactly equal, above again: the convention (<= at t-1) reports an up cross."""
    prices = [1.0, 2.0, 3.0, 1.0, 7.0]
    x = np.array(prices)
    gap = list(talib.SMA(x, 2) - talib.SMA(x, 3))[2:]
    assert gap[0] > 0 and gap[1] == 0 and gap[2] > 0
    _, signals = feed(prices)
    assert [(s.direction, s.at.timestamp() - T0) for s in signals] == [(Direction.up, 4)]
    assert detect_crossovers(list(talib.SMA(x, 2)), list(talib.SMA(x, 3))) == [(4, Direction.up)]


def test_reaching_equality_is_silent() -> None:
    """Above, then exactly equal for a while: no signal."""
    _, signals = feed([1.0, 2.0, 3.0, 3.0, 3.0, 3.0])  # gaps: 0.5, 1/3, 0, 0
    assert signals == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engine_signals_equal_the_reference_on_talib_smas(seed: int) -> None:
    """Every cross the engine reports is exactly a cross of TA-Lib's SMA-5/SMA-20 series."""
    rng = np.random.default_rng(seed)
    prices = [float(p) for p in 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 5000)))]
    _, signals = feed(prices, IndicatorConfig())
    x = np.array(prices)
    expected = detect_crossovers(list(talib.SMA(x, 5)), list(talib.SMA(x, 20)))
    got = [(int(s.at.timestamp() - T0), s.direction) for s in signals]
    assert got == expected
    assert len(expected) > 100
    assert all(s.price == prices[int(s.at.timestamp() - T0)] for s in signals)


def test_signals_across_batches_equal_one_batch() -> None:
    """A cross that straddles two batches is reported once, in the second batch."""
    prices = [5.0, 4.0, 3.0, 2.0, 1.0, 9.0, 9.0]
    _, whole = feed(prices)
    engine = IndicatorEngine("ACME", SMALL)
    first = engine.update_many(prices[:5], [None] * 5, [T0 + i for i in range(5)])
    second = engine.update_many(prices[5:], [None] * 2, [T0 + 5, T0 + 6])
    assert first == [] and second == whole and len(whole) == 1


def test_trend_is_flat_while_warming_up_and_when_equal() -> None:
    """Trend: flat before the long SMA exists and on equality, else the SMA relation."""
    engine, _ = feed([1.0, 2.0])
    assert engine.trend is Trend.flat
    engine, _ = feed([3.0, 3.0, 3.0])
    assert engine.trend is Trend.flat
    engine, _ = feed([3.0, 2.0, 1.0])
    assert engine.trend is Trend.down
    assert trend_of(None, 1.0) is Trend.flat
    assert trend_of(2.0, 1.0) is Trend.up


def test_alert_texts_are_the_originals() -> None:
    """Messages (plain text, no markdown) and subject are the original project's."""
    assert alert_message("AAPL", Direction.up) == (
        "AAPL is in an Uptrend! Consider a buy opportunity."
    )
    assert alert_message("AAPL", Direction.down) == "AAPL is in a Downtrend! Consider selling."
    assert alert_subject("AAPL") == "Stock Alert: AAPL"


def test_signal_serialises_with_subject_and_utc_time() -> None:
    """A signal's JSON carries direction, Z-suffixed time, both SMAs, message and subject."""
    signal = make_signal("MSFT", Direction.down, datetime(2024, 5, 1, 14, 30, tzinfo=UTC), 1, 2, 3)
    assert signal.model_dump(mode="json") == {
        "symbol": "MSFT",
        "direction": "down",
        "at": "2024-05-01T14:30:00Z",
        "price": 1.0,
        "short": 2.0,
        "long": 3.0,
        "message": "MSFT is in a Downtrend! Consider selling.",
        "tick_id": "",
        "subject": "Stock Alert: MSFT",
    }
    assert Signal.model_validate(signal.model_dump()) == signal


def test_engine_signals_equal_validated_signals() -> None:
    """Signals the engine builds without validation are identical to validated ones."""
    _, signals = feed([3.0, 2.0, 1.0, 5.0])
    (signal,) = signals
    assert signal == make_signal("ACME", Direction.up, signal.at, 5.0, 3.0, signal.long)
    assert signal.model_dump_json() == Signal.model_validate(signal.model_dump()).model_dump_json()


def test_signals_name_the_tick_that_completed_the_cross() -> None:
    """Each signal carries the id of its crossing tick, in warm-up and in the steady loop."""
    prices = [10.0 + (3 if (i // 4) % 2 else -3) + 0.01 * i for i in range(80)]
    ids = [f"t{i:03d}" for i in range(80)]
    engine = IndicatorEngine("ACME", SMALL)
    signals = engine.update_many(prices, [None] * 80, [T0 + i for i in range(80)], ids)
    arr = np.array(prices)
    expected = detect_crossovers(talib.SMA(arr, 2), talib.SMA(arr, 3))
    assert engine.config.warm_up < expected[-1][0], "the series must reach the steady loop"
    assert [(s.tick_id, s.direction) for s in signals] == [(ids[i], d) for i, d in expected]
    assert all(s.at.timestamp() == T0 + int(s.tick_id[1:]) for s in signals)
