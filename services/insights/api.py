"""HTTP routes of the insights service (prefix /insights): the collector and the visitor
counter (anyone, rate-limited), the reports and the analysts' SQL (admins)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from services.insights.collect import Context, collect, events_of
from services.insights.container import InsightsContainer
from services.insights.enrich import classify_agent, do_not_track, visitor_hash
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
from services.insights.models import (
    Collected,
    EventBatch,
    EventIn,
    HitCount,
    HitIn,
    Path,
    SqlAnswer,
    SqlQuery,
)
from services.insights.settings import InsightsSettings
from shared.auth import AdminUser
from shared.errors import UnprocessableError
from shared.http import Responses, from_container, settings_of
from shared.ratelimit import RATE_LIMITED, ClientRateLimited, client_address

router = APIRouter(prefix="/insights", tags=["insights"])
# Admins only: DuckDB over the lake's curated zone, read through the container's ``lake``.
reports_router = APIRouter(prefix="/insights", tags=["reports"])

Container = Annotated[InsightsContainer, Depends(from_container(InsightsContainer, lambda c: c))]
Settings = Annotated[InsightsSettings, Depends(settings_of(InsightsSettings))]

UNAVAILABLE: Responses = {503: {"description": "Not stored: send again after `Retry-After`"}}


async def _visitor(container: InsightsContainer, settings: InsightsSettings, request: Request,
                   agent: str, excluded: bool) -> tuple[datetime, str | None]:
    """Now, and the request's visitor hash (None when it asked not to be tracked or is a bot)."""
    if excluded:
        return datetime.now(UTC), None
    day_and_salt = await container.salts.today()
    now = datetime.now(UTC)
    return now, visitor_hash(day_and_salt[1], settings.insights_site, client_address(request),
                             agent)


@router.post(
    "/events", status_code=status.HTTP_202_ACCEPTED, response_model=Collected,
    summary="Collect page and track events (one, or up to 500 as {events: [...]})",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": TypeAdapter(EventIn | EventBatch).json_schema()}}}},
    responses={**RATE_LIMITED, **UNAVAILABLE,
               413: {"description": "Body larger than 512 KiB"},
               422: {"description": "Not an event or a batch (a bad event is only rejected)"}})
async def collect_events(request: Request, container: Container, settings: Settings,
                         _limited: ClientRateLimited) -> Response:
    body = await request.body()
    events = events_of(body)  # BodyError: 422 problem+json
    headers = request.headers
    agent = classify_agent(headers.get("user-agent", ""))
    excluded = agent.bot or do_not_track(headers.get("dnt"), headers.get("sec-gpc"))
    received_at, visitor = await _visitor(container, settings, request,
                                          headers.get("user-agent", ""), excluded)
    context = Context(
        received_at=received_at, visitor=visitor,
        country=container.geo.country(client_address(request)),
        browser=agent.browser, os=agent.os, device=agent.device, bot=agent.bot,
        site=settings.insights_site, nonce=uuid.uuid4().hex,
        max_future=timedelta(seconds=settings.insights_max_future_seconds),
        max_past=timedelta(seconds=settings.insights_max_past_seconds))
    batch = collect(events, context)
    await container.collector.write(batch.rows, batch.bad)
    return JSONResponse({"accepted": batch.accepted, "duplicates": batch.duplicates,
                         "rejected": batch.rejected}, status_code=status.HTTP_202_ACCEPTED)


def _cors(request: Request, response: Response, settings: InsightsSettings) -> None:
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") in settings.insights_cors_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"


@router.post("/hits", summary="Count a view of a page; its views and visitors today",
             responses=RATE_LIMITED)
async def count_hit(body: HitIn, request: Request, response: Response, container: Container,
                    settings: Settings, _limited: ClientRateLimited) -> HitCount:
    _cors(request, response, settings)
    agent_string = request.headers.get("user-agent", "")
    agent = classify_agent(agent_string)
    excluded = agent.bot or do_not_track(request.headers.get("dnt"),
                                         request.headers.get("sec-gpc"))
    now, visitor = await _visitor(container, settings, request, agent_string, excluded)
    return await container.counter.hit(body.path, now.date(), visitor)


@router.get("/hits", summary="A page's views and visitors today, without counting",
            responses=RATE_LIMITED)
async def read_hits(path: Annotated[Path, Query(description="The page's path, e.g. /about")],
                    request: Request, response: Response, container: Container,
                    settings: Settings, _limited: ClientRateLimited) -> HitCount:
    _cors(request, response, settings)
    return await container.counter.read(path, datetime.now(UTC).date())


@router.options("/hits", status_code=status.HTTP_204_NO_CONTENT,
                summary="CORS preflight of the counter", response_model=None)
async def preflight_hits(request: Request, settings: Settings) -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _cors(request, response, settings)
    if "Access-Control-Allow-Origin" in response.headers:
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


# --- reports and SQL (admins) ------------------------------------------------------------

Lake = Annotated[LakeReader, Depends(from_container(InsightsContainer, lambda c: c.lake))]
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


@reports_router.get("/reports/overview", summary="Visitors, visits, pageviews, events, "
                    "bounce rate, visit duration", responses=REFUSED)
async def overview(_: AdminUser, lake: Lake, window: Span, limit: Limit = 100) -> Overview:
    return await lake.report(window, lambda: lake.engine.overview(window))


@reports_router.get("/reports/timeseries", summary="A metric per hour or day", responses=REFUSED)
async def timeseries(_: AdminUser, lake: Lake, window: Span, metric: Metric = "visitors",
                     interval: Interval = "day", limit: Limit = 100) -> Timeseries:
    if interval == "hour" and (window.end - window.start).days > 31:
        raise UnprocessableError("hourly series span at most 31 days")
    items = await lake.report(window, lambda: lake.engine.timeseries(window, metric, interval))
    return Timeseries(items=items)


@reports_router.get("/reports/breakdown", summary="Top values of a dimension", responses=REFUSED)
async def breakdown(_: AdminUser, lake: Lake, window: Span, by: Dimension = "page",
                    limit: Limit = 100) -> Breakdown:
    items = await lake.report(window, lambda: lake.engine.breakdown(window, by, limit))
    return Breakdown(items=items)


@reports_router.get("/reports/funnel", summary="Visits reaching ordered steps", responses=REFUSED)
async def funnel(_: AdminUser, lake: Lake, window: Span,
                 steps: Annotated[str, Query(max_length=1000, description=(
                     "comma-separated: /path (a page) or event:name (a track event)"))],
                 limit: Limit = 100) -> Funnel:
    try:
        parsed = parse_steps(steps)
    except ReportError as exc:
        raise UnprocessableError(str(exc)) from None
    return Funnel(items=await lake.report(window, lambda: lake.engine.funnel(window, parsed)))


@reports_router.get("/reports/platform", summary="Business events per day and type",
                    responses=REFUSED)
async def platform(_: AdminUser, lake: Lake, window: Span, limit: Limit = 100) -> Platform:
    return Platform(items=await lake.report(window, lambda: lake.engine.platform(window, limit)))


@reports_router.post("/sql", summary="One read-only SELECT over the views events, "
                     "pageviews, visits, platform_events, bad_rows", responses=REFUSED)
async def sql(body: SqlQuery, _: AdminUser, lake: Lake) -> SqlAnswer:
    try:
        result = await lake.sql(body.sql)
    except SqlRefusedError as exc:
        raise UnprocessableError(str(exc)) from None
    return SqlAnswer(columns=result.columns, rows=result.rows, truncated=result.truncated)
