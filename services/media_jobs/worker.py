"""The media-jobs worker process: ``python -m services.media_jobs.worker``."""

from __future__ import annotations

from services.media_jobs.consumers import (
    UPLOADS,
    UPLOADS_DEAD_LETTERS,
    DeadLettersConsumer,
    UploadsConsumer,
)
from services.media_jobs.container import build_container
from services.media_jobs.settings import MediaJobsSettings
from services.media_jobs.store.leases import JobLeases
from services.media_jobs.store.queues import RetryQueue
from services.media_jobs.workflow import Workflow
from shared.aws import AwsClients
from shared.relay import outbox_relay
from shared.topology import Resources
from shared.worker import Runner, consumer, serve


async def build(aws: AwsClients, resources: Resources) -> list[Runner]:
    settings = MediaJobsSettings.of(aws.settings)
    queue = resources.topology.queues[UPLOADS.queue]
    # Completed and failed events commit with the job's change; the relay publishes them.
    container = await build_container(aws, resources)
    jobs, source = container.jobs, container.source
    workflow = Workflow(
        jobs=jobs,
        # A lease lasts as long as the message stays invisible; both are renewed together.
        leases=JobLeases(await aws.client("dynamodb"), resources.table("media-idempotency"),
                         seconds=queue.visibility_timeout),
        source=source,
        outputs=container.outputs,
        settings=settings,
    )
    uploads = UploadsConsumer(jobs, workflow, source_bucket=source.bucket,
                              defaults=settings.default_options,
                              max_receive_count=queue.max_receive_count)
    # Its DLQ: the jobs of messages whose worker died on every delivery end as failed; those
    # whose last delivery was only interrupted (a drain) go back on the queue.
    dead_letters = DeadLettersConsumer(
        uploads, workflow, max_interruptions=settings.media_max_interruptions,
        requeue=RetryQueue(await aws.client("sqs"),
                           await resources.queue_url(aws, "media-jobs-uploads")))
    # No more messages than encodes in flight: a received message waits unextended otherwise.
    slots = settings.media_worker_concurrency
    return [
        # A drain that outlasts the stop timeout stops the encode and releases its message
        # (visibility 0) for another worker, instead of failing it.
        await consumer(aws, resources, UPLOADS, uploads, batch_size=slots, concurrency=slots),
        await consumer(aws, resources, UPLOADS_DEAD_LETTERS, dead_letters),
        await outbox_relay(aws, resources, "media-jobs"),
    ]


if __name__ == "__main__":
    serve(MediaJobsSettings.load(), "media-jobs", build)
