"""The trend API process: ``uvicorn services.trend.main:app``."""

from __future__ import annotations

from fastapi import FastAPI

from services.trend.api import router
from services.trend.container import build_container
from services.trend.settings import TrendSettings
from shared.http import ServiceSpec, create_app, table_ready


def build_app(settings: TrendSettings | None = None) -> FastAPI:
    return create_app(
        ServiceSpec(
            name="trend",
            prefix="/trends",
            routers=[router],
            container=build_container,
            ready_check=table_ready("trend-state"),
            clients=("dynamodb",),
            description="Per-symbol technical indicators (SMA, EMA, MACD, RSI, Bollinger, "
                        "VWAP) kept from stock ticks, and SMA crossover signals.",
        ),
        settings or TrendSettings.load(),
    )


app = build_app()
