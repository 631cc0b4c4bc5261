"""Recipes settings: RECIPES_SEARCH_MAX_MATCHES, still read as SEARCH_MAX_MATCHES, bounded."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.recipes.settings import RecipesSettings


def test_search_max_matches_is_read_by_its_prefixed_name_and_by_its_old_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert RecipesSettings().recipes_search_max_matches == 2000
    monkeypatch.setenv("SEARCH_MAX_MATCHES", "500")
    assert RecipesSettings().recipes_search_max_matches == 500
    monkeypatch.setenv("RECIPES_SEARCH_MAX_MATCHES", "300")
    assert RecipesSettings().recipes_search_max_matches == 300


@pytest.mark.parametrize("value", ["0", "1000000"])
def test_out_of_bounds_values_stop_the_start(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECIPES_SEARCH_MAX_MATCHES", value)
    with pytest.raises(ValidationError):
        RecipesSettings()
