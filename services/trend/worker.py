"""The trend worker process: ``python -m services.trend.worker``.

It applies tick events to the trend state and relays the signals' events and alerts that
each state write commits (the outbox).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.trend.consumers import TICKS, TrendUpdater
from services.trend.events import TREND_EVENTS
from services.trend.settings import TrendSettings
from services.trend.store import TrendStore
from shared.outbox import open_outbox
from shared.relay import OutboxRelay, outbox_relay
from shared.worker import SqsWorker, consumer, serve


async def build(aws: Any, resources: Any) -> list[SqsWorker[Any] | OutboxRelay]:
    settings: TrendSettings = aws.settings
    updater = TrendUpdater(
        TrendStore(await aws.client("dynamodb"),
                   state_table=resources.table("trend-state"),
                   signals_table=resources.table("trend-signals"),
                   idempotency_table=resources.table("trend-idempotency"),
                   outbox=await open_outbox(aws, resources, TREND_EVENTS),
                   remember_seconds=settings.trend_idempotency_days * 24 * 3600),
        config=settings.indicator_config,
        alert_window=timedelta(seconds=settings.trend_alert_window_seconds),
    )
    return [await consumer(aws, resources, TICKS, updater,
                           batch_window=settings.trend_batch_window_seconds),
            await outbox_relay(aws, resources, "trend")]


if __name__ == "__main__":
    serve(TrendSettings.load(), "trend", build)
