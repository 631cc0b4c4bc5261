"""The recipes rules: building recipes, who may change them, search tokens, ordering."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from services.recipes.models import Author, Line, Recipe, RecipeCreate, RecipeSort
from shared.auth import User
from shared.dynamo import CursorError
from shared.errors import ForbiddenError, PreconditionFailedError

_WORD = re.compile(r"[a-z0-9]+")
# Longer words are cut: accent folding can triple a text's length ("\ufb03" is "ffi"), and a
# search token must stay far below DynamoDB's 2 KB key limit.
MAX_WORD_LENGTH = 100
STOPWORDS = frozenset({
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the",
    "to", "with", "without",
})


def new_recipe(body: RecipeCreate, author: User, *, recipe_id: str | None = None,
               now: datetime | None = None) -> Recipe:
    """A new recipe: server-assigned id (random unless given), line ids 1..n, author, likes 0,
    version 1."""
    now = now or datetime.now(UTC)
    return Recipe(
        id=recipe_id or str(uuid.uuid4()),
        author=Author(id=author.id, username=author.username),
        likes=0,
        version=1,
        created_at=now,
        updated_at=now,
        **_content(body),
    )


def replaced_recipe(current: Recipe, body: RecipeCreate, *, now: datetime | None = None) -> Recipe:
    """``current`` with its content replaced by ``body``; identity, likes and author kept."""
    return current.model_copy(
        update={
            **_content(body),
            "version": current.version + 1,
            "updated_at": now or datetime.now(UTC),
        }
    )


def _content(body: RecipeCreate) -> dict[str, object]:
    return {
        "title": body.title,
        "description": body.description,
        "ingredients": [Line(id=i, description=x.description)
                        for i, x in enumerate(body.ingredients, 1)],
        "steps": [Line(id=i, description=x.description) for i, x in enumerate(body.steps, 1)],
        "tags": list(dict.fromkeys(body.tags)),
        "servings": body.servings,
        "prep_minutes": body.prep_minutes,
    }


def ensure_may_change(recipe: Recipe, user: User) -> None:
    """Only the author or an admin may change or delete a recipe."""
    if recipe.author.id != user.id and not user.is_admin:
        raise ForbiddenError("only the author or an admin may change this recipe")


def parse_if_match(header: str | None) -> int | None:
    """The version an ``If-Match`` header asks for (None when absent or ``*``)."""
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    # isdigit() alone accepts "\u00b2", which int() refuses; int() also refuses over 4300
    # digits. No version comes near 18 digits.
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise PreconditionFailedError("If-Match must be a version ETag such as '\"3\"'")
    return int(value)


def etag(recipe: Recipe) -> str:
    return f'"{recipe.version}"'


def _stem(word: str) -> str:
    # Just enough folding that "tomatoes" finds "tomato" and "berries" finds "berry".
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("oes"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Search words of a text: accent-folded, lower-case, stemmed, without stopwords."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return [_stem(w[:MAX_WORD_LENGTH]) for w in _WORD.findall(folded)
            if w not in STOPWORDS and len(w) > 1]


def word_token(word: str) -> str:
    return f"w:{word}"


def tag_token(tag: str) -> str:
    return f"t:{tag.strip().lower()}"


def index_tokens(recipe: Recipe) -> set[str]:
    """Every search token a recipe is found by: words of title, ingredients and tags; tags."""
    text = " ".join([recipe.title, *(i.description for i in recipe.ingredients), *recipe.tags])
    return {word_token(w) for w in words(text)} | {tag_token(t) for t in recipe.tags}


def query_tokens(q: str | None, tag: str | None) -> set[str]:
    """Tokens a search must match all of (AND)."""
    tokens = {word_token(w) for w in words(q or "")}
    if tag:
        tokens.add(tag_token(tag))
    return tokens


def sort_key(sort: RecipeSort, recipe: Recipe) -> tuple[object, ...]:
    """Total order for in-memory sorting; ties broken by id so pages never overlap."""
    if sort is RecipeSort.newest:
        return (recipe.created_at.isoformat(), recipe.id)
    return (recipe.likes, recipe.created_at.isoformat(), recipe.id)


def ordered(recipes: Iterable[Recipe], sort: RecipeSort) -> list[Recipe]:
    """Recipes in the requested order."""
    descending = sort is not RecipeSort.likes
    return sorted(recipes, key=lambda r: sort_key(sort, r), reverse=descending)


def page_after(
    recipes: list[Recipe], sort: RecipeSort, after: object, limit: int
) -> tuple[list[Recipe], list[object] | None]:
    """The page of an ordered list that follows the key ``after`` (a client's, checked), and
    the next page's key."""
    if after is not None:
        marker = _marker(sort, after)
        descending = sort is not RecipeSort.likes
        recipes = [
            r for r in recipes
            if (sort_key(sort, r) < marker if descending else sort_key(sort, r) > marker)
        ]
    page = recipes[:limit]
    more = len(recipes) > limit
    return page, (list(sort_key(sort, page[-1])) if more and page else None)


def _marker(sort: RecipeSort, after: object) -> tuple[object, ...]:
    # The key comes from a client's cursor: it must have the shape of this sort's keys, or
    # comparing with it raises TypeError (a cursor from another sort order, or forged).
    types: tuple[type, ...] = (str, str) if sort is RecipeSort.newest else (int, str, str)
    if not (
        isinstance(after, list)
        and len(after) == len(types)
        and all(type(v) is t for v, t in zip(after, types, strict=True))
    ):
        raise CursorError("cursor is not valid for this listing")
    return tuple(after)
