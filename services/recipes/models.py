"""Request, response and domain models of the recipes service."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=30)
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineCreate(_Input):
    """An ingredient or a step as the client sends it."""

    description: Text


class Line(BaseModel):
    """An ingredient or a step with its server-assigned position id (1..n)."""

    id: int
    description: str


class RecipeCreate(_Input):
    """Body of POST /recipes and PUT /recipes/{id} (a full replacement)."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] = ""
    ingredients: list[LineCreate] = Field(min_length=1, max_length=50)
    steps: list[LineCreate] = Field(min_length=1, max_length=30)
    tags: list[Tag] = Field(default_factory=list, max_length=10)
    servings: int | None = Field(default=None, ge=1, le=1000)
    prep_minutes: int | None = Field(default=None, ge=0, le=10000)


class Author(BaseModel):
    id: str
    username: str


class Recipe(BaseModel):
    """A recipe as stored and as returned."""

    id: str
    title: str
    description: str = ""
    ingredients: list[Line]
    steps: list[Line]
    tags: list[str] = []
    servings: int | None = None
    prep_minutes: int | None = None
    author: Author
    likes: int = 0
    version: int = 1
    created_at: datetime
    updated_at: datetime


class RecipePage(BaseModel):
    """One page of recipes; pass ``next_cursor`` back as ``cursor`` for the next."""

    items: list[Recipe]
    next_cursor: str | None = None


class LikeStatus(BaseModel):
    likes: int
    liked: bool


class RecipeSort(StrEnum):
    """Listing order; a leading minus means descending, as in JSON:API."""

    newest = "newest"
    likes = "likes"  # least liked first
    most_liked = "-likes"  # most liked first
