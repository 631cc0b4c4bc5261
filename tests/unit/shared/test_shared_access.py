"""The declared access tables (shared.access, services/*/access.py, collected by
devkit.access): complete against the routers, rendered in the README, and meaning what the
hostile-client suite expects."""

from __future__ import annotations

import importlib

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from devkit import access
from shared.access import ADMITTED, MACHINE_CALLER_SCOPE, Access, Caller


def served(service: str) -> set[str]:
    """``METHOD /path`` of every documented route of the service's routers (no server)."""
    package = access.services()[service]["package"]
    module = importlib.import_module(f"services.{package}.api")
    routes = set()
    for router in vars(module).values():
        if isinstance(router, APIRouter):
            for route in router.routes:
                if isinstance(route, APIRoute) and route.include_in_schema:
                    routes |= {f"{m} {route.path_format}" for m in route.methods}
    return routes


@pytest.mark.parametrize("service", list(access.services()))
def test_every_route_of_every_service_has_a_declared_owner(service: str) -> None:
    assert set(access.declared(service)) == served(service)
    assert set(access.table(service)) >= {"GET /healthz", "GET /readyz"}


def test_the_readme_holds_the_generated_table() -> None:
    assert access.readme_table() == access.markdown(), \
        "paste `python -m devkit.access --markdown` between the README's access markers"
    assert access.main(["--check"]) == 0


USERS = (Caller.user, Caller.other_user, Caller.admin)


@pytest.mark.parametrize(("rule", "expected"), [
    (Access.anyone, dict.fromkeys(Caller, ADMITTED)),
    (Access.signed_in, {Caller.nobody: 401, Caller.expired: 401, Caller.forged: 401,
                        Caller.tampered: 401, Caller.other_client: 401, Caller.machine: 403,
                        Caller.unscoped_machine: 403, **dict.fromkeys(USERS, ADMITTED)}),
    (Access.owner, {Caller.nobody: 401, Caller.expired: 401, Caller.forged: 401,
                    Caller.tampered: 401, Caller.other_client: 401, Caller.machine: 403,
                    Caller.user: ADMITTED, Caller.other_user: 403, Caller.admin: ADMITTED}),
    (Access("owner", other_user=404), {Caller.other_user: 404, Caller.user: ADMITTED}),
    (Access.admin, {Caller.nobody: 401, Caller.tampered: 401, Caller.machine: 403,
                    Caller.user: 403, Caller.other_user: 403, Caller.admin: ADMITTED}),
    (Access.machine(MACHINE_CALLER_SCOPE),
     {Caller.nobody: 401, Caller.forged: 401, Caller.machine: ADMITTED,
      Caller.unscoped_machine: 403, **dict.fromkeys(USERS, 403)}),
    (Access.machine("stocks/other"), {Caller.machine: 403, Caller.admin: 403}),
])
def test_verdicts(rule: Access, expected: dict[Caller, int | None]) -> None:
    assert {caller: rule.verdict(caller) for caller in expected} == expected
