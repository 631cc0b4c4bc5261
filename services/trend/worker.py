"""The trend worker process: ``python -m services.trend.worker``."""

from __future__ import annotations

from typing import Any

from services.trend.consumers import TrendUpdater
from services.trend.settings import TrendSettings
from services.trend.store import TrendStore
from shared.batch import batch_consumer
from shared.events import EventPublisher
from shared.worker import SqsWorker, serve


async def build(aws: Any, resources: Any) -> list[SqsWorker[Any]]:
    settings: TrendSettings = aws.settings
    sns = await aws.client("sns")
    updater = TrendUpdater(
        TrendStore(await aws.client("dynamodb"),
                   state_table=resources.table("trend-state"),
                   signals_table=resources.table("trend-signals"),
                   idempotency_table=resources.table("trend-idempotency"),
                   remember_seconds=settings.trend_idempotency_days * 24 * 3600),
        alerts=EventPublisher(sns, resources.topic_arn("stock-trend-alerts")),
        events=EventPublisher(sns, resources.topic_arn("trend-events")),
        config=settings.indicator_config,
    )
    return [await batch_consumer(aws, resources, "trend-ticks.fifo", updater,
                                 batch_window=settings.trend_batch_window_seconds)]


if __name__ == "__main__":
    serve(TrendSettings.load(), "trend", build)
