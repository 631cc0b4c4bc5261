"""What the insights API and worker share, built once per process by `build_container`
(``main.on_startup`` and ``worker.build``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request

from services.insights.enrich import Geo
from services.insights.settings import InsightsSettings
from services.insights.store.counter import HitCounter
from services.insights.store.lake import GroupCommit, RawZone
from services.insights.store.salts import DailySalts
from shared.aws import AwsClients
from shared.http import state_of
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


async def container_of(request: Request) -> InsightsContainer:
    # async: FastAPI runs a plain def dependency in a worker thread
    return state_of(request, InsightsContainer, "container")
