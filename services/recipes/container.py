"""What the recipes API and worker share: the stores, built once per process by
`build_container` (the API's ``ServiceSpec.container`` and ``worker.build``)."""

from __future__ import annotations

from dataclasses import dataclass

from services.recipes.events import RECIPE_EVENTS
from services.recipes.store import RecipeStore, SearchIndex
from shared.aws import AwsClients
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
