"""Every change publishes the right CloudEvent on recipes-events; no-ops and refusals publish none.

A test queue subscribes to the topic with raw delivery, as the platform's own queues do.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest_asyncio
from recipes_http import create_recipe, recipe_body

from devkit.testing import EventTap, LocalStack, eventually
from shared.aws import AwsClients
from shared.events import event_type

SOURCE = "regatta/recipes"


@pytest_asyncio.fixture(scope="module")
async def tap(aws: AwsClients, stack: LocalStack) -> AsyncIterator[EventTap]:
    async with EventTap.open(aws, stack.resources, "recipes-events") as events:
        yield events


async def test_each_change_publishes_one_cloud_event(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], tap: EventTap
) -> None:
    """create, update, like, unlike, delete: one event each, with the right type and data."""
    request_id = uuid.uuid4().hex
    created = await create_recipe(client, {**headers["alice"], "X-Request-Id": request_id})
    rid = created["id"]
    updated = (await client.put(f"/recipes/{rid}", json=recipe_body(title="Renamed"),
                                headers=headers["alice"])).json()
    liked = await client.post(f"/recipes/{rid}/likes", headers=headers["bob"])
    unliked = await client.delete(f"/recipes/{rid}/likes", headers=headers["bob"])
    deleted = await client.delete(f"/recipes/{rid}", headers=headers["admin"])
    assert [r.status_code for r in (liked, unliked, deleted)] == [200, 200, 204]

    async def all_five() -> bool:
        await tap.drain()
        assert len(tap.about(rid)) >= 5, tap.about(rid)
        return True

    await eventually(all_five)
    await tap.drain()
    events = {e["type"].split(".")[-2]: e for e in tap.about(rid)}
    assert sorted(e["type"] for e in tap.about(rid)) == sorted(
        event_type("recipes", f"recipe.{x}")
        for x in ("created", "updated", "liked", "unliked", "deleted")
    )
    assert events["created"]["data"] == created
    assert events["updated"]["data"] == updated
    assert events["liked"]["data"] == {"id": rid, "likes": 1}
    assert events["unliked"]["data"] == {"id": rid, "likes": 0}
    assert events["deleted"]["data"]["id"] == rid
    assert events["deleted"]["data"]["version"] == 2
    assert events["created"]["correlationid"] == request_id
    for event in events.values():
        assert event["specversion"] == "1.0"
        assert event["source"] == SOURCE
        assert event["subject"] == rid
        assert event["datacontenttype"] == "application/json"
        datetime.fromisoformat(event["time"])
        uuid.UUID(event["id"])
    assert len({e["id"] for e in events.values()}) == 5


async def test_type_rides_along_as_a_message_attribute(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], tap: EventTap
) -> None:
    """The event type is also an SNS message attribute, so subscriptions can filter on it."""
    rid = (await create_recipe(client, headers["alice"]))["id"]

    async def arrived() -> list[dict[str, Any]]:
        await tap.drain()
        return [attrs for event, attrs in tap.received if event.get("subject") == rid]

    (attributes,) = await eventually(arrived)
    assert attributes["type"]["StringValue"] == event_type("recipes", "recipe.created")


async def test_no_ops_and_refusals_publish_nothing(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], tap: EventTap
) -> None:
    """A repeated like or unlike, a 403, a 412, a 404 and a 422 publish no event."""
    rid = (await create_recipe(client, headers["alice"]))["id"]
    await client.post(f"/recipes/{rid}/likes", headers=headers["bob"])
    responses = [
        await client.post(f"/recipes/{rid}/likes", headers=headers["bob"]),
        await client.delete(f"/recipes/{rid}/likes", headers=headers["admin"]),
        await client.put(f"/recipes/{rid}", json=recipe_body(), headers=headers["bob"]),
        await client.delete(f"/recipes/{rid}", headers=headers["bob"]),
        await client.put(f"/recipes/{rid}", json=recipe_body(),
                         headers={**headers["alice"], "If-Match": '"9"'}),
        await client.put(f"/recipes/{rid}", json=recipe_body(title=""),
                         headers=headers["alice"]),
        await client.put(f"/recipes/{uuid.uuid4()}", json=recipe_body(),
                         headers=headers["alice"]),
    ]
    assert [r.status_code for r in responses] == [200, 200, 403, 403, 412, 422, 404]

    assert [e["type"] for e in await tap.settled(rid, 2)] == [
        event_type("recipes", "recipe.created"), event_type("recipes", "recipe.liked"),
    ]
