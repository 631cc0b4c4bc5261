"""What the trend API and worker share: the trend store, built once per process by
`build_container` (the API's ``ServiceSpec.container`` and ``worker.build``)."""

from __future__ import annotations

from dataclasses import dataclass

from services.trend.settings import TrendSettings
from services.trend.store import TrendStore
from shared.aws import AwsClients
from shared.outbox import Outbox
from shared.topology import Resources


@dataclass(frozen=True)
class TrendContainer:
    store: TrendStore


async def build_container(aws: AwsClients, resources: Resources, *,
                          outbox: Outbox | None = None) -> TrendContainer:
    """``outbox``: the worker's, whose store commits signals with their events; the API's
    store only reads (its role has no outbox table)."""
    settings = TrendSettings.of(aws.settings)
    return TrendContainer(store=TrendStore(
        await aws.client("dynamodb"),
        state_table=resources.table("trend-state"),
        signals_table=resources.table("trend-signals"),
        idempotency_table=resources.table("trend-idempotency"),
        outbox=outbox,
        remember_seconds=settings.trend_idempotency_days * 24 * 3600))
