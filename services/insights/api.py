"""HTTP routes of the insights service written by the core: the collector and the visitor
counter (prefix /insights)."""

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
from services.insights.models import Collected, EventBatch, EventIn, HitCount, HitIn, Path
from services.insights.settings import InsightsSettings
from shared.http import Responses, from_container, settings_of
from shared.ratelimit import RATE_LIMITED, ClientRateLimited, client_address

router = APIRouter(prefix="/insights", tags=["insights"])

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
