"""HTTP routes of the recipes service (prefix /recipes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response, status

from services.recipes import logic
from services.recipes.container import RecipesContainer
from services.recipes.models import LikeStatus, Recipe, RecipeCreate, RecipePage, RecipeSort
from services.recipes.settings import RecipesSettings
from services.recipes.store import RecipeStore, SearchIndex
from shared.auth import CurrentUser
from shared.dynamo import CursorError, decode_cursor, encode_cursor
from shared.http import Responses, from_container, settings_of
from shared.idempotency_keys import IDEMPOTENT_CREATE, IdempotentRoute, NewId
from shared.ratelimit import UserRateLimited

router = APIRouter(prefix="/recipes", tags=["recipes"], route_class=IdempotentRoute)


Store = Annotated[RecipeStore, Depends(from_container(RecipesContainer, lambda c: c.store))]
Search = Annotated[SearchIndex, Depends(from_container(RecipesContainer, lambda c: c.search))]
Settings = Annotated[RecipesSettings, Depends(settings_of(RecipesSettings))]
RecipeId = Annotated[str, "the recipe's id"]

NOT_FOUND: Responses = {404: {"description": "No recipe has this id"}}
CHANGES: Responses = {403: {"description": "Not the author or an admin"}, **NOT_FOUND}


@router.get("", summary="Browse and search recipes")
async def list_recipes(
    store: Store,
    search: Search,
    settings: Settings,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    sort: RecipeSort = RecipeSort.newest,
    q: Annotated[str | None, Query(max_length=200, description="Words in title, "
                                   "ingredients or tags (all must match)")] = None,
    tag: Annotated[str | None, Query(max_length=30)] = None,
    author: Annotated[str | None, Query(max_length=128, description="Author id (sub)")] = None,
) -> RecipePage:
    position = decode_cursor(cursor)
    tokens = logic.query_tokens(q, tag)
    if not tokens and not author and not (q or "").strip():
        last_key = _cursor_part(position, "key")
        if last_key is not None and not isinstance(last_key, dict):
            raise CursorError("cursor is not valid for this listing")
        items, last_key = await store.list_page(sort, limit=limit, after=last_key)
        return RecipePage(items=items,
                          next_cursor=encode_cursor({"key": last_key} if last_key else None))
    # Filtered listings: the search index (or the author index) names the candidates;
    # they are fetched by key, ordered in memory and paged by their sort key.
    if tokens:
        ids = await search.matching(tokens, cap=settings.recipes_search_max_matches)
        candidates = await store.get_many(sorted(ids))
        if author:
            candidates = [r for r in candidates if r.author.id == author]
    elif author:
        candidates = await store.by_author(author, cap=settings.recipes_search_max_matches)
    else:
        candidates = []  # the query held only stopwords or punctuation
    page, after = logic.page_after(logic.ordered(candidates, sort), sort,
                                   _cursor_part(position, "after"), limit)
    return RecipePage(items=page, next_cursor=encode_cursor({"after": after} if after else None))


def _cursor_part(position: dict[str, Any] | None, part: str) -> object:
    # Listings encode {"key": ...} (index paging) or {"after": ...} (in-memory paging); a
    # cursor of the other kind must not silently restart from the first page.
    if position is None:
        return None
    if set(position) != {part}:
        raise CursorError("cursor is not valid for this listing")
    return position[part]


@router.get("/mine", summary="The caller's recipes")
async def my_recipes(user: CurrentUser, store: Store, settings: Settings) -> RecipePage:
    return RecipePage(items=await store.by_author(user.id, cap=settings.recipes_search_max_matches))


@router.get("/{recipe_id}", summary="One recipe", responses=NOT_FOUND)
async def get_recipe(recipe_id: RecipeId, store: Store, response: Response) -> Recipe:
    recipe = await store.get(recipe_id)
    response.headers["ETag"] = logic.etag(recipe)
    return recipe


@router.post("", status_code=status.HTTP_201_CREATED, summary="Share a recipe",
             responses={413: {"description": "Body larger than 64 KiB"}, **IDEMPOTENT_CREATE})
async def create_recipe(body: RecipeCreate, user: CurrentUser, store: Store,
                        response: Response, recipe_id: NewId,
                        _limited: UserRateLimited) -> Recipe:
    recipe = await store.create(logic.new_recipe(body, user, recipe_id=recipe_id))
    response.headers["Location"] = f"/recipes/{recipe.id}"
    response.headers["ETag"] = logic.etag(recipe)
    return recipe


@router.put("/{recipe_id}", summary="Replace a recipe (author or admin)",
            responses={**CHANGES, 412: {"description": "If-Match names an old version"}})
async def replace_recipe(
    recipe_id: RecipeId, body: RecipeCreate, user: CurrentUser, store: Store,
    response: Response, _limited: UserRateLimited,
    if_match: Annotated[str | None, Header(description="ETag from a GET, e.g. \"3\"")] = None,
) -> Recipe:
    expected = logic.parse_if_match(if_match)

    def change(current: Recipe) -> Recipe:
        logic.ensure_may_change(current, user)
        return logic.replaced_recipe(current, body)

    # Without If-Match the last write wins; with it, the store checks the version
    # atomically, so of two racing PUTs with the same ETag exactly one succeeds.
    recipe = await store.replace(recipe_id, change, expected_version=expected)
    response.headers["ETag"] = logic.etag(recipe)
    return recipe


@router.delete("/{recipe_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a recipe (author or admin)", responses=CHANGES)
async def delete_recipe(recipe_id: RecipeId, user: CurrentUser, store: Store,
                        _limited: UserRateLimited) -> Response:
    await store.delete(recipe_id, lambda recipe: logic.ensure_may_change(recipe, user))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{recipe_id}/likes", summary="Like a recipe (once per user)",
             responses=NOT_FOUND)
async def like_recipe(recipe_id: RecipeId, user: CurrentUser, store: Store,
                      _limited: UserRateLimited) -> LikeStatus:
    likes, _ = await store.like(recipe_id, user.id)
    return LikeStatus(likes=likes, liked=True)


@router.delete("/{recipe_id}/likes", summary="Take a like back", responses=NOT_FOUND)
async def unlike_recipe(recipe_id: RecipeId, user: CurrentUser, store: Store,
                        _limited: UserRateLimited) -> LikeStatus:
    likes, _ = await store.unlike(recipe_id, user.id)
    return LikeStatus(likes=likes, liked=False)
