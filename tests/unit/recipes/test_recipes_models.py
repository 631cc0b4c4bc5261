"""The limits of a recipe body (``RecipeCreate``), checked at, and just past, every bound."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.recipes.models import RecipeCreate


def body(**overrides: Any) -> dict[str, Any]:
    """A valid body; keyword arguments replace (or, as None, remove) fields."""
    document: dict[str, Any] = {
        "title": "Tomato soup",
        "description": "A warming soup.",
        "ingredients": [{"description": "6 tomatoes"}, {"description": "1 onion"}],
        "steps": [{"description": "Chop."}, {"description": "Simmer."}],
        "tags": ["soup"],
        "servings": 4,
        "prep_minutes": 30,
    }
    document.update(overrides)
    return {k: v for k, v in document.items() if v is not None}


def lines(n: int, text: str = "x") -> list[dict[str, str]]:
    return [{"description": text} for _ in range(n)]


def error_fields(document: dict[str, Any]) -> set[str]:
    """The dotted locations pydantic rejects ``document`` at (as the API reports them)."""
    with pytest.raises(ValidationError) as info:
        RecipeCreate.model_validate(document)
    return {".".join(str(p) for p in e["loc"]) for e in info.value.errors()}


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"title": "t"}, id="title-1-char"),
        pytest.param({"title": "t" * 200}, id="title-200-chars"),
        pytest.param({"ingredients": lines(1)}, id="1-ingredient"),
        pytest.param({"ingredients": lines(50)}, id="50-ingredients"),
        pytest.param({"steps": lines(1)}, id="1-step"),
        pytest.param({"steps": lines(30)}, id="30-steps"),
        pytest.param({"ingredients": lines(1, "i" * 1000)}, id="ingredient-1000-chars"),
        pytest.param({"steps": lines(1, "s" * 1000)}, id="step-1000-chars"),
        pytest.param({"description": "d" * 1000}, id="description-1000-chars"),
        pytest.param({"description": ""}, id="description-empty"),
        pytest.param({"description": None}, id="description-absent"),
        pytest.param({"tags": []}, id="0-tags"),
        pytest.param({"tags": None}, id="tags-absent"),
        pytest.param({"tags": [f"t{i}" for i in range(10)]}, id="10-tags"),
        pytest.param({"tags": ["t" * 30]}, id="tag-30-chars"),
        pytest.param({"servings": None, "prep_minutes": None}, id="no-servings-or-time"),
    ],
)
def test_accepts_bodies_at_every_limit(overrides: dict[str, Any]) -> None:
    """A body exactly at a limit is valid."""
    RecipeCreate.model_validate(body(**overrides))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"title": ""}, "title", id="title-empty"),
        pytest.param({"title": " \t\n "}, "title", id="title-whitespace"),
        pytest.param({"title": "t" * 201}, "title", id="title-201-chars"),
        pytest.param({"title": None}, "title", id="title-missing"),
        pytest.param({"ingredients": []}, "ingredients", id="0-ingredients"),
        pytest.param({"ingredients": lines(51)}, "ingredients", id="51-ingredients"),
        pytest.param({"ingredients": None}, "ingredients", id="ingredients-missing"),
        pytest.param({"steps": []}, "steps", id="0-steps"),
        pytest.param({"steps": lines(31)}, "steps", id="31-steps"),
        pytest.param({"ingredients": lines(2) + lines(1, "i" * 1001)},
                     "ingredients.2.description", id="ingredient-1001-chars"),
        pytest.param({"ingredients": lines(1, "   ")}, "ingredients.0.description",
                     id="ingredient-whitespace"),
        pytest.param({"ingredients": [{}]}, "ingredients.0.description",
                     id="ingredient-without-description"),
        pytest.param({"steps": lines(1, "s" * 1001)}, "steps.0.description",
                     id="step-1001-chars"),
        pytest.param({"steps": lines(1, "")}, "steps.0.description", id="step-empty"),
        pytest.param({"description": "d" * 1001}, "description", id="description-1001-chars"),
        pytest.param({"tags": [f"t{i}" for i in range(11)]}, "tags", id="11-tags"),
        pytest.param({"tags": ["t" * 31]}, "tags.0", id="tag-31-chars"),
        pytest.param({"tags": ["ok", "  "]}, "tags.1", id="tag-whitespace"),
        pytest.param({"servings": 0}, "servings", id="servings-0"),
        pytest.param({"prep_minutes": -1}, "prep_minutes", id="prep-minutes-negative"),
        pytest.param({"author": {"id": "me"}}, "author", id="extra-field"),
        pytest.param({"likes": 1000}, "likes", id="likes-not-settable"),
        pytest.param({"ingredients": [{"id": 7, "description": "x"}]}, "ingredients.0.id",
                     id="extra-line-field"),
    ],
)
def test_rejects_bodies_past_a_limit(overrides: dict[str, Any], field: str) -> None:
    """A body past a limit is rejected, and the error names the offending field."""
    assert field in error_fields(body(**overrides))


def test_texts_are_measured_after_trimming() -> None:
    """Surrounding whitespace is trimmed before the length limits apply."""
    recipe = RecipeCreate.model_validate(
        body(title=f"  {'t' * 200}  ", ingredients=lines(1, f"\t{'i' * 1000}\n"))
    )
    assert recipe.title == "t" * 200
    assert recipe.ingredients[0].description == "i" * 1000


def test_tags_are_trimmed_and_lower_cased() -> None:
    """Tags are normalised to trimmed lower case."""
    recipe = RecipeCreate.model_validate(body(tags=["  Soup ", "VEGAN", "Quick-Dinner"]))
    assert recipe.tags == ["soup", "vegan", "quick-dinner"]


def test_a_body_that_is_not_an_object_is_rejected() -> None:
    """A JSON array or string is not a recipe."""
    for document in ([], "recipe", 3):
        with pytest.raises(ValidationError):
            RecipeCreate.model_validate(document)
