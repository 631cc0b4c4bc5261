"""Settings of the recipes service (API and worker)."""

from pydantic import AliasChoices, Field

from shared.settings import PlatformSettings


class RecipesSettings(PlatformSettings):
    """Environment of the recipes processes; see PlatformSettings for the shared fields."""

    # Upper bound on the ids one search term may match; keeps a query's cost bounded.
    # (SEARCH_MAX_MATCHES, its name before it took the service's prefix, is still read.)
    recipes_search_max_matches: int = Field(
        default=2000, ge=1, le=100_000,
        validation_alias=AliasChoices("recipes_search_max_matches", "search_max_matches"))
