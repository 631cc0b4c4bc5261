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
    # platform events in, and the compaction on its timer unless INSIGHTS_COMPACTION_ON_WORKER
    # is false (in AWS a scheduled task also runs ``python -m services.insights.compact
    # --once``; the lease lets one run at a time).
    settings = InsightsSettings.of(aws.settings)
    lake = resources.bucket("insights-lake")
    raw = RawZone(await aws.client("s3"), lake)
    runners: list[Runner] = [await consumer(aws, resources, PLATFORM_EVENTS, PlatformLander(raw))]
    if settings.insights_compaction_on_worker:
        runners.append(await compaction_runner(aws, bucket=lake,
                                               state_table=resources.table("insights-state")))
    return runners


if __name__ == "__main__":
    serve(InsightsSettings.load(), "insights", build)
