"""The insights API process: ``uvicorn services.insights.main:app``."""

from __future__ import annotations

from fastapi import FastAPI

from services.insights.api import router
from services.insights.collect import MAX_BODY_BYTES
from services.insights.container import build_container
from services.insights.settings import InsightsSettings
from shared.http import ServiceSpec, create_app, table_ready


def build_app(settings: InsightsSettings | None = None) -> FastAPI:
    return create_app(
        ServiceSpec(
            name="insights",
            prefix="/insights",
            routers=[router],
            container=build_container,
            ready_check=table_ready("insights-hits"),
            clients=("dynamodb", "s3"),
            max_body_bytes=MAX_BODY_BYTES,
            description="Clickstream and platform events into a lake; a privacy-first "
                        "visitor counter.",
        ),
        settings or InsightsSettings.load(),
    )


app = build_app()
