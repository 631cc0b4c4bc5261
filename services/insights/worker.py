"""The insights worker process: ``python -m services.insights.worker``."""

from __future__ import annotations

from services.insights.consumers import PLATFORM_EVENTS, PlatformLander
from services.insights.settings import InsightsSettings
from services.insights.store.lake import RawZone
from shared.aws import AwsClients
from shared.topology import Resources
from shared.worker import Runner, consumer, serve


async def build(aws: AwsClients, resources: Resources) -> list[Runner]:
    # The worker needs the raw zone alone (not the API's container: no counter, no salts).
    raw = RawZone(await aws.client("s3"), resources.bucket("insights-lake"))
    return [await consumer(aws, resources, PLATFORM_EVENTS, PlatformLander(raw))]


if __name__ == "__main__":
    serve(InsightsSettings.load(), "insights", build)
