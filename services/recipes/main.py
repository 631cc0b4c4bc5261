"""The recipes API process: ``uvicorn services.recipes.main:app``."""

from __future__ import annotations

from fastapi import FastAPI

from services.recipes.api import router
from services.recipes.events import RECIPE_EVENTS
from services.recipes.settings import RecipesSettings
from services.recipes.store import RecipeStore, SearchIndex
from shared.http import ServiceSpec, create_app, table_ready
from shared.outbox import open_outbox


async def on_startup(app: FastAPI) -> None:
    aws, resources = app.state.aws, app.state.resources
    dynamodb = await aws.client("dynamodb")
    app.state.store = RecipeStore(dynamodb, recipes_table=resources.table("recipes"),
                                  likes_table=resources.table("recipe-likes"),
                                  outbox=await open_outbox(aws, resources, RECIPE_EVENTS))
    app.state.search = SearchIndex(dynamodb, resources.table("recipe-search"))


def build_app(settings: RecipesSettings | None = None) -> FastAPI:
    return create_app(
        ServiceSpec(
            name="recipes",
            prefix="/recipes",
            routers=[router],
            on_startup=on_startup,
            ready_check=table_ready("recipes"),
            idempotency_table="recipes-idempotency",
            description="Share recipes, like them, find them by words and tags.",
        ),
        settings or RecipesSettings.load(),
    )


app = build_app()
