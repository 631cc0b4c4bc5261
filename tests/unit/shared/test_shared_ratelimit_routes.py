"""Which routes take a rate-limit token: every write nobody signs in for is limited by client
address, and the routes named in the README carry the limit they say (read from the routers'
dependency trees, no server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from services.insights.api import router as insights
from services.media_jobs.api import router as media_jobs
from services.meetings.api import router as meetings
from services.recipes.api import router as recipes
from services.trend.api import router as trend
from shared.auth import current_user
from shared.ratelimit import _limit_client, _limit_user

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# stock-ingest's POST /stocks/ticks is moving to machine credentials in a change of its own.
ROUTERS = {"recipes": recipes, "meetings": meetings, "media-jobs": media_jobs, "trend": trend,
           "insights": insights}


def calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from calls(sub)


def routes(router: APIRouter) -> Iterator[tuple[str, str, set[Any]]]:
    for route in router.routes:
        if isinstance(route, APIRoute):
            for method in route.methods:
                yield method, route.path, set(calls(route.dependant))


def limits(router: APIRouter) -> dict[tuple[str, str], str]:
    return {(method, path): "client" if _limit_client in deps else "user"
            for method, path, deps in routes(router) if {_limit_client, _limit_user} & deps}


@pytest.mark.parametrize("service", sorted(ROUTERS))
def test_every_write_without_a_user_is_limited_by_client(service: str) -> None:
    anonymous_writes = [(method, path) for method, path, deps in routes(ROUTERS[service])
                        if method in WRITES and current_user not in deps]
    assert all(limits(ROUTERS[service]).get(w) == "client" for w in anonymous_writes), (
        anonymous_writes)


def test_the_limited_routes_are_the_documented_ones() -> None:
    assert limits(meetings) == {("POST", "/meetings/chat"): "client",
                                ("GET", "/meetings/calendar.ics"): "client"}
    assert limits(recipes) == {
        ("POST", "/recipes"): "user", ("PUT", "/recipes/{recipe_id}"): "user",
        ("DELETE", "/recipes/{recipe_id}"): "user",
        ("POST", "/recipes/{recipe_id}/likes"): "user",
        ("DELETE", "/recipes/{recipe_id}/likes"): "user"}
    assert limits(media_jobs) == {("POST", "/media/uploads"): "user"}
    assert limits(insights) == {("POST", "/insights/events"): "client",
                                ("POST", "/insights/hits"): "client",
                                ("GET", "/insights/hits"): "client"}
