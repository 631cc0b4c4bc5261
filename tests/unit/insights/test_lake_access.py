"""Every lake route (reports and SQL) is declared in the service's access table, for admins."""

from __future__ import annotations

from fastapi.routing import APIRoute

from services.insights.access import ACCESS
from services.insights.api import reports_router as router
from shared.access import Access


def test_every_lake_route_is_declared_for_admins() -> None:
    served = {f"{method} {route.path}" for route in router.routes
              if isinstance(route, APIRoute) for method in route.methods}
    assert served and {ACCESS.get(route) for route in served} == {Access.admin}
