"""The recipes worker process: ``python -m services.recipes.worker``."""

from __future__ import annotations

from typing import Any

from services.recipes.consumers import SEARCH_INDEX, SearchIndexer
from services.recipes.events import RECIPE_EVENTS
from services.recipes.settings import RecipesSettings
from services.recipes.store import RecipeStore, SearchIndex
from shared.outbox import open_outbox
from shared.relay import OutboxRelay, outbox_relay
from shared.worker import SqsWorker, consumer, serve


async def build(aws: Any, resources: Any) -> list[SqsWorker[Any] | OutboxRelay]:
    dynamodb = await aws.client("dynamodb")
    store = RecipeStore(dynamodb, recipes_table=resources.table("recipes"),
                        likes_table=resources.table("recipe-likes"),
                        outbox=await open_outbox(aws, resources, RECIPE_EVENTS))
    indexer = SearchIndexer(SearchIndex(dynamodb, resources.table("recipe-search")), store)
    return [await consumer(aws, resources, SEARCH_INDEX, indexer),
            await outbox_relay(aws, resources, "recipes")]


if __name__ == "__main__":
    serve(RecipesSettings.load(), "recipes", build)
