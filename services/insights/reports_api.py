"""The report routes and ``POST /insights/sql`` (admins only): DuckDB over the lake's
curated zone (services.insights.lake). The service's app includes ``router``; its container
holds the reader as ``lake`` (``lake=await build_lake_reader(aws, resources)`` in
``build_container``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.insights.lake.reader import LakeReader
from services.insights.lake.reports import (
    Breakdown,
    Dimension,
    Funnel,
    Interval,
    Metric,
    Overview,
    Platform,
    ReportError,
    Timeseries,
    Window,
    parse_steps,
    parse_window,
)
from services.insights.lake.sqlguard import SqlRefusedError
from shared.auth import AdminUser
from shared.errors import UnprocessableError
from shared.http import Responses, state_of

router = APIRouter(prefix="/insights", tags=["insights reports"])


async def lake_of(request: Request) -> LakeReader:
    """The ``lake`` of the service's container (whatever else the container holds)."""
    lake = getattr(state_of(request, object, "container"), "lake", None)
    if not isinstance(lake, LakeReader):
        raise TypeError(f"the container's lake is a {type(lake).__name__}, not a LakeReader")
    return lake


Lake = Annotated[LakeReader, Depends(lake_of)]
REFUSED: Responses = {422: {"description": "Parameters out of range, or the SQL refused"}}


async def window_of(
    start: Annotated[str | None, Query(alias="from", max_length=40,
                                       description="YYYY-MM-DD or ISO timestamp")] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40,
                                     description="YYYY-MM-DD (inclusive) or ISO timestamp")]
    = None,
    tz: Annotated[str, Query(max_length=64, description="IANA time zone")] = "UTC",
) -> Window:
    try:
        return parse_window(start, end, tz)
    except ReportError as exc:
        raise UnprocessableError(str(exc)) from None


Span = Annotated[Window, Depends(window_of)]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/reports/overview", summary="Visitors, visits, pageviews, events, bounce rate, "
            "visit duration", responses=REFUSED)
async def overview(_: AdminUser, lake: Lake, window: Span, limit: Limit = 100) -> Overview:
    return await lake.run(lambda: lake.engine.overview(window))


@router.get("/reports/timeseries", summary="A metric per hour or day", responses=REFUSED)
async def timeseries(_: AdminUser, lake: Lake, window: Span, metric: Metric = "visitors",
                     interval: Interval = "day", limit: Limit = 100) -> Timeseries:
    if interval == "hour" and (window.end - window.start).days > 31:
        raise UnprocessableError("hourly series span at most 31 days")
    items = await lake.run(lambda: lake.engine.timeseries(window, metric, interval))
    return Timeseries(items=items)


@router.get("/reports/breakdown", summary="Top values of a dimension", responses=REFUSED)
async def breakdown(_: AdminUser, lake: Lake, window: Span, by: Dimension = "page",
                    limit: Limit = 100) -> Breakdown:
    return Breakdown(items=await lake.run(lambda: lake.engine.breakdown(window, by, limit)))


@router.get("/reports/funnel", summary="Visits reaching ordered steps", responses=REFUSED)
async def funnel(_: AdminUser, lake: Lake, window: Span,
                 steps: Annotated[str, Query(max_length=1000, description=(
                     "comma-separated: /path (a page) or event:name (a track event)"))],
                 limit: Limit = 100) -> Funnel:
    try:
        parsed = parse_steps(steps)
    except ReportError as exc:
        raise UnprocessableError(str(exc)) from None
    return Funnel(items=await lake.run(lambda: lake.engine.funnel(window, parsed)))


@router.get("/reports/platform", summary="Business events per day and type",
            responses=REFUSED)
async def platform(_: AdminUser, lake: Lake, window: Span, limit: Limit = 100) -> Platform:
    return Platform(items=await lake.run(lambda: lake.engine.platform(window, limit)))


class SqlQuery(BaseModel):
    sql: str = Field(min_length=1, max_length=20_000)


class SqlAnswer(BaseModel):
    columns: list[str]
    rows: list[list[object]]
    truncated: bool


@router.post("/sql", summary="One read-only SELECT over the views events, pageviews, "
             "visits, platform_events, bad_rows", responses=REFUSED)
async def sql(body: SqlQuery, _: AdminUser, lake: Lake) -> SqlAnswer:
    try:
        result = await lake.sql(body.sql)
    except SqlRefusedError as exc:
        raise UnprocessableError(str(exc)) from None
    return SqlAnswer(columns=result.columns, rows=result.rows, truncated=result.truncated)


