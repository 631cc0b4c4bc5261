"""Concurrent likes and edits: the counter is exact, and If-Match lets exactly one writer win.

These run against the emulator's DynamoDB, so they hold only because the kit's emulator
serializes DynamoDB requests (see ``devkit.emulator.serialize_dynamodb``): plain moto lost and
invented likes here.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
from recipes_http import create_recipe, recipe_body

from devkit.testing import LocalStack, auth_header
from shared.aws import AwsClients

ROUNDS = 3


async def like_rows(aws: AwsClients, stack: LocalStack, rid: str) -> int:
    """How many like rows the likes table holds for a recipe (read directly)."""
    dynamodb = await aws.client("dynamodb")
    response = await dynamodb.query(
        TableName=stack.resources.table("recipe-likes"),
        KeyConditionExpression="recipe_id = :id",
        ExpressionAttributeValues={":id": {"S": rid}}, Select="COUNT", ConsistentRead=True,
    )
    return int(response["Count"])


async def likes_of(client: httpx.AsyncClient, rid: str) -> int:
    return int((await client.get(f"/recipes/{rid}")).json()["likes"])


async def toggle(client: httpx.AsyncClient, rid: str, token: str, like: bool) -> dict[str, Any]:
    method = "POST" if like else "DELETE"
    response = await client.request(method, f"/recipes/{rid}/likes", headers=auth_header(token))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_twenty_concurrent_likes_count_twenty(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], liker_tokens: list[str],
    aws: AwsClients, stack: LocalStack,
) -> None:
    """20 users liking at once give exactly 20; all liking again at once still gives 20."""
    for _ in range(ROUNDS):
        rid = (await create_recipe(client, headers["alice"]))["id"]

        first = await asyncio.gather(*(toggle(client, rid, t, True) for t in liker_tokens))

        assert all(r["liked"] for r in first)
        assert max(r["likes"] for r in first) == len(liker_tokens)
        assert await likes_of(client, rid) == len(liker_tokens)

        again = await asyncio.gather(*(toggle(client, rid, t, True) for t in liker_tokens))

        assert [r["likes"] for r in again] == [len(liker_tokens)] * len(liker_tokens)
        assert await likes_of(client, rid) == len(liker_tokens)
        assert await like_rows(aws, stack, rid) == len(liker_tokens)


async def test_concurrent_like_and_unlike_sequences_stay_consistent(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], liker_tokens: list[str],
    aws: AwsClients, stack: LocalStack,
) -> None:
    """Users toggling at once end with likes == users whose last action was a like == rows."""
    rng = random.Random(20260301)
    for _ in range(ROUNDS):
        rid = (await create_recipe(client, headers["alice"]))["id"]
        plans = [[rng.random() < 0.6 for _ in range(rng.randint(1, 4))] for _ in liker_tokens]

        async def follow(token: str, plan: list[bool], rid: str = rid) -> None:
            for like in plan:
                await toggle(client, rid, token, like)

        await asyncio.gather(*(follow(t, p) for t, p in zip(liker_tokens, plans, strict=True)))

        expected = sum(plan[-1] for plan in plans)
        assert await likes_of(client, rid) == expected
        assert await like_rows(aws, stack, rid) == expected


async def test_likes_survive_concurrent_edits(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], liker_tokens: list[str],
) -> None:
    """Edits (no If-Match) racing 20 likes lose no like, and every edit succeeds."""
    for _ in range(ROUNDS):
        rid = (await create_recipe(client, headers["alice"]))["id"]
        edits = [client.put(f"/recipes/{rid}", json=recipe_body(title=f"Edit {i}"),
                            headers=headers["alice"]) for i in range(5)]

        results = await asyncio.gather(
            *(toggle(client, rid, t, True) for t in liker_tokens), *edits
        )

        assert [r.status_code for r in results[len(liker_tokens):]] == [200] * 5
        recipe = (await client.get(f"/recipes/{rid}")).json()
        assert recipe["likes"] == len(liker_tokens)
        assert recipe["version"] == 6


async def test_conflicting_puts_with_one_if_match_let_exactly_one_win(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """Racing PUTs carrying the same If-Match: exactly one 200, the others 412."""
    rid = (await create_recipe(client, headers["alice"]))["id"]
    for round_ in range(ROUNDS):
        current = await client.get(f"/recipes/{rid}")
        etag, version = current.headers["etag"], current.json()["version"]
        writers = 2 if round_ < ROUNDS - 1 else 4

        responses = await asyncio.gather(*(
            client.put(f"/recipes/{rid}", json=recipe_body(title=f"Round {round_} writer {w}"),
                       headers={**headers["alice"], "If-Match": etag})
            for w in range(writers)
        ))

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [412] * (writers - 1), [r.text for r in responses]
        (winner,) = [r.json() for r in responses if r.status_code == 200]
        after = (await client.get(f"/recipes/{rid}")).json()
        assert after["version"] == version + 1
        assert after["title"] == winner["title"]
