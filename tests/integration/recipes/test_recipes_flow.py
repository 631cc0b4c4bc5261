"""The recipes lifecycle over HTTP: create, read, list, search, sort, page, like, edit, delete.

Search goes through the index the recipes worker keeps from recipe events, so every search
assertion waits with ``eventually``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from recipes_http import create_recipe, listing, recipe_body, search_ids, unique_word

from devkit.testing import LocalStack, eventually, read_all
from shared.aws import AwsClients

SEARCH_TIMEOUT = 15.0


async def all_recipe_ids(aws: AwsClients, stack: LocalStack) -> set[str]:
    """Every recipe id in the table, read directly (a test may scan; the service may not)."""
    dynamodb = await aws.client("dynamodb")
    items = await read_all(dynamodb.scan, TableName=stack.resources.table("recipes"),
                           ProjectionExpression="id")
    return {item["id"]["S"] for item in items}


async def found(http: httpx.AsyncClient, expected: list[str], **params: Any) -> None:
    """Wait until a search returns exactly ``expected`` (as a set)."""

    async def check() -> bool:
        ids = await search_ids(http, **params)
        assert sorted(ids) == sorted(expected), (params, ids)
        return True

    await eventually(check, timeout=SEARCH_TIMEOUT)


async def test_create_returns_201_location_and_the_full_recipe(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], subs: dict[str, str]
) -> None:
    """POST answers 201 with Location, ETag and the whole recipe the server completed."""
    response = await client.post("/recipes", json=recipe_body(tags=["Soup", "soup", "Quick"]),
                                 headers=headers["alice"])

    assert response.status_code == 201, response.text
    recipe = response.json()
    assert str(uuid.UUID(recipe["id"])) == recipe["id"]
    assert response.headers["location"] == f"/recipes/{recipe['id']}"
    assert response.headers["etag"] == '"1"'
    assert recipe["author"] == {"id": subs["alice"], "username": "alice"}
    assert (recipe["likes"], recipe["version"]) == (0, 1)
    assert recipe["ingredients"] == [{"id": 1, "description": "6 ripe tomatoes"},
                                     {"id": 2, "description": "1 onion"}]
    assert [s["id"] for s in recipe["steps"]] == [1, 2]
    assert recipe["tags"] == ["soup", "quick"]
    assert recipe["created_at"] == recipe["updated_at"]
    datetime.fromisoformat(recipe["created_at"])

    got = await client.get(response.headers["location"])
    assert got.status_code == 200
    assert got.json() == recipe
    assert got.headers["etag"] == '"1"'


async def test_a_new_recipe_heads_the_public_listing(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """Anonymous GET /recipes lists newest first, with the new recipe on the first page."""
    recipe = await create_recipe(client, headers["alice"])

    response = await client.get("/recipes")

    assert response.status_code == 200
    page = response.json()
    assert set(page) == {"items", "next_cursor"}
    assert page["items"][0]["id"] == recipe["id"]
    assert len(page["items"]) <= 20


async def test_search_by_title_ingredient_tag_accents_and_plurals(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """q finds words of the title, the ingredients and the tags, folding accents and plurals."""
    title, berry, egg, tag = (unique_word() for _ in range(4))
    recipe = await create_recipe(
        client, headers["alice"],
        title=f"Crème brûlée {title}",
        ingredients=[{"description": f"2 cups {berry}ies"}, {"description": f"4 {egg}s"}],
        tags=[tag],
        description=f"described {unique_word()}",
    )
    rid = [recipe["id"]]

    await found(client, rid, q=title)
    await found(client, rid, q=f"CREME Brulee {title}")  # accents and case folded
    await found(client, rid, q=f"{berry}y")  # singular finds the plural ingredient
    await found(client, rid, q=f"{berry}ies")
    await found(client, rid, q=egg)
    await found(client, rid, q=f"{egg}s")
    await found(client, rid, q=tag)  # tags are searchable words too
    await found(client, rid, q=f"the {title}, with {egg}s!")  # stopwords, punctuation
    await found(client, [], q=f"{title} chocolate")  # every word must match
    await found(client, [], q=recipe["description"].split()[1])  # descriptions not indexed
    await found(client, [], q="the of and")  # only stopwords: nothing, not everything


async def test_tag_and_author_filters(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], subs: dict[str, str]
) -> None:
    """tag= filters by an exact tag and author= by the author's sub, alone or with q."""
    word, tag = unique_word(), unique_word()
    mine = await create_recipe(client, headers["alice"], title=f"Pie {word}", tags=[tag])
    other = await create_recipe(client, headers["bob"], title=f"Tart {word}", tags=["dessert"])

    await found(client, [mine["id"], other["id"]], q=word)
    await found(client, [mine["id"]], tag=tag)
    await found(client, [mine["id"]], tag=tag.upper())
    await found(client, [mine["id"]], q=word, tag=tag)
    await found(client, [other["id"]], q=word, tag="dessert")
    await found(client, [mine["id"]], q=word, author=subs["alice"])
    await found(client, [other["id"]], q=word, author=subs["bob"])
    await found(client, [], q=word, author=subs["admin"])

    by_alice = await search_ids(client, author=subs["alice"], limit=100)
    assert mine["id"] in by_alice and other["id"] not in by_alice
    by_bob = await listing(client, author=subs["bob"])
    assert other["id"] in {r["id"] for r in by_bob}
    assert {r["author"]["id"] for r in by_bob} == {subs["bob"]}


async def like(client: httpx.AsyncClient, rid: str, who: dict[str, str]) -> dict[str, Any]:
    response = await client.post(f"/recipes/{rid}/likes", headers=who)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_sort_newest_likes_and_most_liked(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """sort=newest|likes|-likes order both search results and the whole public listing."""
    word = unique_word()
    r0, r1, r2 = [await create_recipe(client, headers["alice"], title=f"{word} {n}")
                  for n in ("zero", "one", "two")]
    for who in ("bob", "admin"):
        await like(client, r2["id"], headers[who])
    await like(client, r1["id"], headers["bob"])
    ids = [r0["id"], r1["id"], r2["id"]]
    await found(client, ids, q=word)

    async def order(sort: str) -> list[str]:
        return await search_ids(client, q=word, sort=sort)

    assert await order("newest") == ids[::-1]
    assert await order("likes") == ids
    assert await order("-likes") == ids[::-1]
    assert await search_ids(client, q=word) == ids[::-1]  # newest is the default

    # The unfiltered listing reads the listing indexes: the same orders over everything.
    most = await listing(client, sort="-likes", limit=100)
    assert [r["likes"] for r in most] == sorted((r["likes"] for r in most), reverse=True)
    positions = [i for i, r in enumerate(most) if r["id"] in ids]
    assert [most[i]["id"] for i in positions] == ids[::-1]
    least = await listing(client, sort="likes", limit=100)
    assert [r["likes"] for r in least] == sorted(r["likes"] for r in least)
    newest = await listing(client, sort="newest", limit=100)
    stamps = [r["created_at"] for r in newest]
    assert stamps == sorted(stamps, reverse=True)


async def test_paging_visits_every_recipe_exactly_once(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], aws: AwsClients,
    stack: LocalStack,
) -> None:
    """Following next_cursor yields every recipe once, in every sort, filtered or not."""
    word = unique_word()
    created = [await create_recipe(client, headers["alice"], title=f"{word} number {i}")
               for i in range(7)]
    await like(client, created[3]["id"], headers["bob"])  # ties at 0 and one above
    await found(client, [r["id"] for r in created], q=word)
    everything = await all_recipe_ids(aws, stack)

    for sort in ("newest", "likes", "-likes"):
        for limit in (1, 3):
            filtered = await search_ids(client, q=word, sort=sort, limit=limit)
            assert sorted(filtered) == sorted(r["id"] for r in created), (sort, limit)
            assert len(filtered) == len(set(filtered))
        unfiltered = await search_ids(client, sort=sort, limit=4)
        assert len(unfiltered) == len(set(unfiltered)), f"a recipe repeats ({sort})"
        assert set(unfiltered) == everything, f"a recipe is missing or extra ({sort})"


async def test_likes_are_once_per_user_and_idempotent(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """Liking twice counts once; unliking twice removes once; GET shows the counter."""
    rid = (await create_recipe(client, headers["alice"]))["id"]

    assert await like(client, rid, headers["bob"]) == {"likes": 1, "liked": True}
    assert await like(client, rid, headers["bob"]) == {"likes": 1, "liked": True}
    assert await like(client, rid, headers["alice"]) == {"likes": 2, "liked": True}
    unliked = await client.delete(f"/recipes/{rid}/likes", headers=headers["bob"])
    assert unliked.json() == {"likes": 1, "liked": False}
    again = await client.delete(f"/recipes/{rid}/likes", headers=headers["bob"])
    assert again.status_code == 200 and again.json() == {"likes": 1, "liked": False}
    never = await client.delete(f"/recipes/{rid}/likes", headers=headers["admin"])
    assert never.json() == {"likes": 1, "liked": False}
    assert (await client.get(f"/recipes/{rid}")).json()["likes"] == 1


async def test_mine_lists_only_the_callers_recipes(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], subs: dict[str, str]
) -> None:
    """GET /recipes/mine returns the caller's recipes and nobody else's."""
    alices = await create_recipe(client, headers["alice"])
    bobs = await create_recipe(client, headers["bob"])

    mine = (await client.get("/recipes/mine", headers=headers["alice"])).json()["items"]
    assert alices["id"] in {r["id"] for r in mine}
    assert bobs["id"] not in {r["id"] for r in mine}
    assert {r["author"]["id"] for r in mine} == {subs["alice"]}


async def test_update_replaces_content_and_reindexes(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """PUT replaces the content, keeps identity and likes; search follows the new words."""
    old, new = unique_word(), unique_word()
    recipe = await create_recipe(client, headers["alice"], title=f"Stew {old}",
                                 servings=2, tags=["winter"])
    await like(client, recipe["id"], headers["bob"])
    await found(client, [recipe["id"]], q=old)

    response = await client.put(
        f"/recipes/{recipe['id']}",
        json=recipe_body(title=f"Curry {new}", ingredients=[{"description": "rice"}],
                         tags=[], servings=None),
        headers={**headers["alice"], "If-Match": '"1"'},
    )

    assert response.status_code == 200, response.text
    updated = response.json()
    assert response.headers["etag"] == '"2"'
    assert updated["version"] == 2
    assert updated["title"] == f"Curry {new}"
    assert updated["ingredients"] == [{"id": 1, "description": "rice"}]
    assert updated["tags"] == [] and updated["servings"] is None
    for kept in ("id", "author", "created_at"):
        assert updated[kept] == recipe[kept]
    assert updated["likes"] == 1
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        recipe["updated_at"])
    assert (await client.get(f"/recipes/{recipe['id']}")).json() == updated
    await found(client, [recipe["id"]], q=new)
    await found(client, [], q=old)
    await found(client, [], q=new, tag="winter")


async def test_delete_removes_the_recipe_everywhere(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], aws: AwsClients,
    stack: LocalStack,
) -> None:
    """DELETE answers 204; the recipe leaves GET, the listings, mine, search and its likes."""
    word = unique_word()
    recipe = await create_recipe(client, headers["alice"], title=f"Gone {word}")
    await like(client, recipe["id"], headers["bob"])
    await found(client, [recipe["id"]], q=word)

    response = await client.delete(f"/recipes/{recipe['id']}", headers=headers["alice"])

    assert response.status_code == 204
    assert response.content == b""
    gone = await client.get(f"/recipes/{recipe['id']}")
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    assert recipe["id"] not in await search_ids(client, limit=100)
    assert recipe["id"] not in await search_ids(client, sort="-likes", limit=100)
    mine = (await client.get("/recipes/mine", headers=headers["alice"])).json()["items"]
    assert recipe["id"] not in {r["id"] for r in mine}
    await found(client, [], q=word)
    dynamodb = await aws.client("dynamodb")

    async def likes_forgotten() -> bool:
        rows = await dynamodb.query(
            TableName=stack.resources.table("recipe-likes"),
            KeyConditionExpression="recipe_id = :id",
            ExpressionAttributeValues={":id": {"S": recipe["id"]}},
        )
        assert rows["Items"] == []
        return True

    await eventually(likes_forgotten, timeout=SEARCH_TIMEOUT)
    again = await client.delete(f"/recipes/{recipe['id']}", headers=headers["alice"])
    assert again.status_code == 404


async def test_words_that_fold_to_huge_tokens_do_not_block_indexing(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """An ingredient of 1000 "\ufb03" (3000 letters once folded) still gets its recipe indexed."""
    word = unique_word()
    recipe = await create_recipe(
        client, headers["alice"], title=f"Ligatures {word}",
        ingredients=[{"description": "\ufb03" * 1000}],
    )
    await found(client, [recipe["id"]], q=word)
    await found(client, [recipe["id"]], q=f"{word} " + "ffi" * 60)  # cut to the same token
