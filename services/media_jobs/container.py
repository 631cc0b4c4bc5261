"""What the media-jobs API and worker share: the job store (its outbox commits the jobs'
events) and the two buckets, built once per process by `build_container`
(the API's ``ServiceSpec.container`` and ``worker.build``)."""

from __future__ import annotations

from dataclasses import dataclass

from services.media_jobs.events import MEDIA_EVENTS
from services.media_jobs.store.jobs import JobStore
from services.media_jobs.store.outputs import OutputBucket
from services.media_jobs.store.sources import SourceBucket
from shared.aws import AwsClients
from shared.outbox import open_outbox
from shared.topology import Resources


@dataclass(frozen=True)
class MediaJobsContainer:
    jobs: JobStore
    source: SourceBucket
    outputs: OutputBucket


async def build_container(aws: AwsClients, resources: Resources) -> MediaJobsContainer:
    s3 = await aws.client("s3")
    return MediaJobsContainer(
        jobs=JobStore(await aws.client("dynamodb"), resources.table("media-jobs"),
                      outbox=await open_outbox(aws, resources, MEDIA_EVENTS)),
        source=SourceBucket(s3, resources.bucket("media-source")),
        outputs=OutputBucket(s3, resources.bucket("media-output")),
    )
