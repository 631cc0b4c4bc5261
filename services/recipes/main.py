"""The recipes API process: ``uvicorn services.recipes.main:app``."""

from __future__ import annotations

from fastapi import FastAPI

from services.recipes.api import router
from services.recipes.container import build_container
from services.recipes.settings import RecipesSettings
from shared.http import ServiceSpec, create_app, table_ready


def build_app(settings: RecipesSettings | None = None) -> FastAPI:
    return create_app(
        ServiceSpec(
            name="recipes",
            prefix="/recipes",
            routers=[router],
            container=build_container,
            ready_check=table_ready("recipes"),
            idempotency_table="recipes-idempotency",
            description="Share recipes, like them, find them by words and tags.",
        ),
        settings or RecipesSettings.load(),
    )


app = build_app()
