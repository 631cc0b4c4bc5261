"""What the trend API and worker share: the trend store, built once per process by
`build_container` (``main.on_startup`` and ``worker.build``)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from services.trend.settings import TrendSettings
from services.trend.store import TrendStore
from shared.aws import AwsClients
from shared.http import state_of
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


async def container_of(request: Request) -> TrendContainer:
    # async: FastAPI runs a plain def dependency in a worker thread
    return state_of(request, TrendContainer, "container")
