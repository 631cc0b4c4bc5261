"""Settings of the recipes service (API and worker)."""

from shared.settings import PlatformSettings


class RecipesSettings(PlatformSettings):
    """Environment of the recipes processes; see PlatformSettings for the shared fields."""

    # Upper bound on the ids one search term may match; keeps a query's cost bounded.
    search_max_matches: int = 2000
