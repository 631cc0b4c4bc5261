"""What the recipes API and worker share: the stores, built once per process by
`build_container` (``main.on_startup`` and ``worker.build``)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from services.recipes.events import RECIPE_EVENTS
from services.recipes.store import RecipeStore, SearchIndex
from shared.aws import AwsClients
from shared.http import state_of
from shared.outbox import open_outbox
from shared.topology import Resources


@dataclass(frozen=True)
class RecipesContainer:
    store: RecipeStore
    search: SearchIndex


async def build_container(aws: AwsClients, resources: Resources) -> RecipesContainer:
    dynamodb = await aws.client("dynamodb")
    return RecipesContainer(
        store=RecipeStore(dynamodb, recipes_table=resources.table("recipes"),
                          likes_table=resources.table("recipe-likes"),
                          outbox=await open_outbox(aws, resources, RECIPE_EVENTS)),
        search=SearchIndex(dynamodb, resources.table("recipe-search")),
    )


async def container_of(request: Request) -> RecipesContainer:
    # async: FastAPI runs a plain def dependency in a worker thread
    return state_of(request, RecipesContainer, "container")
