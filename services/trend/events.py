"""The events trend publishes (through its outbox): ``trend.signal.detected``, its id derived
from the signal, and the plain-text alert of each signal to the alerts topic."""

from __future__ import annotations

from shared.outbox import EventSource

TREND_EVENTS = EventSource(service="trend", topic="trend-events",
                           alerts_topic="stock-trend-alerts")
SIGNAL_DETECTED = TREND_EVENTS.type_of("trend.signal.detected")
