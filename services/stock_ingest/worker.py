"""The stock-ingest worker process: ``python -m services.stock_ingest.worker``.

stock-ingest consumes no queue; its worker runs the outbox relay that publishes the
``stock.ticks.recorded`` events the API commits.
"""

from __future__ import annotations

from services.stock_ingest.settings import StockIngestSettings
from shared.aws import AwsClients
from shared.relay import outbox_relay
from shared.topology import Resources
from shared.worker import Runner, serve


async def build(aws: AwsClients, resources: Resources) -> list[Runner]:
    return [await outbox_relay(aws, resources, "stock-ingest")]


if __name__ == "__main__":
    serve(StockIngestSettings.load(), "stock-ingest", build)
