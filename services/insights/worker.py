"""The insights worker process: ``python -m services.insights.worker``."""

from __future__ import annotations

from services.insights.compact import compaction_runner
from services.insights.consumers import PLATFORM_EVENTS, PlatformLander
from services.insights.settings import InsightsSettings
from services.insights.store.lake import RawZone
from shared.aws import AwsClients
from shared.topology import Resources
from shared.worker import Runner, consumer, serve


async def build(aws: AwsClients, resources: Resources) -> list[Runner]:
    # Not the API's container (no counter, no salts, no reader): the raw zone it lands
    # platform events in, and the compaction on its timer (in AWS a scheduled task runs
    # ``python -m services.insights.compact --once`` as well; the lease lets one run at a time).
    lake = resources.bucket("insights-lake")
    raw = RawZone(await aws.client("s3"), lake)
    return [await consumer(aws, resources, PLATFORM_EVENTS, PlatformLander(raw)),
            await compaction_runner(aws, bucket=lake,
                                    state_table=resources.table("insights-state"))]


if __name__ == "__main__":
    serve(InsightsSettings.load(), "insights", build)
