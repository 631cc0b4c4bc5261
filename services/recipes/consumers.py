"""Queue handlers of the recipes service."""

from __future__ import annotations

from services.recipes import logic
from services.recipes.events import RECIPE_EVENTS
from services.recipes.models import Recipe
from services.recipes.store import RecipeStore, SearchIndex
from shared.events import CloudEvent
from shared.logging import get_logger
from shared.worker import QueueSubscription

log = get_logger("recipes.consumers")

CREATED = RECIPE_EVENTS.type_of("recipe.created")
UPDATED = RECIPE_EVENTS.type_of("recipe.updated")
DELETED = RECIPE_EVENTS.type_of("recipe.deleted")

# Likes do not change what a recipe is found by.
SEARCH_INDEX = QueueSubscription(
    "recipes-search-index", event_types=frozenset({CREATED, UPDATED, DELETED}),
    idempotency_table="recipes-idempotency")


class SearchIndexer:
    """Keeps the search index in step with recipe events (eventually consistent); the
    handler of `SEARCH_INDEX`."""

    def __init__(self, search: SearchIndex, store: RecipeStore) -> None:
        self.search = search
        self.store = store

    async def __call__(self, event: CloudEvent) -> None:
        recipe = Recipe.model_validate(event.data)
        if event.type == DELETED:
            # The deletion outranks every version the recipe ever had.
            await self.search.apply(recipe.id, recipe.version + 1, set())
            await self.store.forget_likes(recipe.id)
            return
        applied = await self.search.apply(recipe.id, recipe.version, logic.index_tokens(recipe))
        log.info("search.indexed", recipe_id=recipe.id, version=recipe.version, applied=applied)
