"""Schemathesis fuzzing of every route in the media-jobs OpenAPI schema: no input gives a 5xx.

Each generated case, valid (positive) and invalid (negative), is sent anonymously, as alice
and as an admin. Strategies come from schemathesis's Python API, as in the recipes fuzz test.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from shared.testing import auth_header

EXAMPLES_PER_MODE = 10
MEDIA_OPERATIONS = {
    "POST /media/uploads", "GET /media/jobs", "GET /media/jobs/{guid}",
    "POST /media/jobs/{guid}/retry", "DELETE /media/jobs/{guid}",
    "GET /media/outputs/{path}", "HEAD /media/outputs/{path}",
}


@pytest.fixture(scope="module")
def operations(media_api: str) -> dict[str, Any]:
    """Every operation of the schema the running API serves, by label."""
    schema = schemathesis.openapi.from_url(f"{media_api}/media/openapi.json")
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


def test_the_fuzzer_sees_every_media_route(operations: dict[str, Any]) -> None:
    """The served schema holds all media operations, so none escapes the fuzzer."""
    assert set(operations) >= MEDIA_OPERATIONS


def fuzz(operation: Any, mode: GenerationMode, base_url: str, tokens: list[str]) -> None:
    """Run ``operation`` on EXAMPLES_PER_MODE generated cases; fail on the first 5xx."""

    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode))
    def run(case: schemathesis.Case) -> None:
        anonymous = dict(case.headers or {})
        anonymous.pop("Authorization", None)
        case.headers = anonymous
        response = case.call(base_url=base_url, timeout=30)
        case.validate_response(response, checks=[not_a_server_error])
        for token in tokens:
            response = case.call(base_url=base_url, headers=auth_header(token), timeout=30)
            case.validate_response(response, checks=[not_a_server_error])

    run()


def test_no_input_makes_the_api_fail(
    operations: dict[str, Any], media_api: str, tokens: dict[str, str],
    subtests: pytest.Subtests,
) -> None:
    """Whatever schemathesis sends to any route, anonymous, as a user or an admin: < 500."""
    for label, operation in sorted(operations.items()):
        for mode in GenerationMode:
            with subtests.test(msg=f"{label} ({mode.value})"):
                try:
                    fuzz(operation, mode, media_api, [tokens["alice"], tokens["admin"]])
                except Unsatisfiable:
                    # No parameter to break (GET /healthz), or every value fits (a string path).
                    if mode is GenerationMode.POSITIVE:
                        raise
                    pytest.skip("no invalid input exists for this operation")
