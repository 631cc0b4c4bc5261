"""The recipe rules: building and replacing recipes, who may change them, If-Match."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.recipes import logic
from services.recipes.models import RecipeCreate
from shared.auth import User
from shared.errors import ForbiddenError, PreconditionFailedError

ALICE = User(id="sub-alice", username="alice")
BOB = User(id="sub-bob", username="bob")
ADMIN = User(id="sub-admin", username="admin", groups=frozenset({"admins"}))
T0 = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)


def body(**overrides: object) -> RecipeCreate:
    document: dict[str, object] = {
        "title": "Pancakes",
        "description": "Sunday breakfast",
        "ingredients": [{"description": "2 eggs"}, {"description": "200 g flour"},
                        {"description": "milk"}],
        "steps": [{"description": "Whisk."}, {"description": "Fry."}],
        "tags": ["Breakfast", "sweet", "BREAKFAST"],
        "servings": 4,
    }
    return RecipeCreate.model_validate(document | overrides)


def test_new_recipe_gets_server_assigned_fields() -> None:
    """A new recipe has a fresh UUID, line ids 1..n, its author, 0 likes and version 1."""
    recipe = logic.new_recipe(body(), ALICE, now=T0)
    assert str(uuid.UUID(recipe.id)) == recipe.id
    assert [line.id for line in recipe.ingredients] == [1, 2, 3]
    assert [line.id for line in recipe.steps] == [1, 2]
    assert [line.description for line in recipe.ingredients] == ["2 eggs", "200 g flour", "milk"]
    assert (recipe.author.id, recipe.author.username) == ("sub-alice", "alice")
    assert (recipe.likes, recipe.version) == (0, 1)
    assert recipe.created_at == recipe.updated_at == T0


def test_new_recipe_ids_are_unique() -> None:
    """Two recipes never share an id."""
    assert logic.new_recipe(body(), ALICE).id != logic.new_recipe(body(), ALICE).id


def test_tags_are_deduplicated_in_order() -> None:
    """Tags equal after lower-casing are stored once, first occurrence first."""
    assert logic.new_recipe(body(), ALICE).tags == ["breakfast", "sweet"]


def test_replaced_recipe_keeps_identity_and_bumps_version() -> None:
    """A replacement keeps id, author, likes and created_at; content, version, updated_at move."""
    current = logic.new_recipe(body(), ALICE, now=T0).model_copy(update={"likes": 7})
    later = T0 + timedelta(hours=1)
    replaced = logic.replaced_recipe(
        current,
        body(title="Crêpes", ingredients=[{"description": "eggs"}], tags=[], servings=None),
        now=later,
    )
    assert (replaced.id, replaced.author, replaced.likes) == (current.id, current.author, 7)
    assert replaced.created_at == T0 and replaced.updated_at == later
    assert replaced.version == current.version + 1
    assert replaced.title == "Crêpes"
    assert [(x.id, x.description) for x in replaced.ingredients] == [(1, "eggs")]
    assert replaced.tags == [] and replaced.servings is None


def test_replacement_by_admin_keeps_the_author() -> None:
    """The author stays the author when an admin edits (replaced_recipe takes no user)."""
    current = logic.new_recipe(body(), ALICE, now=T0)
    logic.ensure_may_change(current, ADMIN)
    assert logic.replaced_recipe(current, body(title="Edited")).author.id == ALICE.id


@pytest.mark.parametrize("user", [ALICE, ADMIN], ids=["author", "admin"])
def test_author_and_admin_may_change(user: User) -> None:
    """The author and any admin may change or delete a recipe."""
    logic.ensure_may_change(logic.new_recipe(body(), ALICE), user)


@pytest.mark.parametrize(
    "user",
    [BOB, User(id="sub-x", username="alice"), User(id="sub-y", username="y",
                                                   groups=frozenset({"editors"}))],
    ids=["other-user", "same-username-other-sub", "other-group"],
)
def test_others_may_not_change(user: User) -> None:
    """Anyone else is forbidden; identity is the sub, not the username."""
    with pytest.raises(ForbiddenError):
        logic.ensure_may_change(logic.new_recipe(body(), ALICE), user)


@pytest.mark.parametrize(
    ("header", "version"),
    [
        (None, None),
        ("*", None),
        (" * ", None),
        ('"3"', 3),
        ("3", 3),
        ('W/"12"', 12),
        (' "7" ', 7),
        ('"0"', 0),
        ('"999999999999999999"', 999_999_999_999_999_999),
    ],
)
def test_parse_if_match(header: str | None, version: int | None) -> None:
    """If-Match names a version (strong or weak ETag); absent or ``*`` means any version."""
    assert logic.parse_if_match(header) == version


@pytest.mark.parametrize(
    "header",
    ['"abc"', '""', '"-1"', '"1.5"', '"3", "4"', '"\u00b2"', '"\u0663"', '"' + "9" * 19 + '"',
     "9" * 5000, "W/"],
)
def test_malformed_if_match_is_a_failed_precondition(header: str) -> None:
    """An If-Match that is no version ETag fails the precondition (412), never crashes."""
    with pytest.raises(PreconditionFailedError):
        logic.parse_if_match(header)


def test_etag_is_the_quoted_version() -> None:
    """The ETag is the version in quotes, and If-Match parses it back."""
    recipe = logic.new_recipe(body(), ALICE).model_copy(update={"version": 5})
    assert logic.etag(recipe) == '"5"'
    assert logic.parse_if_match(logic.etag(recipe)) == 5
