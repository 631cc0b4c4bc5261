"""HTTP routes of the trend service (prefix /trends)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.trend import logic
from services.trend.container import TrendContainer
from services.trend.models import AlertsPublic, SignalPage, TrendList, TrendPublic
from services.trend.store import TrendStore, engine_of
from shared.dynamo import decode_cursor, encode_cursor
from shared.errors import NotFoundError
from shared.http import Responses, from_container

router = APIRouter(prefix="/trends", tags=["trends"])


Store = Annotated[TrendStore, Depends(from_container(TrendContainer, lambda c: c.store))]


async def symbol_path(
    symbol: Annotated[str, Path(pattern=r"^[A-Za-z0-9.^-]{1,10}$", description="e.g. AAPL")],
) -> str:
    return symbol.upper()


Symbol = Annotated[str, Depends(symbol_path)]

NOT_FOUND: Responses = {
    404: {"description": "No tick of this symbol has been processed"}}


@router.get("", summary="Every symbol with its latest trend")
async def list_trends(store: Store) -> TrendList:
    return TrendList(items=await store.summaries())


@router.get("/{symbol}", summary="Current indicators of a symbol", responses=NOT_FOUND)
async def get_trend(symbol: Symbol, store: Store) -> TrendPublic:
    stored = await store.get(symbol)
    if stored is None:
        raise NotFoundError(f"no tick of {symbol} has been processed")
    # The window the worker applied last (the API's own setting may differ).
    throttle = logic.AlertThrottle.from_json(stored.alerting)
    return logic.trend_view(engine_of(stored)).model_copy(update={"alerts": AlertsPublic(
        window_seconds=int(throttle.window.total_seconds()),
        last_up=throttle.last_alert.get("up"), last_down=throttle.last_alert.get("down"),
        suppressed=throttle.suppressed)})


@router.get("/{symbol}/signals", summary="A symbol's crossover signals, newest first")
async def list_signals(
    symbol: Symbol,
    store: Store,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> SignalPage:
    items, last_key = await store.signals_page(symbol, limit=limit, after=decode_cursor(cursor))
    return SignalPage(items=items, next_cursor=encode_cursor(last_key))
