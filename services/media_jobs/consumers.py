"""Queue handlers of the media-jobs service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.media_jobs import logic
from services.media_jobs.events import RETRY_REQUESTED
from services.media_jobs.logic import (
    ObjectCreated,
    RetryCommand,
    S3Notification,
    S3TestEvent,
    UploadMessage,
)
from services.media_jobs.models import Trigger
from services.media_jobs.options import JobOptions, KeyKind
from services.media_jobs.store.jobs import JobStore
from services.media_jobs.store.queues import RetryQueue
from services.media_jobs.workflow import Workflow
from shared.logging import get_logger
from shared.worker import QueueSubscription, current_delivery

log = get_logger("media_jobs.consumers")

# The source bucket's notifications and an admin's retries; parse_message refuses the rest.
UPLOADS = QueueSubscription(
    "media-jobs-uploads", event_types=frozenset({RETRY_REQUESTED}),
    parse=logic.parse_message)
UPLOADS_DEAD_LETTERS = QueueSubscription(
    "media-jobs-uploads", event_types=frozenset({RETRY_REQUESTED}),
    parse=logic.parse_message, dead_letters=True)


def _owner() -> str:
    """Who runs a job for this delivery: its SQS message id (a lease names its owner)."""
    delivery = current_delivery()
    return delivery.message_id if delivery else f"local-{uuid.uuid4()}"


class UploadsConsumer:
    """Starts jobs from S3 notifications of the source bucket and runs them (and retries); the
    handler of `UPLOADS`.

    One source object is one job: the guid comes from the key (``uploads/{guid}/...``) or from
    the object itself, so duplicate notifications land on the same job record; the workflow's
    lease lets one delivery run it while duplicates return at once.
    """

    def __init__(self, jobs: JobStore, workflow: Workflow, *, source_bucket: str,
                 defaults: JobOptions, max_receive_count: int) -> None:
        self.jobs = jobs
        self.workflow = workflow
        self.source_bucket = source_bucket
        self.defaults = defaults
        self.max_receive_count = max_receive_count

    async def __call__(self, message: UploadMessage) -> None:
        delivery, owner = current_delivery(), _owner()
        last = delivery is not None and delivery.receive_count >= self.max_receive_count
        if isinstance(message, S3TestEvent):
            log.info("s3.test_event", bucket=message.bucket)
            return
        if isinstance(message, RetryCommand):
            await self.workflow.run(message.guid, owner=owner, attempt=message.attempt,
                                    last_delivery=last)
            return
        assert isinstance(message, S3Notification)
        for record in message.records:
            guid = await self.open_job(record)
            if guid is not None:
                await self.workflow.run(guid, owner=owner, last_delivery=last)

    async def open_job(self, record: ObjectCreated) -> str | None:
        """The guid of the job ``record`` starts (created now or already there), or None
        when the object starts no job."""
        if record.bucket != self.source_bucket or record.kind is KeyKind.IGNORED:
            log.info("s3.object_ignored", bucket=record.bucket, key=record.key)
            return None
        guid, now = record.guid(), datetime.now(UTC)
        if record.kind is KeyKind.METADATA:
            job = logic.new_job(guid, trigger=Trigger.METADATA, options=self.defaults,
                                metadata=record.location(), now=now)
        else:
            if logic.guid_from_upload_key(record.key) == guid:
                if await self.jobs.adopt_upload(guid, record.location(), now=now):
                    log.info("job.upload_arrived", guid=guid, key=record.key)
                    return guid
                existing = await self.jobs.find(guid)
                if existing is not None and existing.source is not None \
                        and existing.source.key == record.key:
                    return guid  # a duplicate notification: the run resumes or does nothing
                if existing is not None:
                    # Under the guid of a job with another source: an object of its own.
                    guid = logic.derived_guid(record.bucket, record.key, record.version)
            job = logic.new_job(guid, trigger=Trigger.VIDEO, options=self.defaults,
                                source=record.location(), now=now)
        if await self.jobs.create(job):
            log.info("job.created", guid=guid, trigger=job.trigger, key=record.key)
        return guid


class DeadLettersConsumer:
    """Ends the jobs of the uploads queue's messages that failed every delivery, unless their
    last delivery was only interrupted; the handler of `UPLOADS_DEAD_LETTERS`.

    An unexpected error on the last delivery records the job's failure before the message goes
    to the DLQ; a worker that died on it (killed, out of memory, stopped past its drain) could
    not, and would leave the job in its stage for good. Here the job is recorded as failed at
    that stage and ``media.job.failed`` goes out; an admin's retry runs it again. A notification
    that never got as far as its job makes it first, so it too ends as a job to see and retry.

    A drain (SIGTERM: deploy, scale-in, Spot reclaim) is no reason to fail a job, but SQS
    counts its delivery all the same. A job whose last run was interrupted (``interrupted_at``
    is set; a run that starts a stage clears it, so a crash after it still counts) is put back
    on the uploads queue as a new message, up to ``max_interruptions`` drains per job.
    """

    WHY = ("the worker stopped during this stage on every delivery of the job's message, "
           "which went to the dead-letter queue")

    def __init__(self, uploads: UploadsConsumer, workflow: Workflow, *, requeue: RetryQueue,
                 max_interruptions: int) -> None:
        self.uploads = uploads
        self.workflow = workflow
        self.requeue = requeue
        self.max_interruptions = max_interruptions

    async def __call__(self, message: UploadMessage) -> None:
        if isinstance(message, S3TestEvent):
            return
        targets: list[tuple[str, int | None]]
        if isinstance(message, RetryCommand):
            targets = [(message.guid, message.attempt)]
        else:
            targets = []
            for record in message.records:
                guid = await self.uploads.open_job(record)
                if guid is not None:
                    targets.append((guid, None))
        for guid, attempt in targets:
            why = await self.requeue_interrupted(guid, attempt)
            if why:
                await self.workflow.give_up(guid, owner=_owner(), why=why, attempt=attempt)

    async def requeue_interrupted(self, guid: str, attempt: int | None) -> str | None:
        """Put the job back on the uploads queue if its last run was interrupted: None when
        it did, else why the job fails."""
        job = await self.uploads.jobs.find(guid)
        if job is None or job.interrupted_at is None or job.status in logic.TERMINAL \
                or (attempt is not None and attempt != job.attempt):
            return self.WHY
        if job.interruptions > self.max_interruptions:
            return (f"the job's run was interrupted {job.interruptions} times (worker drains), "
                    f"more than the {self.max_interruptions} allowed")
        await self.requeue.send(RetryCommand(guid=guid, attempt=job.attempt))
        log.info("job.requeued_after_interruption", guid=guid,
                 interruptions=job.interruptions, attempt=job.attempt)
        return None
