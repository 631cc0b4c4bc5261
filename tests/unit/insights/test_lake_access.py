"""Every lake route has an access entry (admins), for the service's access table."""

from __future__ import annotations

from fastapi.routing import APIRoute

from services.insights.lake.access_entries import LAKE_ACCESS
from services.insights.reports_api import router
from shared.access import Access


def test_every_route_is_declared_for_admins() -> None:
    served = {f"{method} {route.path}" for route in router.routes
              if isinstance(route, APIRoute) for method in route.methods}
    assert served == set(LAKE_ACCESS)
    assert set(LAKE_ACCESS.values()) == {Access.admin}
