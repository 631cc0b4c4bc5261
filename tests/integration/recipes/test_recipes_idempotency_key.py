"""POST /recipes with Idempotency-Key: a retried create returns the first answer, never a
second recipe (the IETF httpapi draft, with Stripe's rules)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from recipes_http import recipe_body

from devkit.testing import EventTap, LocalStack, ServiceProcess, armed, eventually
from shared.aws import AwsClients
from shared.events import event_type

pytestmark = pytest.mark.integration


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"create-{uuid.uuid4()}"}


async def mine(client: httpx.AsyncClient, headers: dict[str, str]) -> set[str]:
    response = await client.get("/recipes/mine", headers=headers)
    return {r["id"] for r in response.json()["items"]}


async def test_a_retried_create_replays_the_first_answer(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """The same key and body: the same status, body and Location, marked as a replay; one
    recipe exists."""
    before = await mine(client, headers["alice"])
    h = {**headers["alice"], **key()}
    first = await client.post("/recipes", json=recipe_body(title="Once only"), headers=h)
    second = await client.post("/recipes", json=recipe_body(title="Once only"), headers=h)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await mine(client, headers["alice"]) - before == {first.json()["id"]}


async def test_the_same_key_with_another_body_is_422(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """A key names one request: reusing it for another body is refused, nothing is created."""
    h = {**headers["alice"], **key()}
    assert (await client.post("/recipes", json=recipe_body(), headers=h)).status_code == 201
    before = await mine(client, headers["alice"])
    other = await client.post("/recipes", json=recipe_body(title="Something else"), headers=h)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in other.json()["detail"]
    assert await mine(client, headers["alice"]) == before


async def test_keys_belong_to_their_caller(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """Bob's request with Alice's key is Bob's own: a new recipe, not Alice's replayed."""
    k = key()
    alices = await client.post("/recipes", json=recipe_body(), headers={**headers["alice"], **k})
    bobs = await client.post("/recipes", json=recipe_body(), headers={**headers["bob"], **k})
    assert alices.status_code == bobs.status_code == 201
    assert bobs.json()["id"] != alices.json()["id"]
    assert bobs.json()["author"]["username"] == "bob"


@pytest.mark.parametrize("bad", ["has space", "x" * 256, "tab\there"])
async def test_a_malformed_key_is_400(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], bad: str
) -> None:
    """Keys are 1..255 printable ASCII characters; anything else is a 400 problem."""
    response = await client.post("/recipes", json=recipe_body(),
                                 headers={**headers["alice"], "Idempotency-Key": bad})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_header_is_documented(client: httpx.AsyncClient) -> None:
    """OpenAPI lists Idempotency-Key on POST /recipes, with its 409 and 422."""
    operation = (await client.get("/recipes/openapi.json")).json()["paths"]["/recipes"]["post"]
    names = {p["name"] for p in operation["parameters"]}
    assert "Idempotency-Key" in names
    assert {"409", "422"} <= set(operation["responses"])


@pytest_asyncio.fixture
async def tap(aws: AwsClients, stack: LocalStack) -> AsyncIterator[EventTap]:
    async with EventTap.open(aws, stack.resources, "recipes-events") as events:
        yield events


@pytest.mark.slow
async def test_a_create_killed_after_commit_is_created_once_across_retries(
    stack: LocalStack, headers: dict[str, dict[str, str]], tap: EventTap, tmp_path: Path,
) -> None:
    """The first try dies after its commit. A retry while its key is still in progress is 409
    with Retry-After; once that expires, the retry answers 201 with the recipe the first try
    made (its id derives from the key), and recipe.created went out once."""
    env = {**stack.env, "REQUEST_KEYS_IN_PROGRESS_SECONDS": "3"}
    h = {**headers["alice"], **key()}
    body = recipe_body(title="Survives a crash")
    doomed = ServiceProcess.api("services.recipes.main:app",
                                armed(env, "recipes.create.committed"),
                                log_path=tmp_path / "doomed.log").start()
    try:
        async with httpx.AsyncClient(base_url=doomed.url, timeout=30) as http:
            with pytest.raises(httpx.TransportError):
                await http.post("/recipes", json=body, headers=h)
        assert doomed.wait(10) == -9
    finally:
        doomed.stop()
    with ServiceProcess.api("services.recipes.main:app", env,
                            log_path=tmp_path / "api.log") as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            busy = await http.post("/recipes", json=body, headers=h)
            if busy.status_code == 409:  # unless the restart outlasted the 3 s
                assert busy.headers["retry-after"] == "1"

            async def created() -> httpx.Response | None:
                response = await http.post("/recipes", json=body, headers=h)
                return response if response.status_code == 201 else None

            answer = await eventually(created, timeout=20, interval=1)
            rid = answer.json()["id"]
            assert answer.json()["title"] == "Survives a crash"
            replay = await http.post("/recipes", json=body, headers=h)
            assert replay.json()["id"] == rid and replay.headers["idempotent-replayed"] == "true"

    async def announced() -> list[dict]:
        await tap.drain()
        return [e for e in tap.about(rid) if e["type"] == event_type("recipes", "recipe.created")]

    await eventually(announced, timeout=20)
    await tap.drain(wait=2)
    assert len(await announced()) == 1
