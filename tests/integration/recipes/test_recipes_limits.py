"""Server-side limits over HTTP: 422 naming the field, 413 for big bodies, 400 for garbage."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from recipes_http import create_recipe, recipe_body

PROBLEM = "application/problem+json"


def lines(n: int, text: str = "x") -> list[dict[str, str]]:
    return [{"description": text} for _ in range(n)]


def fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 422
    return {error["field"] for error in problem["errors"]}


def cursor_of(position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"title": "t" * 200}, id="title-200"),
        pytest.param({"ingredients": lines(50, "i" * 1000)}, id="50-ingredients-of-1000"),
        pytest.param({"steps": lines(30, "s" * 1000)}, id="30-steps-of-1000"),
        pytest.param({"tags": [f"{i}" * 30 for i in range(10)]}, id="10-tags-of-30"),
        pytest.param({"description": "d" * 1000, "ingredients": lines(1), "steps": lines(1)},
                     id="description-1000"),
    ],
)
async def test_bodies_at_the_limits_are_accepted(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], overrides: dict[str, Any]
) -> None:
    """Every limit is inclusive: a body exactly at it is created."""
    recipe = await create_recipe(client, headers["alice"], **overrides)
    for name, value in overrides.items():
        if name in ("ingredients", "steps"):
            assert [x["description"] for x in recipe[name]] == [x["description"] for x in value]
        else:
            assert recipe[name] == value


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"title": "t" * 201}, "title", id="title-201"),
        pytest.param({"title": ""}, "title", id="title-empty"),
        pytest.param({"title": "   "}, "title", id="title-blank"),
        pytest.param({"ingredients": []}, "ingredients", id="no-ingredients"),
        pytest.param({"ingredients": lines(51)}, "ingredients", id="51-ingredients"),
        pytest.param({"ingredients": [*lines(3), {"description": ""}]},
                     "ingredients.3.description", id="ingredient-empty"),
        pytest.param({"ingredients": lines(1, "i" * 1001)}, "ingredients.0.description",
                     id="ingredient-1001"),
        pytest.param({"steps": []}, "steps", id="no-steps"),
        pytest.param({"steps": lines(31)}, "steps", id="31-steps"),
        pytest.param({"steps": lines(1, "\n\t ")}, "steps.0.description", id="step-blank"),
        pytest.param({"steps": lines(1, "s" * 1001)}, "steps.0.description", id="step-1001"),
        pytest.param({"description": "d" * 1001}, "description", id="description-1001"),
        pytest.param({"tags": [f"t{i}" for i in range(11)]}, "tags", id="11-tags"),
        pytest.param({"tags": ["t" * 31]}, "tags.0", id="tag-31"),
        pytest.param({"tags": ["fine", ""]}, "tags.1", id="tag-empty"),
        pytest.param({"servings": 0}, "servings", id="servings-0"),
        pytest.param({"prep_minutes": "soon"}, "prep_minutes", id="prep-minutes-text"),
        pytest.param({"likes": 1_000_000}, "likes", id="likes-is-not-writable"),
        pytest.param({"author": {"id": "x", "username": "x"}}, "author",
                     id="author-is-not-writable"),
        pytest.param({"ingredients": [{"id": 9, "description": "x"}]}, "ingredients.0.id",
                     id="line-ids-are-not-writable"),
    ],
)
async def test_bodies_past_a_limit_are_422_naming_the_field(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]],
    overrides: dict[str, Any], field: str,
) -> None:
    """POST past any limit is a 422 problem whose errors[].field names the offender."""
    response = await client.post("/recipes", json=recipe_body(**overrides),
                                 headers=headers["alice"])
    assert field in fields(response)


async def test_put_is_held_to_the_same_limits(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """PUT past a limit is 422 and leaves the recipe as it was."""
    recipe = await create_recipe(client, headers["alice"])

    response = await client.put(f"/recipes/{recipe['id']}",
                                json=recipe_body(ingredients=lines(51)), headers=headers["alice"])

    assert fields(response) == {"ingredients"}
    assert (await client.get(f"/recipes/{recipe['id']}")).json() == recipe


async def test_missing_fields_are_named(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """An empty object is 422 naming every required field."""
    response = await client.post("/recipes", json={}, headers=headers["alice"])
    assert fields(response) >= {"title", "ingredients", "steps"}


def big_body() -> dict[str, Any]:
    """A body that breaks no field limit but is over 64 KiB in total."""
    document = recipe_body(ingredients=lines(50, "i" * 1000), steps=lines(30, "s" * 1000))
    assert len(json.dumps(document)) > 64 * 1024
    return document


async def test_bodies_over_64_kib_are_413(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """Over 64 KiB is 413, whether announced by Content-Length or streamed in chunks."""
    declared = await client.post("/recipes", json=big_body(), headers=headers["alice"])
    assert declared.status_code == 413
    assert declared.headers["content-type"] == PROBLEM

    payload = json.dumps(big_body()).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 8192):
            yield payload[start:start + 8192]

    streamed = await client.post(
        "/recipes", content=chunks(),
        headers={**headers["alice"], "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert "content-length" not in streamed.request.headers


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"title": "x",}', b"not json", b'{"title": "x"', b"\xff\xfe"],
)
async def test_malformed_json_is_400(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], raw: bytes
) -> None:
    """A body that is not JSON is 400 problem+json (not 422, not 500)."""
    response = await client.post(
        "/recipes", content=raw,
        headers={**headers["alice"], "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"sort": "popular"}, "sort"),
        ({"sort": "+likes"}, "sort"),
        ({"q": "w" * 201}, "q"),
        ({"tag": "t" * 31}, "tag"),
    ],
)
async def test_bad_query_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    """limit outside 1..100, an unknown sort, an over-long q or tag: 422 naming it."""
    assert fields(await client.get("/recipes", params=params)) == {field}


async def test_limit_bounds_are_inclusive(client: httpx.AsyncClient) -> None:
    """limit=1 and limit=100 are accepted; the default page holds at most 20."""
    one = await client.get("/recipes", params={"limit": 1})
    assert one.status_code == 200 and len(one.json()["items"]) <= 1
    hundred = await client.get("/recipes", params={"limit": 100})
    assert hundred.status_code == 200 and len(hundred.json()["items"]) <= 100


@pytest.mark.parametrize(
    ("params", "cursor"),
    [
        pytest.param({}, "!!!", id="not-base64"),
        pytest.param({}, "abc", id="base64-of-garbage"),
        pytest.param({}, "é", id="non-ascii"),
        pytest.param({}, cursor_of([1, 2]), id="json-but-not-an-object"),
        pytest.param({}, cursor_of({"key": 5}), id="key-not-an-object"),
        pytest.param({}, cursor_of({"key": [1]}), id="key-a-list"),
        pytest.param({}, cursor_of({"key": {"id": {"S": "x"}}}), id="key-missing-attributes"),
        pytest.param({}, cursor_of({"key": {"id": {"S": 5}, "listing": {"S": "recipe"},
                                            "created_at": {"S": "2026"}}}), id="key-value-type"),
        pytest.param({"sort": "-likes"},
                     cursor_of({"key": {"id": {"S": "x"}, "listing": {"S": "recipe"},
                                        "likes": {"S": "many"}}}), id="string-for-number"),
        pytest.param({"sort": "likes"},
                     cursor_of({"key": {"id": {"S": "x"}, "listing": {"S": "recipe"},
                                        "likes": {"N": "NaN"}}}), id="nan"),
        pytest.param({}, cursor_of({"after": ["2026", "x"]}), id="filtered-cursor-unfiltered"),
        pytest.param({"q": "soup"}, cursor_of({"key": {}}), id="unfiltered-cursor-filtered"),
        pytest.param({"q": "soup"}, cursor_of({"after": 5}), id="after-not-a-list"),
        pytest.param({"q": "soup", "sort": "likes"}, cursor_of({"after": ["2026", "x"]}),
                     id="newest-key-for-likes"),
        pytest.param({"q": "soup"}, cursor_of({"after": [None, {}]}), id="after-wrong-types"),
    ],
)
async def test_bad_cursors_are_400(
    client: httpx.AsyncClient, params: dict[str, Any], cursor: str
) -> None:
    """A cursor the service did not issue for this listing is 400, never 500."""
    response = await client.get("/recipes", params={**params, "cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_a_cursor_of_another_sort_order_is_400(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """A real next_cursor from sort=newest, replayed with sort=-likes, is refused."""
    for _ in range(2):
        await create_recipe(client, headers["alice"])
    first = (await client.get("/recipes", params={"limit": 1})).json()
    assert first["next_cursor"]

    response = await client.get("/recipes", params={"limit": 1, "sort": "-likes",
                                                    "cursor": first["next_cursor"]})

    assert response.status_code == 400


@pytest.mark.parametrize(
    "if_match",
    [b'"abc"', b'"\xb2"', b"9" * 5000, b'"1", "2"'],
    ids=["letters", "superscript-two", "5000-digits", "a-list"],
)
async def test_malformed_if_match_is_412(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], if_match: bytes
) -> None:
    """An If-Match that names no version fails the precondition; the recipe is unchanged."""
    recipe = await create_recipe(client, headers["alice"])

    response = await client.put(
        f"/recipes/{recipe['id']}", json=recipe_body(title="Changed"),
        headers=[*headers["alice"].items(), ("If-Match", if_match)],
    )

    assert response.status_code == 412, response.text
    assert (await client.get(f"/recipes/{recipe['id']}")).json() == recipe
