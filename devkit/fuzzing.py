"""Schemathesis fuzzing of a running service, shared by every service's test suite.

The strategies come from schemathesis's Python API; its pytest plugin
(``schema.parametrize``) reads ``Function._nodeid``, which pytest 9 no longer has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from devkit.testing import auth_header


def schema_operations(openapi_url: str) -> dict[str, Any]:
    """Every operation of the schema a running API serves, by ``"METHOD /path"``."""
    schema = schemathesis.openapi.from_url(openapi_url)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


def fuzz_operation(operation: Any, mode: Any, base_url: str, tokens: Sequence[str], *,
                   examples: int) -> None:
    """Send ``examples`` generated cases, anonymously and with each token; fail on a 5xx."""

    @settings(max_examples=examples, deadline=None, database=None,
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


def fuzz_every_operation(operations: dict[str, Any], base_url: str, tokens: Sequence[str], *,
                         examples: int, subtests: Any) -> None:
    """`fuzz_operation` on every operation, valid and invalid cases, one subtest each."""
    for label, operation in sorted(operations.items()):
        for mode in GenerationMode:
            with subtests.test(msg=f"{label} ({mode.value})"):
                try:
                    fuzz_operation(operation, mode, base_url, tokens, examples=examples)
                except Unsatisfiable:
                    # No parameter to break (GET /healthz), or every value fits (a string id).
                    if mode is GenerationMode.POSITIVE:
                        raise
                    pytest.skip("no invalid input exists for this operation")
