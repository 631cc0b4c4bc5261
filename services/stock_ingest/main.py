"""The stock-ingest API process: ``uvicorn services.stock_ingest.main:app``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from services.stock_ingest.api import router
from services.stock_ingest.events import TICK_EVENTS
from services.stock_ingest.models import TickBatchCreate, TickCreate
from services.stock_ingest.settings import StockIngestSettings
from services.stock_ingest.store import TickArchive, TickStore
from shared.http import ServiceSpec, create_app, table_ready
from shared.outbox import open_outbox


async def on_startup(app: FastAPI) -> None:
    aws, resources, settings = app.state.aws, app.state.resources, app.state.settings
    app.state.store = TickStore(await aws.client("dynamodb"),
                                ticks_table=resources.table("stock-ticks"),
                                symbols_table=resources.table("stock-symbols"),
                                outbox=await open_outbox(aws, resources, TICK_EVENTS),
                                write_concurrency=settings.stock_write_concurrency)
    app.state.archive = TickArchive(await aws.client("s3"), resources.bucket("stock-archive"),
                                    fetch_concurrency=settings.stock_candles_fetch_concurrency)


def with_tick_schemas(app: FastAPI) -> FastAPI:
    """Document POST /stocks/ticks' body, which the route parses itself (tick by tick)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            _, definitions = models_json_schema(
                [(TickCreate, "validation"), (TickBatchCreate, "validation")],
                ref_template="#/components/schemas/{model}",
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                definitions["$defs"])
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def build_app(settings: StockIngestSettings | None = None) -> FastAPI:
    return with_tick_schemas(create_app(
        ServiceSpec(
            name="stock-ingest",
            prefix="/stocks",
            routers=[router],
            on_startup=on_startup,
            ready_check=table_ready("stock-ticks"),
            clients=("dynamodb", "s3"),
            description="Record stock ticks: raw archive in S3, curated ticks in DynamoDB, "
                        "one event per symbol and request; tick history and SQL candles.",
            # 500 ticks with every optional field are about 230 KB.
            max_body_bytes=512 * 1024,
        ),
        settings or StockIngestSettings.load(),
    ))


app = build_app()
