"""The trend rules: resuming state, feeding ticks in order, signal keys, events and alerts."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

from services.trend import logic
from services.trend.indicators import IndicatorConfig, IndicatorEngine
from services.trend.models import RecordedTick
from services.trend.settings import TrendSettings

T0 = datetime(2024, 6, 3, 10, tzinfo=UTC)
SMALL = IndicatorConfig(sma_short=2, sma_long=3)


def recorded(prices: list[float], *, start: int = 0) -> list[RecordedTick]:
    return [RecordedTick(id=f"t{start + i:04d}", timestamp=T0 + timedelta(seconds=start + i),
                         price=p, volume=100) for i, p in enumerate(prices)]


def test_resume_starts_fresh_without_state_or_when_periods_changed() -> None:
    """No document: a new engine. Other periods: a new engine, flagged as restarted."""
    engine, restarted = logic.resume("ACME", None, SMALL)
    assert (engine.state.ticks_seen, restarted) == (0, False)
    logic.advance(engine, recorded([1.0, 2.0, 3.0]))
    same, restarted = logic.resume("ACME", engine.to_dict(), SMALL)
    assert (same.state.ticks_seen, restarted) == (3, False)
    other, restarted = logic.resume("ACME", engine.to_dict(), IndicatorConfig())
    assert (other.state.ticks_seen, other.config, restarted) == (0, IndicatorConfig(), True)


def test_advance_sorts_ticks_and_stamps_signals_with_their_ticks_time() -> None:
    """Shuffled ticks give the signals of sorted ones, each at its crossing tick's exact time."""
    ticks = recorded([3.0, 2.0, 1.0, 5.0, 0.5, 0.4])
    ordered_engine = IndicatorEngine("ACME", SMALL)
    expected = logic.advance(ordered_engine, ticks)
    engine = IndicatorEngine("ACME", SMALL)
    signals = logic.advance(engine, [ticks[i] for i in (3, 0, 5, 4, 2, 1)])
    assert signals == expected and [s.tick_id for s in signals] == ["t0003", "t0005"]
    assert [s.at for s in signals] == [T0 + timedelta(seconds=3), T0 + timedelta(seconds=5)]
    assert engine.to_dict() == ordered_engine.to_dict()


def test_replayed_ticks_are_ignored_and_counted() -> None:
    """Feeding the same ticks again changes no indicator; the repeat shows in the counters."""
    engine = IndicatorEngine("ACME", SMALL)
    logic.advance(engine, recorded([3.0, 2.0, 1.0, 5.0]))
    before = engine.values()
    assert logic.advance(engine, recorded([3.0, 2.0, 1.0, 5.0])) == []
    assert engine.values() == before
    view = logic.trend_view(engine)
    assert (view.ticks_seen, view.ignored.duplicates, view.ignored.out_of_order) == (4, 1, 3)


def test_signal_key_event_and_alert_are_derived_from_the_signal() -> None:
    """The key sorts by time; the event id and alert signal_id are stable UUIDs of the key."""
    engine = IndicatorEngine("ACME", SMALL)
    (up,) = logic.advance(engine, recorded([3.0, 2.0, 1.0, 5.0]))
    assert logic.signal_key(up) == "2024-06-03T10:00:03.000000Z#t0003"
    event = logic.signal_event(up)
    assert event.id == logic.signal_event(up).id
    uuid.UUID(event.id)
    assert event.type == "dev.regatta.trend.trend.signal.detected.v1"
    assert (event.source, event.subject) == ("regatta/trend", "ACME")
    assert event.data == {
        "symbol": "ACME", "direction": "up", "at": "2024-06-03T10:00:03Z", "price": 5.0,
        "short": 3.0, "long": up.long, "message": "ACME is in an Uptrend! Consider a buy "
        "opportunity.", "subject": "Stock Alert: ACME", "tick_id": "t0003",
    }
    alert = logic.alert(up)
    assert (alert.subject, alert.message) == ("Stock Alert: ACME",
                                              "ACME is in an Uptrend! Consider a buy opportunity.")
    assert alert.attributes == {"symbol": "ACME", "direction": "up", "signal_id": event.id}


def test_trend_view_names_indicators_after_the_configured_periods() -> None:
    """GET /trends/{symbol}'s shape: summary fields, period-named indicators, null in warm-up."""
    engine = IndicatorEngine("ACME", IndicatorConfig(sma_short=3, sma_long=7, rsi_period=5))
    logic.advance(engine, recorded([10.0 + math.sin(i) for i in range(6)]))
    view = logic.trend_view(engine).model_dump(mode="json")
    assert view["symbol"] == "ACME" and view["ticks_seen"] == 6
    assert view["as_of"] == "2024-06-03T10:00:05Z" and view["trend"] == "flat"
    assert list(view["indicators"]) == [
        "sma_3", "sma_7", "ema_12", "ema_26", "macd", "macd_signal", "macd_hist", "rsi_5",
        "bb_upper", "bb_middle", "bb_lower", "vwap"]
    assert view["indicators"]["sma_7"] is None and view["indicators"]["sma_3"] is not None
    assert view["indicators"]["rsi_5"] is not None and view["indicators"]["macd"] is None


def test_settings_build_the_indicator_config_and_refuse_bad_periods(monkeypatch) -> None:
    """TREND_* variables set the periods; a short SMA not below the long one stops the start."""
    monkeypatch.setenv("TREND_SMA_SHORT", "10")
    monkeypatch.setenv("TREND_SMA_LONG", "30")
    assert TrendSettings().indicator_config == IndicatorConfig(sma_short=10, sma_long=30)
    monkeypatch.setenv("TREND_SMA_SHORT", "30")
    try:
        TrendSettings.load()
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("settings with sma_short >= sma_long were accepted")
