"""DynamoDB access for recipes, their likes and the search index."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.recipes.events import RECIPE_EVENTS
from services.recipes.models import Recipe, RecipeSort
from shared.dynamo import (
    all_items,
    batch_get,
    batch_write,
    condition_failed,
    from_item,
    id_key,
    query_page,
    start_key,
    to_item,
    to_value,
)
from shared.errors import ConflictError, NotFoundError, PreconditionFailedError, RetryableError
from shared.events import CloudEvent
from shared.outbox import Outbox

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import TransactWriteItemTypeDef


class SearchIndexBusyError(RetryableError):
    """Another worker is indexing the same recipe; the message is retried later."""

# Read-check-write rounds before a write that keeps losing its race gives up (409).
OPTIMISTIC_ATTEMPTS = 5
LIKE_ATTEMPTS = 30  # many people may like one recipe at the same moment

LISTING = "recipe"  # the single partition of the listing indexes
INDEX_KEYS = {  # key attribute -> DynamoDB type, per index
    "by-newest": {"id": "S", "listing": "S", "created_at": "S"},
    "by-likes": {"id": "S", "listing": "S", "likes": "N"},
    "by-author": {"id": "S", "author_id": "S", "created_at": "S"},
}
# What PUT replaces; identity, author, likes and created_at stay as they are.
CONTENT_FIELDS = ("title", "description", "ingredients", "steps", "tags", "servings",
                  "prep_minutes", "updated_at")


def _recipe_item(recipe: Recipe) -> dict[str, Any]:
    document = recipe.model_dump(mode="json")
    document |= {"listing": LISTING, "author_id": recipe.author.id}
    return to_item(document)


def _recipe(item: dict[str, Any]) -> Recipe:
    return Recipe.model_validate(from_item(item))


def _key(recipe_id: str) -> dict[str, Any]:
    return id_key(recipe_id, "recipe")


class RecipeStore:
    """Recipes and likes, in the service's own tables."""

    def __init__(self, dynamodb: DynamoDBClient, *, recipes_table: str, likes_table: str,
                 outbox: Outbox) -> None:
        self.dynamodb = dynamodb
        self.recipes_table = recipes_table
        self.likes_table = likes_table
        self.outbox = outbox

    async def get(self, recipe_id: str) -> Recipe:
        """The recipe, or NotFoundError."""
        response = await self.dynamodb.get_item(TableName=self.recipes_table, Key=_key(recipe_id))
        if "Item" not in response:
            raise NotFoundError(f"recipe {recipe_id} does not exist")
        return _recipe(response["Item"])

    async def get_many(self, recipe_ids: list[str]) -> list[Recipe]:
        """The recipes that exist among ``recipe_ids`` (BatchGetItem, any order)."""
        found = await batch_get(self.dynamodb,
                                {self.recipes_table: [{"id": {"S": i}} for i in recipe_ids]})
        return [_recipe(i) for i in found[self.recipes_table]]

    async def create(self, recipe: Recipe) -> Recipe:
        """Store a new recipe, ``recipe.created`` with it; returns the stored recipe.

        When a recipe with this id exists already and has the same author, the request that
        named the id (an Idempotency-Key's) created it before: that recipe is returned, and
        nothing is written or announced twice. Another author's id is a ConflictError.
        """
        try:
            await self.outbox.commit(
                [{"Put": {"TableName": self.recipes_table, "Item": _recipe_item(recipe),
                          "ConditionExpression": "attribute_not_exists(id)"}}],
                [RECIPE_EVENTS.event("recipe.created", recipe, subject=recipe.id)],
                fault="recipes.create.committed")
        except ClientError as exc:
            if not condition_failed(exc, 0):
                raise
            existing = await self.get(recipe.id)
            if existing.author.id != recipe.author.id:
                raise ConflictError(f"recipe {recipe.id} exists already") from None
            return existing
        return recipe

    async def replace(self, recipe_id: str, change: Callable[[Recipe], Recipe], *,
                      expected_version: int | None = None) -> Recipe:
        """Replace a recipe's content with ``change(current)``; ``recipe.updated`` leaves with it.

        Only the content fields and the version are written: a whole-item put would write back
        the likes counter as read, losing every like that landed in between. The write is
        conditional on the version read, so the event carries exactly what was stored; a
        concurrent change makes it read again (last writer wins), unless ``expected_version``
        (If-Match) was given: then PreconditionFailedError. NotFoundError if the recipe does
        not exist (never an upsert).
        """
        for _ in range(OPTIMISTIC_ATTEMPTS):
            current = await self.get(recipe_id)
            if expected_version is not None and expected_version != current.version:
                raise PreconditionFailedError(
                    f"If-Match is version {expected_version}, "
                    f"the recipe is at version {current.version}")
            recipe = change(current)
            content = recipe.model_dump(mode="json", include=set(CONTENT_FIELDS))
            names = {f"#{name}": name for name in (*content, "version")}
            values = {f":{k}": to_value(v) for k, v in content.items() if v is not None}
            values |= {":version": to_value(recipe.version), ":read": to_value(current.version)}
            expression = "SET " + ", ".join(
                [f"#{k} = :{k}" for k, v in content.items() if v is not None]
                + ["#version = :version"])
            if absent := [f"#{k}" for k, v in content.items() if v is None]:
                expression += " REMOVE " + ", ".join(absent)
            update: TransactWriteItemTypeDef = {"Update": {
                "TableName": self.recipes_table, "Key": _key(recipe_id),
                "UpdateExpression": expression,
                "ConditionExpression": "attribute_exists(id) AND #version = :read",
                "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}
            updated = RECIPE_EVENTS.event("recipe.updated", recipe, subject=recipe.id)
            if await self._committed([update], updated, fault="recipes.update.committed"):
                return recipe
        raise ConflictError("the recipe keeps changing; try again")

    async def delete(self, recipe_id: str, check: Callable[[Recipe], None]) -> Recipe:
        """Delete a recipe once ``check(current)`` passes; ``recipe.deleted`` leaves with it.

        Conditional on the version read, so the event names the version that was deleted.
        NotFoundError if it is already gone.
        """
        for _ in range(OPTIMISTIC_ATTEMPTS):
            current = await self.get(recipe_id)
            check(current)
            delete: TransactWriteItemTypeDef = {"Delete": {
                "TableName": self.recipes_table, "Key": _key(recipe_id),
                "ConditionExpression": "attribute_exists(id) AND #version = :read",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":read": to_value(current.version)}}}
            deleted = RECIPE_EVENTS.event("recipe.deleted", current, subject=current.id)
            if await self._committed([delete], deleted, fault="recipes.delete.committed"):
                return current
        raise ConflictError("the recipe keeps changing; try again")

    async def _committed(self, writes: list[TransactWriteItemTypeDef], event: CloudEvent, *,
                         fault: str) -> bool:
        """Commit ``writes`` with ``event``; False if the item changed since it was read."""
        try:
            await self.outbox.commit(writes, [event], fault=fault)
        except ClientError as exc:
            if condition_failed(exc, 0):
                return False
            raise
        return True

    async def list_page(
        self, sort: RecipeSort, *, limit: int, after: dict[str, Any] | None
    ) -> tuple[list[Recipe], dict[str, Any] | None]:
        """One page of all recipes in ``sort`` order, from a listing index (no scan)."""
        index = "by-newest" if sort is RecipeSort.newest else "by-likes"
        key = start_key(after, INDEX_KEYS[index])
        return await self._query(
            index,
            "listing = :listing",
            {":listing": {"S": LISTING}},
            forward=sort is RecipeSort.likes,
            limit=limit,
            after=key,
        )

    async def by_author(self, author_id: str, *, cap: int) -> list[Recipe]:
        """Up to ``cap`` recipes of one author, newest first."""
        recipes: list[Recipe] = []
        after = None
        while len(recipes) < cap:
            page, after = await self._query(
                "by-author", "author_id = :author", {":author": {"S": author_id}},
                forward=False, limit=min(100, cap - len(recipes)), after=after,
            )
            recipes += page
            if after is None:
                break
        return recipes

    async def _query(
        self, index: str, condition: str, values: dict[str, Any], *,
        forward: bool, limit: int, after: dict[str, Any] | None,
    ) -> tuple[list[Recipe], dict[str, Any] | None]:
        request: dict[str, Any] = {
            "TableName": self.recipes_table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
            "Limit": limit,
        }
        items, last_key = await query_page(self.dynamodb, request, after)
        return [_recipe(i) for i in items], last_key

    async def like(self, recipe_id: str, user_id: str) -> tuple[int, bool]:
        """Add ``user_id``'s like once; returns (likes, changed)."""
        return await self._toggle(recipe_id, user_id, like=True)

    async def unlike(self, recipe_id: str, user_id: str) -> tuple[int, bool]:
        """Remove ``user_id``'s like if present; returns (likes, changed)."""
        return await self._toggle(recipe_id, user_id, like=False)

    async def _toggle(self, recipe_id: str, user_id: str, *, like: bool) -> tuple[int, bool]:
        # One transaction: the like row, the counter and the event move together or not at all.
        #   [0] like row    Put if absent (like) / Delete if present (unlike)
        #   [1] recipe      ADD likes +-1, only if the recipe exists and the count is as read
        #   [2] outbox      recipe.liked / recipe.unliked with the new count
        # Cancelled on [0] means "already in that state": a no-op, not an error. On [1] the
        # recipe is gone (404) or another like moved the count first: read it again.
        key = {"recipe_id": {"S": recipe_id}, "user_id": {"S": user_id}}
        row: TransactWriteItemTypeDef
        if like:
            row = {"Put": {"TableName": self.likes_table, "Item": key,
                           "ConditionExpression": "attribute_not_exists(user_id)"}}
        else:
            row = {"Delete": {"TableName": self.likes_table, "Key": key,
                              "ConditionExpression": "attribute_exists(user_id)"}}
        delta = 1 if like else -1
        for attempt in range(LIKE_ATTEMPTS):
            seen = (await self.get(recipe_id)).likes
            counter: TransactWriteItemTypeDef = {"Update": {
                "TableName": self.recipes_table,
                "Key": _key(recipe_id),
                "UpdateExpression": "ADD likes :delta",
                "ConditionExpression": "attribute_exists(id) AND likes = :seen",
                "ExpressionAttributeValues": {":delta": to_value(delta), ":seen": to_value(seen)},
            }}
            event = RECIPE_EVENTS.event("recipe.liked" if like else "recipe.unliked",
                                        {"id": recipe_id, "likes": seen + delta},
                                        subject=recipe_id)
            try:
                await self.outbox.commit([row, counter], [event],
                                         fault=f"recipes.{'like' if like else 'unlike'}.committed")
            except ClientError as exc:
                if condition_failed(exc, 0):
                    return (await self.get(recipe_id)).likes, False
                if condition_failed(exc, 1):
                    # Full jitter keeps many likers of one recipe from colliding in lockstep.
                    await asyncio.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))
                    continue
                raise
            return seen + delta, True
        raise ConflictError("the recipe's likes keep changing; try again")

    async def likers(self, recipe_id: str) -> list[str]:
        """Ids of the users who like a recipe."""
        items = await all_items(self.dynamodb.query, {
            "TableName": self.likes_table,
            "KeyConditionExpression": "recipe_id = :id",
            "ExpressionAttributeValues": {":id": {"S": recipe_id}},
            "ProjectionExpression": "user_id",
        })
        return [i["user_id"]["S"] for i in items]

    async def has_liked(self, recipe_id: str, user_id: str) -> bool:
        response = await self.dynamodb.get_item(
            TableName=self.likes_table,
            Key={"recipe_id": {"S": recipe_id}, "user_id": {"S": user_id}},
        )
        return "Item" in response

    async def forget_likes(self, recipe_id: str) -> None:
        """Delete the like rows of a deleted recipe."""
        await batch_write(self.dynamodb, {self.likes_table: [
            {"DeleteRequest": {"Key": {"recipe_id": {"S": recipe_id}, "user_id": {"S": u}}}}
            for u in await self.likers(recipe_id)
        ]})


class SearchIndex:
    """Token -> recipe ids, kept by the search-index consumer from recipe events.

    Beside the token rows, one ``doc:<id>`` row per recipe remembers its tokens and the
    version they came from, so updates remove stale tokens and late events are ignored.
    """

    def __init__(self, dynamodb: DynamoDBClient, table: str, *, lock_seconds: float = 10.0) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.lock_seconds = lock_seconds

    async def matching(self, tokens: set[str], *, cap: int) -> set[str]:
        """Ids of recipes that have every token (empty set if any token matches nothing)."""
        result: set[str] | None = None
        # Fewest matches first would be ideal; sorted order keeps queries deterministic.
        for token in sorted(tokens):
            ids = await self._ids(token, cap)
            result = ids if result is None else result & ids
            if not result:
                return set()
        return result or set()

    async def _ids(self, token: str, cap: int) -> set[str]:
        items = await all_items(self.dynamodb.query, {
            "TableName": self.table,
            "KeyConditionExpression": "#token = :token",
            "ExpressionAttributeNames": {"#token": "token"},
            "ExpressionAttributeValues": {":token": {"S": token}},
            "ProjectionExpression": "recipe_id",
        }, cap=cap)
        return {i["recipe_id"]["S"] for i in items}

    async def apply(self, recipe_id: str, version: int, tokens: set[str]) -> bool:
        """Index ``tokens`` for version ``version`` of a recipe (empty set = deleted).

        Returns False when a newer version is already indexed (a late or repeated event).
        One recipe is indexed by one worker at a time: its ``doc:`` row doubles as a lock,
        taken by a conditional write and given back by the write that records the version.
        Two versions indexed at once would each remove the rows the other one wrote;
        SearchIndexBusyError makes the second wait for its message's next delivery. A worker
        that dies holding the lock holds it no longer than ``lock_seconds``; the tokens it was
        writing are recorded with the lock (``writing``), so the next version removes the rows
        such a worker left. A busy index is waited for here (up to the lock's lifetime), not
        handed back to the queue, where every try would count towards the DLQ.
        """
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self.lock_seconds + 2
        while True:
            try:
                doc = await self._lock(recipe_id, owner, tokens)
                break
            except SearchIndexBusyError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(random.uniform(0.1, 0.5))
        if doc.get("version", 0) >= version:
            await self._unlock(recipe_id, owner)
            return False
        # Rows of the recorded version exist; a dead holder's may or may not.
        recorded = set(doc.get("tokens", []))
        maybe = recorded | set(doc.get("writing", []))
        key = {"recipe_id": {"S": recipe_id}}
        await batch_write(self.dynamodb, {self.table: [
            {"DeleteRequest": {"Key": {"token": {"S": t}, **key}}} for t in maybe - tokens
        ] + [
            {"PutRequest": {"Item": {"token": {"S": t}, **key}}} for t in tokens - recorded
        ]})
        doc_item = to_item({"token": f"doc:{recipe_id}", "recipe_id": recipe_id,
                            "version": version, "tokens": sorted(tokens)})
        try:  # replacing the row drops the lock with it
            await self.dynamodb.put_item(
                TableName=self.table, Item=doc_item,
                ConditionExpression="lock_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}})
        except ClientError as exc:
            if condition_failed(exc):
                raise SearchIndexBusyError(
                    f"recipe {recipe_id}: the index lock expired while version {version} "
                    "was written") from None
            raise
        return True

    async def _lock(self, recipe_id: str, owner: str,
                    tokens: set[str] | None = None) -> dict[str, Any]:
        """Take the recipe's index lock; the doc row as it was (its ``writing`` names what a
        holder that died was writing)."""
        now = time.time()
        try:
            response = await self.dynamodb.update_item(
                TableName=self.table, Key=self._doc_key(recipe_id),
                UpdateExpression="SET lock_owner = :owner, lock_until = :until, writing = :tokens",
                ConditionExpression="attribute_not_exists(lock_until) OR lock_until < :now",
                ExpressionAttributeValues={":owner": {"S": owner},
                                           ":until": to_value(now + self.lock_seconds),
                                           ":now": to_value(now),
                                           ":tokens": to_value(sorted(tokens or ()))},
                ReturnValues="ALL_OLD")
        except ClientError as exc:
            if condition_failed(exc):
                raise SearchIndexBusyError(
                    f"recipe {recipe_id} is being indexed by another worker") from None
            raise
        return from_item(response.get("Attributes", {}))

    async def _unlock(self, recipe_id: str, owner: str) -> None:
        with contextlib.suppress(ClientError):  # taken over meanwhile: not ours to release
            await self.dynamodb.update_item(
                TableName=self.table, Key=self._doc_key(recipe_id),
                UpdateExpression="REMOVE lock_owner, lock_until, writing",
                ConditionExpression="lock_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}})

    @staticmethod
    def _doc_key(recipe_id: str) -> dict[str, Any]:
        return {"token": {"S": f"doc:{recipe_id}"}, "recipe_id": {"S": recipe_id}}
