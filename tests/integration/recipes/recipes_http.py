"""Helpers the recipes integration tests share: bodies, unique words, listing walks."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


def unique_word() -> str:
    """A word no other recipe contains (hex never ends in "s", so stemming leaves it alone)."""
    return f"zq{uuid.uuid4().hex[:12]}"


def recipe_body(**overrides: Any) -> dict[str, Any]:
    """A valid POST/PUT body; keyword arguments replace fields."""
    document: dict[str, Any] = {
        "title": "Weeknight tomato soup",
        "description": "Quick and warming.",
        "ingredients": [{"description": "6 ripe tomatoes"}, {"description": "1 onion"}],
        "steps": [{"description": "Chop everything."}, {"description": "Simmer 20 minutes."}],
        "tags": ["soup"],
        "servings": 4,
        "prep_minutes": 30,
    }
    return document | overrides


async def create_recipe(http: httpx.AsyncClient, headers: dict[str, str],
                        **overrides: Any) -> dict[str, Any]:
    """POST a recipe and return it (asserting the 201)."""
    response = await http.post("/recipes", json=recipe_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def listing(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every recipe a GET /recipes listing returns, in order, following cursors to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await http.get("/recipes", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def search_ids(http: httpx.AsyncClient, **params: Any) -> list[str]:
    """Ids of every recipe a listing returns, in order."""
    return [recipe["id"] for recipe in await listing(http, **params)]
