"""Schemathesis fuzzing of every route in the recipes OpenAPI schema: no input gives a 5xx.

Each generated case, valid (positive) and invalid (negative), is sent twice: anonymously and
with alice's token. The strategies come from schemathesis's Python API; its pytest plugin
(``schema.parametrize``) reads ``Function._nodeid``, which pytest 9 no longer has.
"""

from __future__ import annotations

from typing import Any

import pytest

from devkit.fuzzing import fuzz_every_operation, schema_operations

EXAMPLES_PER_MODE = 15
RECIPES_OPERATIONS = {
    "GET /recipes", "POST /recipes", "GET /recipes/mine", "GET /recipes/{recipe_id}",
    "PUT /recipes/{recipe_id}", "DELETE /recipes/{recipe_id}",
    "POST /recipes/{recipe_id}/likes", "DELETE /recipes/{recipe_id}/likes",
}


@pytest.fixture(scope="module")
def operations(recipes_api: str) -> dict[str, Any]:
    """Every operation of the schema the running API serves, by label."""
    return schema_operations(f"{recipes_api}/recipes/openapi.json")


def test_the_fuzzer_sees_every_recipes_route(operations: dict[str, Any]) -> None:
    """The served schema holds all recipes operations, so none escapes the fuzzer."""
    assert set(operations) >= RECIPES_OPERATIONS


def test_no_input_makes_the_api_fail(
    operations: dict[str, Any], recipes_api: str, tokens: dict[str, str],
    subtests: pytest.Subtests,
) -> None:
    """Whatever schemathesis sends to any route, with or without a token, the answer is < 500."""
    fuzz_every_operation(operations, recipes_api, [tokens["alice"]], examples=EXAMPLES_PER_MODE,
                         subtests=subtests)
