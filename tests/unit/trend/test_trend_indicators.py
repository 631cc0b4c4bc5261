"""The incremental indicator engine against TA-Lib, the oracle (periods always explicit)."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime

import numpy as np
import pytest
import talib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.trend.indicators import (
    RESYNC_EVERY,
    IndicatorConfig,
    IndicatorEngine,
    IndicatorState,
    InvalidIndicatorStateError,
)

REL = 1e-9
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def random_walk(seed: int, n: int, sigma: float = 0.01, start: float = 100.0) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(p) for p in start * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))]


def trending(n: int, seed: int) -> list[float]:
    """Up 40 %, then down, with noise and a sine: long runs on each side of the SMAs."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    trend = np.where(t < n // 2, t / n, (n - t) / n) * 0.8
    return [float(p) for p in 50 * np.exp(trend + 0.05 * np.sin(t / 40) + rng.normal(0, 3e-3, n))]


def talib_reference(prices: list[float], c: IndicatorConfig) -> dict[str, np.ndarray]:
    x = np.asarray(prices, dtype=float)
    macd, signal, hist = talib.MACD(x, c.ema_fast, c.ema_slow, c.macd_signal)
    upper, middle, lower = talib.BBANDS(x, c.bb_period, c.bb_stddev, c.bb_stddev, 0)
    values = [
        talib.SMA(x, c.sma_short),
        talib.SMA(x, c.sma_long),
        talib.EMA(x, c.ema_fast),
        talib.EMA(x, c.ema_slow),
        macd,
        signal,
        hist,
        talib.RSI(x, c.rsi_period),
        upper,
        middle,
        lower,
    ]
    return dict(zip(c.output_names()[:-1], values, strict=True))


def assert_matches(name: str, got: float | None, want: float, scale: float, where: str) -> None:
    """None exactly where TA-Lib has NaN; otherwise equal to 1e-9 relative.

    Outputs that are differences (MACD family) or bounded (RSI) pass near zero through values
    whose relative error is meaningless, so they are compared relative to ``scale`` there.
    """
    if math.isnan(want):
        assert got is None, f"{name} {where}: {got} while TA-Lib is still warming up"
        return
    assert got is not None, f"{name} {where}: None but TA-Lib has {want}"
    assert math.isclose(got, want, rel_tol=REL, abs_tol=REL * scale), (
        f"{name} {where}: {got!r} != {want!r}"
    )


def abs_scale(name: str, prices: list[float]) -> float:
    if name.startswith("rsi"):
        return 1.0
    if name.startswith("macd"):
        return float(np.median(prices)) * 1e-3
    return 0.0


def feed_tick_by_tick(engine: IndicatorEngine, prices: list[float]) -> list[dict]:
    rows = []
    for i, price in enumerate(prices):
        engine.update(price, 100, T0 + i)
        rows.append(engine.values())
    return rows


def check_against_talib(prices: list[float], rows: list[dict], c: IndicatorConfig) -> None:
    for name, reference in talib_reference(prices, c).items():
        scale = abs_scale(name, prices)
        for i, row in enumerate(rows):
            assert_matches(name, row[name], reference[i], scale, f"at tick {i}")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_matches_talib_tick_by_tick_on_random_walks(seed: int) -> None:
    """Every indicator equals TA-Lib at every one of 5,000 random-walk ticks, warm-up included."""
    prices = random_walk(seed, 5000)
    config = IndicatorConfig()
    check_against_talib(prices, feed_tick_by_tick(IndicatorEngine("RW", config), prices), config)


@pytest.mark.parametrize("seed", [5, 6])
def test_matches_talib_on_trending_series(seed: int) -> None:
    """Long up and down trends (RSI pinned near its bounds) still match TA-Lib."""
    prices = trending(5000, seed)
    config = IndicatorConfig()
    check_against_talib(prices, feed_tick_by_tick(IndicatorEngine("TR", config), prices), config)


def test_matches_talib_with_other_periods() -> None:
    """Configured periods change both the values and the output names, as TA-Lib's would."""
    config = IndicatorConfig(
        sma_short=3,
        sma_long=50,
        ema_fast=5,
        ema_slow=35,
        macd_signal=4,
        rsi_period=7,
        bb_period=10,
        bb_stddev=1.5,
    )
    prices = random_walk(11, 3000)
    rows = feed_tick_by_tick(IndicatorEngine("CFG", config), prices)
    assert list(rows[-1]) == [
        "sma_3",
        "sma_50",
        "ema_5",
        "ema_35",
        "macd",
        "macd_signal",
        "macd_hist",
        "rsi_7",
        "bb_upper",
        "bb_middle",
        "bb_lower",
        "vwap",
    ]
    check_against_talib(prices, rows, config)


def test_matches_talib_over_100k_ticks_in_batches() -> None:
    """Over 100k ticks (24 window resyncs) values at every batch end stay within 1e-9 of TA-Lib."""
    prices = random_walk(21, 100_000, sigma=0.002)
    config = IndicatorConfig()
    engine = IndicatorEngine("LONG", config)
    reference = talib_reference(prices, config)
    scales = {name: abs_scale(name, prices) for name in reference}
    for start in range(0, len(prices), 997):
        chunk = prices[start : start + 997]
        engine.update_many(chunk, [1] * len(chunk), [T0 + start + i for i in range(len(chunk))])
        values, last = engine.values(), start + len(chunk) - 1
        for name, series in reference.items():
            assert_matches(name, values[name], series[last], scales[name], f"@{last}")


def test_macd_is_not_the_difference_of_the_standalone_emas() -> None:
    """TA-Lib seeds MACD's fast EMA at index slow-1, so ema_12 - ema_26 differs from macd."""
    prices = random_walk(3, 60)
    engine = IndicatorEngine("M")
    engine.update_many(prices, [None] * 60, [T0 + i for i in range(60)])
    values = engine.values()
    macd = talib.MACD(np.array(prices), 12, 26, 9)[0][-1]
    assert values["macd"] == pytest.approx(macd, rel=1e-12)
    assert values["ema_12"] - values["ema_26"] != pytest.approx(macd, rel=1e-6)


def test_warm_up_lengths_follow_talib_lookbacks() -> None:
    """First values: SMA at N-1, EMA at N-1, RSI at N, MACD at slow+signal-2, BB at N-1."""
    config = IndicatorConfig()
    engine = IndicatorEngine("W", config)
    first: dict[str, int] = {}
    for i, price in enumerate(random_walk(8, 40)):
        engine.update(price, None, T0 + i)
        for name, value in engine.values().items():
            if value is not None:
                first.setdefault(name, i)
    assert first == {
        "sma_5": 4,
        "sma_20": 19,
        "ema_12": 11,
        "ema_26": 25,
        "macd": 33,
        "macd_signal": 33,
        "macd_hist": 33,
        "rsi_14": 14,
        "bb_upper": 19,
        "bb_middle": 19,
        "bb_lower": 19,
    }
    assert engine.warmed_up


def test_flat_prices_follow_talib_conventions() -> None:
    """Constant prices: RSI is 0 (no gain, no loss), the bands collapse, MACD is 0."""
    prices = [101.25] * 60
    config = IndicatorConfig()
    rows = feed_tick_by_tick(IndicatorEngine("FLAT", config), prices)
    check_against_talib(prices, rows, config)
    last = rows[-1]
    assert last["rsi_14"] == 0.0
    assert last["bb_upper"] == last["bb_middle"] == last["bb_lower"] == 101.25
    assert last["macd"] == last["macd_signal"] == 0.0


small_configs = st.builds(
    IndicatorConfig,
    sma_short=st.integers(2, 6),
    sma_long=st.integers(7, 15),
    ema_fast=st.integers(2, 6),
    ema_slow=st.integers(7, 14),
    macd_signal=st.integers(2, 6),
    rsi_period=st.integers(2, 10),
    bb_period=st.integers(2, 12),
    bb_stddev=st.sampled_from([1.0, 2.0, 2.5]),
)
prices_st = st.lists(
    st.one_of(
        st.floats(min_value=0.01, max_value=10_000, allow_nan=False, allow_infinity=False),
        st.sampled_from([1.0, 100.0, 100.01]),  # repeats: zero changes and flat windows
    ),
    min_size=1,
    max_size=70,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prices=prices_st, config=small_configs)
def test_matches_talib_on_arbitrary_short_series(prices: list[float], config: IndicatorConfig):
    """Hypothesis: any short price series and small periods agree with TA-Lib tick by tick."""
    rows = feed_tick_by_tick(IndicatorEngine("HYP", config), prices)
    for name, reference in talib_reference(prices, config).items():
        # Bands and MACD are differences of price-sized numbers: near 0 (a 0.01 price beside
        # a 9,000 one) only an error relative to the price level means anything.
        scale = max(prices) if name.startswith(("macd", "bb")) else abs_scale(name, prices)
        for i, row in enumerate(rows):
            assert_matches(name, row[name], reference[i], scale, f"at tick {i}")


def run_with_restarts(prices, volumes, stamps, cuts: list[int]) -> tuple[dict, list, dict]:
    """Feed the series, saving and reloading the state through JSON at every cut."""
    engine = IndicatorEngine("SNAP")
    signals = []
    bounds = [0, *cuts, len(prices)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        signals += engine.update_many(prices[a:b], volumes[a:b], stamps[a:b])
        engine = IndicatorEngine.from_dict(json.loads(json.dumps(engine.to_dict())))
    return engine.values(), signals, engine.to_dict()


def test_snapshot_restore_mid_series_is_bit_identical() -> None:
    """Stopping and resuming from the JSON state (in warm-up, around a resync) changes nothing."""
    n = RESYNC_EVERY + 1500
    prices = random_walk(31, n)
    volumes = [None if i % 7 == 0 else (i % 13) * 100 for i in range(n)]
    stamps = [T0 + i * 37.0 for i in range(n)]  # crosses several UTC days
    straight = run_with_restarts(prices, volumes, stamps, [])
    cuts = [1, 3, 19, 20, 33, 34, 500, RESYNC_EVERY - 1, RESYNC_EVERY, RESYNC_EVERY + 7]
    resumed = run_with_restarts(prices, volumes, stamps, cuts)
    assert resumed == straight
    assert straight[1], "the series should contain crossovers"


def test_batch_boundaries_do_not_change_the_state() -> None:
    """One big batch, single ticks and random chunks end in the same state, bit for bit."""
    n = 3000
    prices = random_walk(41, n)
    volumes = [100] * n
    stamps = [T0 + i for i in range(n)]
    whole = IndicatorEngine("B")
    whole.update_many(prices, volumes, stamps)
    rnd = random.Random(1)
    chunked, i = IndicatorEngine("B"), 0
    while i < n:
        j = i + rnd.randint(1, 90)
        chunked.update_many(prices[i:j], volumes[i:j], stamps[i:j])
        i = j
    assert chunked.to_dict() == whole.to_dict()


def test_state_document_is_small_json() -> None:
    """The stored state is plain JSON of about a kilobyte, and round-trips exactly."""
    engine = IndicatorEngine("AAPL")
    engine.update_many(random_walk(5, 500), [100] * 500, [T0 + i for i in range(500)])
    text = json.dumps(engine.to_dict())
    assert len(text) < 2048
    assert IndicatorState.from_dict(json.loads(text)).to_dict() == engine.to_dict()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(version=99),
        lambda d: d.update(window=d["window"][:-1]),
        lambda d: d["config"].update(sma_long=30),
        lambda d: d.update(ticks_seen="many"),
    ],
)
def test_unusable_state_documents_are_refused(mutate) -> None:
    """Wrong version, wrong window size for the config, or garbage: InvalidIndicatorStateError."""
    engine = IndicatorEngine("AAPL")
    engine.update_many([1.0, 2.0], [None, None], [T0, T0 + 1])
    document = engine.to_dict()
    mutate(document)
    with pytest.raises(InvalidIndicatorStateError):
        IndicatorState.from_dict(document)


def test_config_rejects_inverted_periods() -> None:
    """The short SMA must be shorter than the long one, and the fast EMA than the slow one."""
    with pytest.raises(ValueError, match="sma_short"):
        IndicatorConfig(sma_short=20, sma_long=20)
    with pytest.raises(ValueError, match="ema_fast"):
        IndicatorConfig(ema_fast=26, ema_slow=12)


def reference_vwap(prices, volumes, stamps) -> list[float | None]:
    out, day, turnover, volume = [], None, 0.0, 0
    for price, vol, at in zip(prices, volumes, stamps, strict=True):
        if at // 86400 != day:
            day, turnover, volume = at // 86400, 0.0, 0
        if vol:
            turnover += price * vol
            volume += vol
        out.append(turnover / volume if volume else None)
    return out


def test_vwap_is_per_utc_day_and_skips_ticks_without_volume() -> None:
    """VWAP restarts at each UTC midnight, ignores volume-less ticks, is None before volume."""
    midnight = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
    stamps = [midnight - 120.0, midnight - 60.0, midnight, midnight + 30.0, midnight + 90.0]
    prices = [10.0, 20.0, 30.0, 40.0, 50.0]
    volumes = [100, 300, None, 0, 200]
    engine = IndicatorEngine("V")
    got = []
    for price, volume, at in zip(prices, volumes, stamps, strict=True):
        engine.update(price, volume, at)
        got.append(engine.values()["vwap"])
    assert got == [10.0, 17.5, None, None, 50.0]


def test_vwap_matches_a_reference_over_several_days() -> None:
    """Over 20k ticks spanning days, VWAP equals a direct per-day computation."""
    rnd = random.Random(3)
    n = 20_000
    prices = random_walk(9, n)
    volumes = [rnd.choice([None, 0, 100, 250, 1000]) for _ in range(n)]
    stamps = [T0 + i * 29.5 for i in range(n)]
    reference = reference_vwap(prices, volumes, stamps)
    engine = IndicatorEngine("V")
    for start in range(0, n, 250):
        s = slice(start, start + 250)
        engine.update_many(prices[s], volumes[s], stamps[s])
        got, want = engine.values()["vwap"], reference[min(start + 249, n - 1)]
        assert (got is None) == (want is None)
        if want is not None:
            assert got == pytest.approx(want, rel=1e-12)


def test_older_and_repeated_ticks_are_counted_and_ignored() -> None:
    """Ticks at or before the last (timestamp, id) are dropped: equal = duplicate, older = out."""
    engine = IndicatorEngine("ORD")
    engine.update_many(
        [10.0, 11.0, 12.0, 99.0, 98.0, 13.0, 14.0],
        [1, 1, 1, 1, 1, 1, 1],
        [T0, T0 + 1, T0 + 2, T0 + 1, T0 + 2, T0 + 2, T0 + 3],
        ["a", "a", "a", "z", "a", "b", "a"],
    )
    s = engine.state
    assert (s.ticks_seen, s.out_of_order, s.duplicates) == (5, 1, 1)
    assert (s.last_tick_at, s.last_tick_id, s.last_price) == (T0 + 3, "a", 14.0)
    assert engine.values()["sma_5"] == pytest.approx(12.0)
    assert engine.last_tick_time == datetime.fromtimestamp(T0 + 3, UTC)


def test_ordering_applies_in_the_steady_state_too() -> None:
    """After warm-up the fast path drops the same ticks the warm-up path would."""
    prices = random_walk(2, 100)
    stamps = [T0 + i for i in range(100)]
    clean = IndicatorEngine("O")
    clean.update_many(prices, [1] * 100, stamps)
    noisy = IndicatorEngine("O")
    noisy.update_many(prices[:60], [1] * 60, stamps[:60])
    noisy.update_many([1.0, 2.0], [1, 1], [stamps[10], stamps[59]])  # older, duplicate
    noisy.update_many(prices[60:], [1] * 40, stamps[60:])
    assert noisy.values() == clean.values()
    assert (noisy.state.out_of_order, noisy.state.duplicates) == (1, 1)


def test_resync_bounds_drift_after_a_price_collapse() -> None:
    """Sums built near 1e6 leave TA-Lib's SMA off by ~1e-10 near 1; the resync clears it."""
    prices = [1e6 + (i % 10) * 0.37 for i in range(4000)] + [1 + (i % 10) / 100 for i in range(200)]
    engine = IndicatorEngine("DRIFT")
    engine.update_many(prices, [None] * len(prices), [T0 + i for i in range(len(prices))])
    exact = math.fsum(prices[-20:]) / 20
    assert engine.values()["sma_20"] == pytest.approx(exact, rel=1e-14)
    assert talib.SMA(np.array(prices), 20)[-1] != pytest.approx(exact, rel=1e-12)


def test_mismatched_column_lengths_are_refused() -> None:
    """update_many needs one volume and one timestamp per price."""
    with pytest.raises(ValueError, match="differ in length"):
        IndicatorEngine("X").update_many([1.0, 2.0], [None], [T0, T0 + 1])


@settings(max_examples=150, deadline=None)
@given(
    ticks=st.lists(
        st.tuples(
            st.floats(min_value=0.5, max_value=2.0, allow_nan=False),
            st.one_of(st.none(), st.integers(0, 500)),
            st.integers(0, 60),  # timestamp steps of 0: duplicates; repeats go backwards
            st.sampled_from(["", "a", "b"]),
        ),
        max_size=80,
    ),
    cuts=st.lists(st.integers(0, 80), max_size=6),
)
def test_any_split_and_restore_matches_the_straight_run(ticks, cuts) -> None:
    """Hypothesis: any series, with ties and reversals, cut anywhere and resumed from JSON."""
    prices = [p for p, _, _, _ in ticks]
    volumes = [v for _, v, _, _ in ticks]
    stamps = [T0 + 3600.0 * (s % 30) for _, _, s, _ in ticks]
    ids = [i for _, _, _, i in ticks]

    def run(points: list[int]) -> tuple[dict, list]:
        engine, found = IndicatorEngine("H", IndicatorConfig(sma_short=2, sma_long=4)), []
        bounds = [0, *sorted(p for p in points if p <= len(ticks)), len(ticks)]
        for a, b in zip(bounds, bounds[1:], strict=False):
            found += engine.update_many(prices[a:b], volumes[a:b], stamps[a:b], ids[a:b])
            engine = IndicatorEngine.from_dict(json.loads(json.dumps(engine.to_dict())))
        return engine.to_dict(), found

    assert run(cuts) == run([])


def test_resuming_with_other_periods_is_refused() -> None:
    """from_dict(data, config) refuses a state built with different periods."""
    document = IndicatorEngine("AAPL").to_dict()
    assert IndicatorEngine.from_dict(document, IndicatorConfig()).symbol == "AAPL"
    with pytest.raises(InvalidIndicatorStateError, match="other|configured"):
        IndicatorEngine.from_dict(document, IndicatorConfig(rsi_period=10))
