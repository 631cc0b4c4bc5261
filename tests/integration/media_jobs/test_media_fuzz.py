"""Schemathesis fuzzing of every route in the media-jobs OpenAPI schema: no input gives a 5xx.

Each generated case, valid (positive) and invalid (negative), is sent anonymously, as alice
and as an admin. Strategies come from schemathesis's Python API, as in the recipes fuzz test.
"""

from __future__ import annotations

from typing import Any

import pytest

from devkit.fuzzing import fuzz_every_operation, schema_operations

EXAMPLES_PER_MODE = 10
MEDIA_OPERATIONS = {
    "POST /media/uploads", "GET /media/jobs", "GET /media/jobs/{guid}",
    "POST /media/jobs/{guid}/retry", "DELETE /media/jobs/{guid}",
    "GET /media/outputs/{path}", "HEAD /media/outputs/{path}",
}


@pytest.fixture(scope="module")
def operations(media_api: str) -> dict[str, Any]:
    """Every operation of the schema the running API serves, by label."""
    return schema_operations(f"{media_api}/media/openapi.json")


def test_the_fuzzer_sees_every_media_route(operations: dict[str, Any]) -> None:
    """The served schema holds all media operations, so none escapes the fuzzer."""
    assert set(operations) >= MEDIA_OPERATIONS


def test_no_input_makes_the_api_fail(
    operations: dict[str, Any], media_api: str, tokens: dict[str, str],
    subtests: pytest.Subtests,
) -> None:
    """Whatever schemathesis sends to any route, anonymous, as a user or an admin: < 500."""
    fuzz_every_operation(operations, media_api, [tokens["alice"], tokens["admin"]],
                         examples=EXAMPLES_PER_MODE, subtests=subtests)
