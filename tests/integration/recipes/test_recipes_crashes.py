"""A process killed right after a write commits loses no event, and nothing is doubled.

Each write route runs on an API process armed to die by SIGKILL at its commit fault point
(shared.faults): the client gets no answer, yet the change is committed and its event reaches
recipes-events through the outbox relay. A relay killed between publishing and retiring
publishes again after restart: the same event id, applied once by the search index.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from recipes_http import create_recipe, recipe_body, search_ids, unique_word

from devkit.testing import EventTap, LocalStack, ServiceProcess, armed, eventually
from shared.aws import AwsClients
from shared.events import event_type

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Write = Callable[[httpx.AsyncClient, str, dict[str, str]], Awaitable[httpx.Response]]


@pytest_asyncio.fixture(scope="module")
async def tap(aws: AwsClients, stack: LocalStack) -> AsyncIterator[EventTap]:
    async with EventTap.open(aws, stack.resources, "recipes-events") as events:
        yield events


def _update(http: httpx.AsyncClient, rid: str, h: dict[str, str]) -> Awaitable[httpx.Response]:
    return http.put(f"/recipes/{rid}", json=recipe_body(title="After the crash"), headers=h)


WRITES: dict[str, tuple[str, str, Write]] = {
    # route: (fault point, event name, the request against an existing recipe)
    "update": ("recipes.update.committed", "recipe.updated", _update),
    "delete": ("recipes.delete.committed", "recipe.deleted",
               lambda http, rid, h: http.delete(f"/recipes/{rid}", headers=h)),
    "like": ("recipes.like.committed", "recipe.liked",
             lambda http, rid, h: http.post(f"/recipes/{rid}/likes", headers=h)),
}


async def _dies(request: Awaitable[httpx.Response], api: ServiceProcess) -> None:
    with pytest.raises(httpx.TransportError):
        await request
    assert api.wait(10) == -9, "the armed process did not die at its fault point"


async def _one_event(tap: EventTap, rid: str, name: str) -> dict:
    async def arrived() -> list[dict]:
        await tap.drain()
        return [e for e in tap.about(rid) if e["type"] == event_type("recipes", name)]

    (event,) = await eventually(arrived, timeout=20)
    return event


async def test_create_killed_after_commit_still_announces_the_recipe(
    stack: LocalStack, client: httpx.AsyncClient, headers: dict[str, dict[str, str]],
    tap: EventTap, tmp_path: Path,
) -> None:
    """POST /recipes dies after its commit: the recipe exists, recipe.created arrives once,
    and the search index (fed by that event) finds it."""
    word = unique_word()
    api = ServiceProcess.api("services.recipes.main:app",
                             armed(stack.env, "recipes.create.committed"),
                             log_path=tmp_path / "api.log").start()
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            await _dies(http.post("/recipes", json=recipe_body(title=f"Soup {word}"),
                                  headers=headers["alice"]), api)
    finally:
        api.stop()

    async def indexed() -> list[str]:
        return await search_ids(client, q=word)

    (rid,) = await eventually(indexed, timeout=20)
    assert (await client.get(f"/recipes/{rid}")).status_code == 200
    event = await _one_event(tap, rid, "recipe.created")
    assert event["data"]["title"] == f"Soup {word}"


@pytest.mark.parametrize("route", sorted(WRITES))
async def test_write_killed_after_commit_still_publishes(
    route: str, stack: LocalStack, client: httpx.AsyncClient,
    headers: dict[str, dict[str, str]], tap: EventTap, tmp_path: Path,
) -> None:
    """PUT, DELETE and like die after their commit: the change holds and its event arrives."""
    point, name, write = WRITES[route]
    rid = (await create_recipe(client, headers["alice"]))["id"]
    api = ServiceProcess.api("services.recipes.main:app", armed(stack.env, point),
                             log_path=tmp_path / "api.log").start()
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            await _dies(write(http, rid, headers["alice"]), api)
    finally:
        api.stop()
    event = await _one_event(tap, rid, name)
    current = await client.get(f"/recipes/{rid}")
    if route == "delete":
        assert current.status_code == 404 and event["data"]["version"] == 1
    elif route == "update":
        assert current.json()["title"] == "After the crash" == event["data"]["title"]
        assert event["data"]["version"] == current.json()["version"] == 2
    else:
        assert current.json()["likes"] == 1 and event["data"] == {"id": rid, "likes": 1}


async def test_unlike_killed_after_commit_still_publishes(
    stack: LocalStack, client: httpx.AsyncClient, headers: dict[str, dict[str, str]],
    tap: EventTap, tmp_path: Path,
) -> None:
    """DELETE .../likes dies after its commit: the like is gone and recipe.unliked arrives."""
    rid = (await create_recipe(client, headers["alice"]))["id"]
    assert (await client.post(f"/recipes/{rid}/likes", headers=headers["bob"])).status_code == 200
    api = ServiceProcess.api("services.recipes.main:app",
                             armed(stack.env, "recipes.unlike.committed"),
                             log_path=tmp_path / "api.log").start()
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            await _dies(http.delete(f"/recipes/{rid}/likes", headers=headers["bob"]), api)
    finally:
        api.stop()
    event = await _one_event(tap, rid, "recipe.unliked")
    assert event["data"] == {"id": rid, "likes": 0}
    assert (await client.get(f"/recipes/{rid}")).json()["likes"] == 0


async def test_relay_killed_between_publish_and_retire_publishes_again(
    stack: LocalStack, headers: dict[str, dict[str, str]], tap: EventTap, tmp_path: Path,
) -> None:
    """A relay that dies after SNS took a batch, before deleting it from the outbox, publishes
    it again when restarted: the same event id twice, never a lost event; the consumer (the
    search index) applies it once."""
    logs = tmp_path
    word = unique_word()
    with ServiceProcess.api("services.recipes.main:app", stack.env,
                            log_path=logs / "api.log") as api:
        # A second worker whose relay dies at its first publish; the session's worker relays
        # too, so stop nothing: whichever relay holds the lease, one of them must publish.
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            doomed = ServiceProcess.worker(
                "services.recipes.worker", armed(stack.env, "outbox.relay.published"),
                log_path=logs / "doomed.log").start()
            try:
                rid = (await create_recipe(http, headers["alice"], title=f"Stew {word}"))["id"]
                event = await _one_event(tap, rid, "recipe.created")
                assert event["data"]["id"] == rid
            finally:
                doomed.stop()
            ids = await eventually(lambda: search_ids(http, q=word), timeout=20)
            assert ids == [rid]
