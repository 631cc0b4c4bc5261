"""Job leases and fenced commits against the emulator's DynamoDB: a run whose lease was taken
over can neither renew it nor commit its job change and events (the outbox transaction)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from conftest import MediaService

from devkit.testing import EventTap, LocalStack
from services.media_jobs.events import MEDIA_EVENTS, job_event
from services.media_jobs.logic import new_job
from services.media_jobs.models import S3Location, Stage, Trigger
from services.media_jobs.options import JobOptions
from services.media_jobs.store.errors import LeaseLostError
from services.media_jobs.store.jobs import JobStore
from services.media_jobs.store.leases import JobLeases
from shared.aws import AwsClients
from shared.outbox import Outbox


async def test_the_same_message_redelivered_takes_the_lease_from_its_earlier_run(
    aws: AwsClients, stack: LocalStack,
) -> None:
    """A redelivery of one message (same owner) takes the lease back at once, as before, and
    from then on only the new run can renew or release it."""
    leases = JobLeases(await aws.client("dynamodb"), stack.resources.table("media-idempotency"),
                       seconds=60)
    guid = str(uuid.uuid4())
    earlier = await leases.acquire(guid, "message-1")
    later = await leases.acquire(guid, "message-1")
    assert earlier and later and earlier != later
    assert await leases.acquire(guid, "message-2") is None  # another message still waits
    assert not await leases.renew(guid, "message-1", earlier)
    assert await leases.renew(guid, "message-1", later)
    await leases.release(guid, "message-1", earlier)  # not its lease any more: no effect
    assert await leases.acquire(guid, "message-2") is None
    await leases.release(guid, "message-1", later)
    assert await leases.acquire(guid, "message-2")


async def test_a_run_whose_lease_was_taken_over_commits_nothing(
    aws: AwsClients, stack: LocalStack, media: MediaService, events: EventTap,
) -> None:
    """The stale run's commit (stage done + its event) is refused as a whole; the run that
    holds the lease commits the same change, and one event is published (by the session
    worker's relay)."""
    dynamodb = await aws.client("dynamodb")
    jobs = JobStore(dynamodb, stack.resources.table("media-jobs"), outbox=Outbox(
        dynamodb, stack.resources.table("media-jobs-outbox"), MEDIA_EVENTS))
    leases = JobLeases(dynamodb, stack.resources.table("media-idempotency"), seconds=1)
    guid, now = str(uuid.uuid4()), datetime.now(UTC)
    job = new_job(guid, trigger=Trigger.VIDEO, options=JobOptions(), now=now,
                  source=S3Location(bucket="nowhere", key=f"inbox/{guid}.mp4"))
    assert await jobs.create(job)
    job = await jobs.begin_stage(job, Stage.INGEST, now=now)
    stale = await leases.acquire(guid, "message-1")
    await asyncio.sleep(2.2)  # its lease (1 s, whole seconds) expires...
    current = await leases.acquire(guid, "message-2")  # ...and another delivery takes it
    assert stale and current
    event = job_event(job, "media.job.completed", {"guid": guid})

    with pytest.raises(LeaseLostError):
        await jobs.finish_stage(job, Stage.INGEST, {"custom": {"by": "stale"}}, now=now,
                                events=[event], fence=leases.fence(guid, "message-1", stale))

    found = await jobs.find(guid)
    assert found is not None and found.stages[Stage.INGEST].completed_at is None
    assert found.custom == {}
    done = await jobs.finish_stage(job, Stage.INGEST, {"custom": {"by": "current"}}, now=now,
                                   events=[event],
                                   fence=leases.fence(guid, "message-2", current))
    assert done.stages[Stage.INGEST].completed_at is not None
    assert done.custom == {"by": "current"}

    assert [e["id"] for e in await events.settled(guid)] == [event.id]
