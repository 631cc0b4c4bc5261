"""What the stock-ingest API works with: the tick store and the raw archive, built once per
process by `build_container` (the API's ``ServiceSpec.container``). The worker only relays
the outbox."""

from __future__ import annotations

from dataclasses import dataclass

from services.stock_ingest.events import TICK_EVENTS
from services.stock_ingest.settings import StockIngestSettings
from services.stock_ingest.store import TickArchive, TickStore
from shared.aws import AwsClients
from shared.outbox import open_outbox
from shared.topology import Resources


@dataclass(frozen=True)
class StockIngestContainer:
    store: TickStore
    archive: TickArchive


async def build_container(aws: AwsClients, resources: Resources) -> StockIngestContainer:
    settings = StockIngestSettings.of(aws.settings)
    return StockIngestContainer(
        store=TickStore(await aws.client("dynamodb"),
                        ticks_table=resources.table("stock-ticks"),
                        symbols_table=resources.table("stock-symbols"),
                        outbox=await open_outbox(aws, resources, TICK_EVENTS),
                        write_concurrency=settings.stock_write_concurrency),
        archive=TickArchive(await aws.client("s3"), resources.bucket("stock-archive"),
                            fetch_concurrency=settings.stock_candles_fetch_concurrency),
    )
