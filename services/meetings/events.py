"""The events meetings publishes (through its outbox): ``meeting.requested`` and the admin's
decision (``meeting.approved``, ``meeting.rejected``, ``meeting.cancelled``), each with the
meeting as committed."""

from __future__ import annotations

from shared.outbox import EventSource

MEETING_EVENTS = EventSource(service="meetings", topic="meetings-events")
