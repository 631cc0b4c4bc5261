"""HTTP routes of the stock-ingest service (prefix /stocks)."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, status

from services.stock_ingest import logic
from services.stock_ingest.archive import batch_id as batch_id_of
from services.stock_ingest.candles import CandleSeries, Interval, candles_from_partitions
from services.stock_ingest.container import StockIngestContainer
from services.stock_ingest.models import (
    MAX_BATCH,
    SymbolList,
    TickBodyError,
    TickPage,
    TickReceipt,
    validate_ticks,
)
from services.stock_ingest.settings import StockIngestSettings
from services.stock_ingest.store import TickArchive, TickStore
from shared.auth import Machine, machine_scope
from shared.cognito import INGEST_SCOPE
from shared.dynamo import decode_cursor, encode_cursor
from shared.errors import (
    ProblemError,
    UnprocessableError,
)
from shared.http import from_container, settings_of

router = APIRouter(prefix="/stocks", tags=["stocks"])


Store = Annotated[TickStore, Depends(from_container(StockIngestContainer, lambda c: c.store))]
Archive = Annotated[TickArchive,
                    Depends(from_container(StockIngestContainer, lambda c: c.archive))]
Settings = Annotated[StockIngestSettings, Depends(settings_of(StockIngestSettings))]
# Producers are machines: a client-credentials token with the scope stocks/ingest.
Producer = Annotated[Machine, Depends(machine_scope(INGEST_SCOPE))]


async def symbol_path(
    symbol: Annotated[str, Path(pattern=r"^[A-Za-z0-9.^-]{1,10}$", description="e.g. AAPL")],
) -> str:
    return symbol.upper()


Symbol = Annotated[str, Depends(symbol_path)]
From = Annotated[datetime | None, Query(alias="from", description="ISO-8601, inclusive; "
                                        "UTC when it has no offset")]
To = Annotated[datetime | None, Query(alias="to", description="ISO-8601, exclusive")]

TICKS_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"oneOf": [
        {"$ref": "#/components/schemas/TickCreate"},
        {"$ref": "#/components/schemas/TickBatchCreate"},
    ]}}},
}


@router.post(
    "/ticks", status_code=status.HTTP_202_ACCEPTED, summary="Record ticks",
    description=(
        f"One tick, or `{{\"ticks\": [...]}}` with 1..{MAX_BATCH}. Each tick is validated on "
        "its own: good ones are recorded, bad ones reported by index. A tick without `id` gets "
        "one derived from its content, so a retried request is deduplicated end to end. "
        "202 comes only once every accepted tick is in the archive and the table and its "
        "events are committed to the outbox (published within about a second). "
        f"Producers only: a machine client's access token with the scope `{INGEST_SCOPE}` "
        "(OAuth 2.0 client credentials at the user pool's token endpoint); 401 without one, "
        "403 for a user's token."
    ),
    openapi_extra={"requestBody": TICKS_BODY},
    responses={400: {"description": "Not JSON"},
               401: {"description": "No valid bearer token"},
               403: {"description": f"Not a machine token with the scope {INGEST_SCOPE}"},
               413: {"description": "Body larger than 512 KiB"},
               422: {"description": "No valid tick, or not a tick body"}},
)
async def record_ticks(request: Request, store: Store, archive: Archive,
                       _producer: Producer) -> TickReceipt:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ProblemError("request body is not valid JSON") from None
    received_at = datetime.now(UTC)
    try:
        batch = validate_ticks(body, now=received_at)
    except TickBodyError as exc:
        raise UnprocessableError(str(exc)) from None
    if not batch.ticks:
        raise UnprocessableError(
            "no valid tick in the request", rejected=[r.model_dump() for r in batch.rejected],
            errors=logic.rejection_errors(batch.rejected, batch=isinstance(body, dict)
                                          and "ticks" in body))
    batch_id = batch_id_of(batch.ticks)
    groups = logic.by_symbol(batch.ticks)
    # Durable first (archive and table), then counted and announced together: each symbol's
    # statistics and its event commit in one transaction (the outbox). A failure on the way
    # answers 503: the client's retry repeats every step without a second effect (same keys,
    # a batch id counted once, the same event ids).
    await asyncio.gather(archive.put(batch_id, batch.ticks),
                         store.record(batch.ticks, received_at))
    events = {e.subject: e for e in logic.recorded_events(batch_id, groups)}
    await store.count(batch_id, [logic.SymbolBatch.of(s, t) for s, t in groups.items()], events)
    return TickReceipt(accepted=len(batch.ticks), duplicates=batch.duplicates,
                       rejected=batch.rejected, batch_id=batch_id)


@router.get("/symbols", summary="Symbols seen, with first/last tick time and tick count")
async def list_symbols(store: Store) -> SymbolList:
    return SymbolList(items=await store.symbols())


@router.get("/{symbol}/ticks", summary="A symbol's curated ticks in time order")
async def list_ticks(
    symbol: Symbol,
    store: Store,
    start: From = None,
    end: To = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> TickPage:
    start, end = logic.optional_range(start, end)
    items, last_key = await store.page(symbol, start, end, limit=limit,
                                       after=decode_cursor(cursor))
    return TickPage(items=items, next_cursor=encode_cursor(last_key))


@router.get(
    "/{symbol}/candles", summary="OHLCV candles from the raw archive (DuckDB)",
    description=(
        "Reads only the archive's hour partitions that overlap [from, to). Defaults: `to` = "
        "now, `from` = one day before `to`; at most `STOCK_CANDLES_MAX_HOURS` (31 days) at once, "
        "and at most `STOCK_CANDLES_MAX_BYTES` of archive objects (256 MiB gzipped): a range "
        "holding more is 422, asking for less. Buckets align to the UTC epoch; empty "
        "buckets are left out."
    ),
    responses={422: {"description": "Bad range: reversed, too long, or its archive weighs "
                                    "more than STOCK_CANDLES_MAX_BYTES"}},
)
async def get_candles(
    symbol: Symbol,
    archive: Archive,
    settings: Settings,
    interval: Interval = Interval.minute,
    start: From = None,
    end: To = None,
) -> CandleSeries:
    start, end = logic.time_range(start, end, now=datetime.now(UTC),
                                  default_span=timedelta(days=1),
                                  max_span=timedelta(hours=settings.stock_candles_max_hours))
    # Sizes first: a range heavier than the bound is refused before anything is read. Then
    # objects stream to a private folder and DuckDB reads them one hour partition at a time,
    # so neither the objects nor the range's ticks are ever in memory whole.
    partitions = await archive.listing(start, end)
    weight = sum(size for objects in partitions for _, size in objects)
    if weight > settings.stock_candles_max_bytes:
        raise UnprocessableError(
            f"the range holds {weight} bytes of archive objects, more than STOCK_CANDLES_MAX_BYTES "
            f"({settings.stock_candles_max_bytes}); ask for a shorter range",
            max_bytes=settings.stock_candles_max_bytes, range_bytes=weight)
    with tempfile.TemporaryDirectory(prefix="candles-") as folder:
        paths = iter(await archive.download(
            [key for objects in partitions for key, _ in objects], FilePath(folder)))
        groups = [[next(paths) for _ in objects] for objects in partitions]
        candles = await asyncio.to_thread(
            candles_from_partitions, groups, symbol, interval, start, end,
            memory_limit_mb=settings.stock_candles_memory_mb)
    return CandleSeries(symbol=symbol, interval=interval, start=start, end=end, items=candles)
