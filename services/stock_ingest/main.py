"""The stock-ingest API process: ``uvicorn services.stock_ingest.main:app``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from services.stock_ingest.api import router
from services.stock_ingest.container import build_container
from services.stock_ingest.models import TickBatchCreate, TickCreate
from services.stock_ingest.settings import StockIngestSettings
from shared.http import ServiceSpec, create_app, table_ready


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
            app.openapi_schema = schema  # generate() has cached it there already
        return app.openapi_schema

    # FastAPI's documented way to extend the schema; mypy refuses any assignment to a method
    app.openapi = openapi  # type: ignore[method-assign]
    return app


def build_app(settings: StockIngestSettings | None = None) -> FastAPI:
    return with_tick_schemas(create_app(
        ServiceSpec(
            name="stock-ingest",
            prefix="/stocks",
            routers=[router],
            container=build_container,
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
