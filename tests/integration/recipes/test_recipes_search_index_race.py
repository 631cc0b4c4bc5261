"""The search index converges on a recipe's latest version when versions race.

Versions of one recipe indexed at the same moment used to delete each other's token rows
(each removed the rows its own read of the index called stale), leaving a recipe unfindable
by words it has, or findable by words it lost. One worker indexes a recipe at a time now.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from devkit.testing import LocalStack
from services.recipes.store import SearchIndex, SearchIndexBusyError
from shared.aws import AwsClients

pytestmark = pytest.mark.integration


async def rows_of(dynamodb, table: str, recipe_id: str) -> set[str]:
    items = (await dynamodb.scan(TableName=table))["Items"]
    return {i["token"]["S"] for i in items
            if i["recipe_id"]["S"] == recipe_id and not i["token"]["S"].startswith("doc:")}


async def apply_until_done(index: SearchIndex, recipe_id: str, version: int,
                           tokens: set[str]) -> bool:
    """Apply as the worker would across deliveries: a busy index is tried again later."""
    while True:
        try:
            return await index.apply(recipe_id, version, tokens)
        except SearchIndexBusyError:
            await asyncio.sleep(random.uniform(0.01, 0.05))


async def test_racing_versions_leave_exactly_the_latest_tokens(
    aws: AwsClients, stack: LocalStack
) -> None:
    """Eight versions of a recipe with overlapping token sets, indexed concurrently and in
    random order, ten times over: the rows end as the highest version's tokens, exactly."""
    dynamodb = await aws.client("dynamodb")
    table = stack.resources.table("recipe-search")
    index = SearchIndex(dynamodb, table)
    rng = random.Random(12)
    vocabulary = [f"w{n}" for n in range(12)]
    for _ in range(10):
        recipe_id = str(uuid.uuid4())
        versions = {v: set(rng.sample(vocabulary, rng.randint(1, 8))) for v in range(1, 9)}
        order = list(versions)
        rng.shuffle(order)
        await asyncio.gather(*(apply_until_done(index, recipe_id, v, versions[v])
                               for v in order))
        assert await rows_of(dynamodb, table, recipe_id) == versions[8]


async def test_a_lock_left_by_a_dead_worker_expires_and_its_rows_are_cleaned(
    aws: AwsClients, stack: LocalStack
) -> None:
    """A worker that took a recipe's index lock, wrote a token row and died: while its lock
    lasts, indexing waits and then reports busy; once it expires, the next version indexes
    the recipe and removes the row the dead worker left."""
    dynamodb = await aws.client("dynamodb")
    table = stack.resources.table("recipe-search")
    recipe_id = str(uuid.uuid4())
    dead = SearchIndex(dynamodb, table, lock_seconds=4)
    await dead._lock(recipe_id, "a-worker-that-died", {"stale", "soup"})
    await dynamodb.put_item(TableName=table, Item={"token": {"S": "stale"},
                                                   "recipe_id": {"S": recipe_id}})
    impatient = SearchIndex(dynamodb, table, lock_seconds=0.1)  # waits about 2 s
    with pytest.raises(SearchIndexBusyError):
        await impatient.apply(recipe_id, 1, {"soup"})
    index = SearchIndex(dynamodb, table)  # waits up to 12 s: past the dead worker's lock
    assert await index.apply(recipe_id, 1, {"soup"})
    assert await rows_of(dynamodb, table, recipe_id) == {"soup"}
    assert not await index.apply(recipe_id, 1, {"soup"})  # a repeated event changes nothing
