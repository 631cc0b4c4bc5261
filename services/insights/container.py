"""What the insights API uses, built once per process by `build_container` (the API's
``ServiceSpec.container``); the worker needs the raw zone alone and builds it itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.insights.enrich import Geo
from services.insights.settings import InsightsSettings
from services.insights.store.counter import HitCounter
from services.insights.store.lake import GroupCommit, RawZone
from services.insights.store.salts import DailySalts
from shared.aws import AwsClients
from shared.topology import Resources


@dataclass(frozen=True)
class InsightsContainer:
    raw: RawZone
    collector: GroupCommit
    salts: DailySalts
    counter: HitCounter
    geo: Geo


async def build_container(aws: AwsClients, resources: Resources) -> InsightsContainer:
    settings = InsightsSettings.of(aws.settings)
    dynamodb = await aws.client("dynamodb")
    raw = RawZone(await aws.client("s3"), resources.bucket("insights-lake"))
    return InsightsContainer(
        raw=raw,
        collector=GroupCommit(raw, window=settings.insights_commit_window_ms / 1000,
                              max_events=settings.insights_commit_max_events,
                              max_in_flight=settings.insights_commit_max_in_flight),
        salts=DailySalts(dynamodb, resources.table("insights-salts")),
        counter=HitCounter(dynamodb, resources.table("insights-hits"),
                           marker_keep=timedelta(hours=settings.insights_marker_keep_hours)),
        geo=Geo(),
    )

