"""Schemathesis fuzzing of every route in the meetings OpenAPI schema: no input gives a 5xx.

Each generated case, valid (positive) and invalid (negative), is sent twice: anonymously and
with the admin's token, so the admin routes are exercised past authentication too. The
strategies come from schemathesis's Python API, as in the recipes fuzzing (its pytest plugin
reads ``Function._nodeid``, which pytest 9 no longer has).
"""

from __future__ import annotations

from typing import Any

import pytest

from devkit.fuzzing import fuzz_every_operation, schema_operations

EXAMPLES_PER_MODE = 40
MEETINGS_OPERATIONS = {
    "POST /meetings/chat", "GET /meetings", "GET /meetings/pending",
    "GET /meetings/calendar.ics", "GET /meetings/{meeting_id}", "PATCH /meetings/{meeting_id}",
    "POST /meetings/calendar/links", "DELETE /meetings/calendar/links/{link_id}",
}


@pytest.fixture(scope="module")
def operations(meetings_api: str) -> dict[str, Any]:
    """Every operation of the schema the running API serves, by label."""
    return schema_operations(f"{meetings_api}/meetings/openapi.json")


def test_the_fuzzer_sees_every_meetings_route(operations: dict[str, Any]) -> None:
    """The served schema holds all meetings operations, so none escapes the fuzzer."""
    assert set(operations) >= MEETINGS_OPERATIONS


def test_no_input_makes_the_api_fail(
    operations: dict[str, Any], meetings_api: str, tokens: dict[str, str],
    subtests: pytest.Subtests,
) -> None:
    """Whatever schemathesis sends to any route, with or without a token, the answer is < 500."""
    fuzz_every_operation(operations, meetings_api, [tokens["admin"]], examples=EXAMPLES_PER_MODE,
                         subtests=subtests)
