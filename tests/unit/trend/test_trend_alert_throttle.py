"""The alert throttle: at most one e-mail per direction per window of tick time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.trend.logic import AlertThrottle
from services.trend.signals import Direction, Signal, make_signal

T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def cross(direction: Direction, minutes: float) -> Signal:
    return make_signal("ACME", direction, T0 + timedelta(minutes=minutes), 10.0, 10.0, 9.0,
                  tick_id=f"t{minutes}")


def test_one_alert_per_direction_per_window() -> None:
    """Up at 0 and down at 1 are sent; up at 5 and 14 are held back; up at 15 is sent."""
    throttle = AlertThrottle(timedelta(minutes=15))
    admitted = [throttle.admit(cross(d, m)) for d, m in [
        (Direction.up, 0), (Direction.down, 1), (Direction.up, 5), (Direction.up, 14.99),
        (Direction.up, 15), (Direction.down, 15.5)]]
    assert admitted == [True, True, False, False, True, False]
    assert throttle.suppressed == 3


def test_a_window_of_zero_sends_every_alert() -> None:
    throttle = AlertThrottle(timedelta(0))
    assert all(throttle.admit(cross(Direction.up, m)) for m in (0, 0.1, 0.2))
    assert throttle.suppressed == 0


def test_the_throttle_survives_a_round_trip_through_the_stored_state() -> None:
    """Resumed from its JSON, the throttle remembers the last alerts and the count, and a
    replay of the same signals decides exactly as the first run did."""
    first = AlertThrottle(timedelta(minutes=15))
    decisions = [first.admit(cross(Direction.up, m)) for m in (0, 3)]
    resumed = AlertThrottle.from_json(first.to_json())
    assert resumed.window == timedelta(minutes=15) and resumed.suppressed == 1
    assert not resumed.admit(cross(Direction.up, 10)) and resumed.admit(cross(Direction.up, 16))
    replay = AlertThrottle(timedelta(minutes=15))
    assert [replay.admit(cross(Direction.up, m)) for m in (0, 3)] == decisions
