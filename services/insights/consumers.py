"""Queue handlers of the insights service: platform events into the lake's raw zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from services.insights.collect import iso_ms
from services.insights.store.lake import RawZone
from shared.events import CloudEvent, event_type
from shared.logging import get_logger
from shared.worker import Outcome, PerBatch, QueueSubscription

log = get_logger("insights.consumers")

# Every event type the platform's topics carry (recipes, meetings, trend, media-jobs): the
# lake keeps them all, so analysts can join behaviour with business outcomes.
PLATFORM_EVENT_TYPES = frozenset({
    event_type("recipes", "recipe.created"),
    event_type("recipes", "recipe.updated"),
    event_type("recipes", "recipe.deleted"),
    event_type("recipes", "recipe.liked"),
    event_type("recipes", "recipe.unliked"),
    event_type("meetings", "meeting.requested"),
    event_type("meetings", "meeting.approved"),
    event_type("meetings", "meeting.rejected"),
    event_type("meetings", "meeting.cancelled"),
    event_type("trend", "trend.signal.detected"),
    event_type("media-jobs", "media.job.completed"),
    event_type("media-jobs", "media.job.failed"),
    event_type("media-jobs", "media.job.retry.requested"),
})

# One object per received page (PerBatch). Landing is idempotent in effect: a redelivered
# event is written again, and the lake's compaction keeps each event id exactly once.
PLATFORM_EVENTS = QueueSubscription(
    "insights-platform-events", event_types=PLATFORM_EVENT_TYPES, strategy=PerBatch)


def platform_row(event: CloudEvent, received_at: datetime) -> dict[str, Any]:
    """A CloudEvent as raw/platform keeps it."""
    return {"id": event.id, "source": event.source, "type": event.type,
            "time": iso_ms(event.time), "subject": event.subject,
            "data": event.data if isinstance(event.data, dict) else {"value": event.data},
            "received_at": iso_ms(received_at)}


class PlatformLander:
    """Writes a received page of platform events as one raw/platform object; the handler of
    `PLATFORM_EVENTS`."""

    def __init__(self, raw: RawZone) -> None:
        self.raw = raw

    async def __call__(self, events: Sequence[CloudEvent]) -> Sequence[Outcome]:
        now = datetime.now(UTC)
        key = await self.raw.put("platform", [platform_row(e, now) for e in events], now)
        log.info("platform.landed", events=len(events), key=key)
        return [Outcome.SUCCEEDED] * len(events)
