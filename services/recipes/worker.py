"""The recipes worker process: ``python -m services.recipes.worker``."""

from __future__ import annotations

from services.recipes.consumers import SEARCH_INDEX, SearchIndexer
from services.recipes.container import build_container
from services.recipes.settings import RecipesSettings
from shared.aws import AwsClients
from shared.relay import outbox_relay
from shared.topology import Resources
from shared.worker import Runner, consumer, serve


async def build(aws: AwsClients, resources: Resources) -> list[Runner]:
    container = await build_container(aws, resources)
    indexer = SearchIndexer(container.search, container.store)
    return [await consumer(aws, resources, SEARCH_INDEX, indexer),
            await outbox_relay(aws, resources, "recipes")]


if __name__ == "__main__":
    serve(RecipesSettings.load(), "recipes", build)
