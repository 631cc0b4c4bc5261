"""Search tokenization: what a recipe is found by, and what a query asks for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.recipes import logic
from services.recipes.models import Author, Line, Recipe


def recipe(title: str, ingredients: list[str], tags: list[str]) -> Recipe:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Recipe(
        id="00000000-0000-4000-8000-000000000001",
        title=title,
        description="Never searched: descriptions are not indexed.",
        ingredients=[Line(id=i, description=d) for i, d in enumerate(ingredients, 1)],
        steps=[Line(id=1, description="Stir the pot slowly")],
        tags=tags,
        author=Author(id="sub-1", username="alice"),
        created_at=now,
        updated_at=now,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Crème Brûlée", ["creme", "brulee"], id="accents-folded"),
        pytest.param("JALAPEÑO", ["jalapeno"], id="upper-case-and-tilde"),
        pytest.param("tomatoes", ["tomato"], id="oes-plural"),
        pytest.param("berries cherries", ["berry", "cherry"], id="ies-plural"),
        pytest.param("eggs onions", ["egg", "onion"], id="s-plural"),
        pytest.param("glass", ["glass"], id="ss-is-not-a-plural"),
        pytest.param("gas bus", ["gas", "bus"], id="three-letter-words-are-not-stemmed"),
        pytest.param("peas", ["pea"], id="four-letter-plural"),
        pytest.param("the soup of the day", ["soup", "day"], id="stopwords-dropped"),
        pytest.param("salt & pepper, (to taste)!", ["salt", "pepper", "taste"],
                     id="punctuation-splits"),
        pytest.param("a b c 1 x", [], id="single-characters-dropped"),
        pytest.param("2 eggs, 250g flour", ["egg", "250g", "flour"], id="digits-kept"),
        pytest.param("half-and-half", ["half", "half"], id="hyphens-split"),
        pytest.param("naïve café", ["naive", "cafe"], id="diaeresis-and-acute"),
        pytest.param("寿司 sushi", ["sushi"], id="non-latin-script-dropped"),
        pytest.param("", [], id="empty"),
        pytest.param("   \n\t ", [], id="whitespace"),
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    """``words`` folds accents and case, stems plurals, drops stopwords and punctuation."""
    assert logic.words(text) == expected


def test_plural_and_singular_meet() -> None:
    """A singular query finds a plural ingredient and vice versa."""
    for singular, plural in [("tomato", "tomatoes"), ("berry", "berries"), ("egg", "eggs")]:
        assert logic.words(singular) == logic.words(plural)


def test_long_words_are_cut_to_a_key_sized_token() -> None:
    """Folding can triple a word ("\ufb03" is "ffi"); tokens stay far below DynamoDB's 2 KB."""
    (word,) = logic.words("\ufb03" * 1000)
    assert len(word) == logic.MAX_WORD_LENGTH
    assert logic.words("\ufb03" * 1000) == logic.words("ffi" * 1000)


@given(st.text(max_size=1000))
def test_every_token_is_a_short_ascii_word(text: str) -> None:
    """Whatever the text, every word is lower-case ASCII of 2..MAX_WORD_LENGTH characters."""
    for word in logic.words(text):
        assert word.isascii() and word.isalnum() and word == word.lower()
        assert 2 <= len(word) <= logic.MAX_WORD_LENGTH


def test_index_tokens_cover_title_ingredients_and_tags() -> None:
    """A recipe is found by the words of its title, ingredients and tags, and by its tags."""
    tokens = logic.index_tokens(
        recipe("Smoky Chili", ["3 ripe tomatoes", "Kidney beans"], ["tex-mex", "dinner"])
    )
    assert tokens == {
        "w:smoky", "w:chili", "w:ripe", "w:tomato", "w:kidney", "w:bean",
        "w:tex", "w:mex", "w:dinner",
        "t:tex-mex", "t:dinner",
    }


def test_index_tokens_leave_out_description_and_steps() -> None:
    """Descriptions and steps are not searched."""
    tokens = logic.index_tokens(recipe("Soup", ["water"], []))
    assert not {"w:never", "w:searched", "w:stir", "w:pot"} & tokens


def test_query_tokens_and_tag_filter() -> None:
    """A query asks for each of its words and, with a tag filter, for the exact tag."""
    assert logic.query_tokens("Ripe TOMATOES, please", None) == {
        "w:ripe", "w:tomato", "w:please"
    }
    assert logic.query_tokens(None, " Tex-Mex ") == {"t:tex-mex"}
    assert logic.query_tokens("chili", "dinner") == {"w:chili", "t:dinner"}


@pytest.mark.parametrize("q", [None, "", "   ", "the of and", "!!! ...", "a"])
def test_queries_without_words_ask_for_nothing(q: str | None) -> None:
    """Stopwords, punctuation and blanks give no token (the API then returns nothing)."""
    assert logic.query_tokens(q, None) == set()


def test_every_query_word_of_a_recipe_is_one_of_its_tokens() -> None:
    """Searching with any words taken from title, ingredients or tags finds the recipe."""
    r = recipe("Crème brûlée", ["Fresh raspberries", "Eggs"], ["Dessert"])
    tokens = logic.index_tokens(r)
    for q in ["creme", "BRULEE", "raspberry", "egg", "dessert", "fresh eggs"]:
        assert logic.query_tokens(q, None) <= tokens, q
    assert logic.query_tokens(None, "dessert") <= tokens
    assert not logic.query_tokens("chocolate", None) <= tokens
