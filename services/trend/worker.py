"""The trend worker process: ``python -m services.trend.worker``.

It applies tick events to the trend state and relays the signals' events and alerts that
each state write commits (the outbox).
"""

from __future__ import annotations

from datetime import timedelta

from services.trend.consumers import TICKS, TrendUpdater
from services.trend.container import build_container
from services.trend.events import TREND_EVENTS
from services.trend.settings import TrendSettings
from shared.aws import AwsClients
from shared.outbox import open_outbox
from shared.relay import outbox_relay
from shared.topology import Resources
from shared.worker import Runner, consumer, serve


async def build(aws: AwsClients, resources: Resources) -> list[Runner]:
    settings = TrendSettings.of(aws.settings)
    container = await build_container(
        aws, resources, outbox=await open_outbox(aws, resources, TREND_EVENTS))
    updater = TrendUpdater(
        container.store,
        config=settings.indicator_config,
        alert_window=timedelta(seconds=settings.trend_alert_window_seconds),
    )
    return [await consumer(aws, resources, TICKS, updater,
                           batch_window=settings.trend_batch_window_seconds),
            await outbox_relay(aws, resources, "trend")]


if __name__ == "__main__":
    serve(TrendSettings.load(), "trend", build)
