"""In-memory ordering and keyset paging of filtered listings (``ordered``, ``page_after``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.recipes import logic
from services.recipes.models import Author, Line, Recipe, RecipeSort
from shared.dynamo import CursorError, decode_cursor, encode_cursor

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def recipe(likes: int = 0, minutes: int = 0, rid: str | None = None) -> Recipe:
    at = T0 + timedelta(minutes=minutes)
    return Recipe(
        id=rid or str(uuid.uuid4()),
        title="r",
        ingredients=[Line(id=1, description="x")],
        steps=[Line(id=1, description="y")],
        author=Author(id="sub", username="alice"),
        likes=likes,
        created_at=at,
        updated_at=at,
    )


def all_pages(recipes: list[Recipe], sort: RecipeSort, limit: int) -> list[list[Recipe]]:
    """Every page, passing each next key through a real cursor round trip as the API does."""
    ordered = logic.ordered(recipes, sort)
    pages, after = [], None
    while True:
        page, key = logic.page_after(ordered, sort, after, limit)
        pages.append(page)
        if key is None:
            return pages
        position = decode_cursor(encode_cursor({"after": key}))
        assert position is not None
        after = position["after"]
        assert len(pages) <= len(recipes) + 1, "paging does not terminate"


def test_newest_first() -> None:
    """``newest`` puts the latest created first."""
    old, mid, new = recipe(minutes=0), recipe(minutes=5), recipe(minutes=10)
    assert logic.ordered([mid, old, new], RecipeSort.newest) == [new, mid, old]


def test_likes_ascending_and_descending() -> None:
    """``likes`` is least liked first; ``-likes`` most liked first."""
    few, some, many = recipe(likes=1), recipe(likes=5), recipe(likes=9)
    assert logic.ordered([some, many, few], RecipeSort.likes) == [few, some, many]
    assert logic.ordered([some, many, few], RecipeSort.most_liked) == [many, some, few]


def test_ties_have_one_total_order() -> None:
    """Equal likes and creation times are ordered by id, the same way on every call."""
    tied = [recipe(likes=3, rid=f"00000000-0000-4000-8000-00000000000{i}") for i in range(5)]
    for sort in RecipeSort:
        first = logic.ordered(tied, sort)
        assert logic.ordered(list(reversed(tied)), sort) == first
    assert [r.id for r in logic.ordered(tied, RecipeSort.likes)] == sorted(r.id for r in tied)


def test_sort_accepts_the_json_api_descending_spelling() -> None:
    """``-likes`` is the query value of the descending order."""
    assert RecipeSort("-likes") is RecipeSort.most_liked
    assert RecipeSort("likes") is RecipeSort.likes
    with pytest.raises(ValueError):
        RecipeSort("+likes")


def test_pages_with_ties_neither_overlap_nor_skip() -> None:
    """Paging through many tied recipes yields each exactly once, in order."""
    recipes = [recipe(likes=i % 3, minutes=i % 2) for i in range(23)]
    for sort in RecipeSort:
        for limit in (1, 2, 5, 23, 100):
            pages = all_pages(recipes, sort, limit)
            flat = [r for page in pages for r in page]
            assert flat == logic.ordered(recipes, sort), (sort, limit)
            assert all(len(page) <= limit for page in pages)


def test_last_page_has_no_next_key() -> None:
    """A page that reaches the end has no next key; an empty list gives an empty page."""
    recipes = [recipe(minutes=i) for i in range(4)]
    assert logic.page_after(logic.ordered(recipes, RecipeSort.newest), RecipeSort.newest,
                            None, 4)[1] is None
    assert logic.page_after([], RecipeSort.newest, None, 10) == ([], None)


def test_a_key_survives_the_recipe_it_names_being_deleted() -> None:
    """Keyset paging resumes after the key even when that recipe disappears meanwhile."""
    recipes = logic.ordered([recipe(likes=i) for i in range(6)], RecipeSort.most_liked)
    first, key = logic.page_after(recipes, RecipeSort.most_liked, None, 2)
    remaining = [r for r in recipes if r.id != first[-1].id]
    second, _ = logic.page_after(remaining, RecipeSort.most_liked, key, 2)
    assert second == recipes[2:4]


@settings(max_examples=60, deadline=None)
@given(
    likes=st.lists(st.integers(0, 3), max_size=30),
    limit=st.integers(1, 7),
    sort=st.sampled_from(list(RecipeSort)),
)
def test_paging_property(likes: list[int], limit: int, sort: RecipeSort) -> None:
    """For any likes (with ties) and page size, the pages concatenate to the ordered list."""
    recipes = [recipe(likes=n, minutes=i % 3) for i, n in enumerate(likes)]
    flat = [r for page in all_pages(recipes, sort, limit) for r in page]
    assert [r.id for r in flat] == [r.id for r in logic.ordered(recipes, sort)]
    assert len({r.id for r in flat}) == len(recipes)


@pytest.mark.parametrize(
    ("sort", "after"),
    [
        pytest.param(RecipeSort.newest, 5, id="not-a-list"),
        pytest.param(RecipeSort.newest, ["2026-01-01"], id="too-short"),
        pytest.param(RecipeSort.newest, [1, "id"], id="wrong-type"),
        pytest.param(RecipeSort.newest, [None, None], id="nulls"),
        pytest.param(RecipeSort.likes, ["2026-01-01", "id"], id="newest-key-for-likes"),
        pytest.param(RecipeSort.most_liked, [True, "2026", "id"], id="bool-is-not-a-count"),
        pytest.param(RecipeSort.most_liked, [1.5, "2026", "id"], id="float-count"),
        pytest.param(RecipeSort.newest, [3, "2026", "id"], id="likes-key-for-newest"),
        pytest.param(RecipeSort.likes, {"a": 1}, id="object"),
    ],
)
def test_a_foreign_key_is_a_cursor_error(sort: RecipeSort, after: object) -> None:
    """A key of another sort order, or a forged one, is a CursorError (HTTP 400), not a crash."""
    with pytest.raises(CursorError):
        logic.page_after([recipe()], sort, after, 10)  # type: ignore[arg-type]
