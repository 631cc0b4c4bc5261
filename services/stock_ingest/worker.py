"""The stock-ingest worker process: ``python -m services.stock_ingest.worker``.

stock-ingest consumes no queue; its worker runs the outbox relay that publishes the
``stock.ticks.recorded`` events the API commits.
"""

from __future__ import annotations

from typing import Any

from services.stock_ingest.settings import StockIngestSettings
from shared.relay import OutboxRelay, outbox_relay
from shared.worker import serve


async def build(aws: Any, resources: Any) -> list[OutboxRelay]:
    return [await outbox_relay(aws, resources, "stock-ingest")]


if __name__ == "__main__":
    serve(StockIngestSettings.load(), "stock-ingest", build)
