"""The events media-jobs publishes (through its outbox): ``media.job.completed``,
``media.job.failed`` and ``media.job.retry.requested``, each about one attempt of a job."""

from __future__ import annotations

from typing import Any

from services.media_jobs.models import MediaJob
from shared.events import CloudEvent
from shared.outbox import EventSource

MEDIA_EVENTS = EventSource(service="media-jobs", topic="media-events")
# POST /media/jobs/{guid}/retry commits this event (the outbox); the uploads queue subscribes
# to it on media-events, so it arrives there as a `RetryCommand`.
RETRY_REQUESTED = MEDIA_EVENTS.type_of("media.job.retry.requested")


def job_event(job: MediaJob, name: str, data: dict[str, Any]) -> CloudEvent:
    """The event ``name`` about ``job`` (its attempt), to commit with the change it announces.

    Its id is derived from guid, attempt and name: a change committed twice (it cannot be, but
    a relay publishes at least once) carries the same id, and consumers drop the copy.
    """
    return MEDIA_EVENTS.event(name, data, subject=job.guid,
                              fact=(job.guid, str(job.attempt), name))
