"""DynamoDB access for curated ticks and symbol statistics; S3 access for the raw archive."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.stock_ingest import logic
from services.stock_ingest.archive import ARCHIVE_SUFFIX, archive_objects, partition_prefixes
from services.stock_ingest.models import CuratedTick, SymbolSummary, Tick, format_timestamp
from shared.dynamo import (
    all_items,
    batch_get,
    batch_write,
    condition_failed,
    from_item,
    query_page,
    start_key,
    to_item,
    to_value,
)
from shared.errors import AwsUnavailableError
from shared.events import CloudEvent
from shared.faults import fault_point
from shared.outbox import Outbox

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import PutTypeDef
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import ListObjectsV2RequestTypeDef

TICK_KEYS = {"symbol": "S", "tick_key": "S"}
STATISTICS_ATTEMPTS = 6
# Batch ids a symbol's row remembers: a retry arriving later than this many other requests for
# the same symbol would be counted again.
RECENT_BATCHES = 32


def _curated_item(tick: Tick, recorded_at: str) -> dict[str, Any]:
    # Few attributes on purpose: time and id live in the sort key, the full tick in the archive.
    return to_item({"symbol": tick.symbol, "tick_key": logic.tick_key(tick), "price": tick.price,
                    "volume": tick.volume, "exchange": tick.exchange, "recorded_at": recorded_at})


def _curated(item: dict[str, Any]) -> CuratedTick:
    document = from_item(item)
    at, _, tick_id = document.pop("tick_key").partition("#")
    document.pop("recorded_at", None)
    return CuratedTick.model_validate({**document, "timestamp": at, "id": tick_id})


def _summary(item: dict[str, Any]) -> SymbolSummary:
    return SymbolSummary.model_validate(from_item(item))  # extra attributes are ignored


class TickStore:
    """Curated ticks (one item per tick) and per-symbol statistics, in the service's tables."""

    def __init__(self, dynamodb: DynamoDBClient, *, ticks_table: str, symbols_table: str,
                 outbox: Outbox, write_concurrency: int = 4) -> None:
        self.dynamodb = dynamodb
        self.outbox = outbox
        self.ticks_table = ticks_table
        self.symbols_table = symbols_table
        self.write_concurrency = write_concurrency

    async def record(self, ticks: Sequence[Tick], recorded_at: datetime) -> None:
        """Write every tick (idempotent: a tick's key is its time and id)."""
        recorded = format_timestamp(recorded_at)
        requests = [{"PutRequest": {"Item": _curated_item(t, recorded)}} for t in ticks]
        await batch_write(self.dynamodb, {self.ticks_table: requests},
                          concurrency=self.write_concurrency)

    async def count(self, batch_id: str, batches: Sequence[logic.SymbolBatch],
                    events: Mapping[str | None, CloudEvent]) -> None:
        """Add a request's ticks to its symbols' statistics, once per batch id, and queue each
        symbol's ``stock.ticks.recorded`` event (``events`` by symbol) with its count.

        One consistent read of every symbol's row, then one transaction per symbol: the row,
        conditional on the version read, and the symbol's event in the outbox. A row remembers
        the last `RECENT_BATCHES` batch ids it counted, so a retried request is neither counted
        nor announced twice. A symbol whose row moved meanwhile (a concurrent request) is read
        and written again.
        """
        pending = list(batches)
        for attempt in range(STATISTICS_ATTEMPTS):
            current = await self._rows([b.symbol for b in pending])
            written = await asyncio.gather(
                *(self._count_one(batch_id, b, current.get(b.symbol), events[b.symbol])
                  for b in pending))
            pending = [b for b, done in zip(pending, written, strict=True) if not done]
            if not pending:
                fault_point("stock.ticks.committed")
                return
            await asyncio.sleep(random.uniform(0, 0.05 * 2**attempt))
        raise AwsUnavailableError("symbol statistics kept changing under concurrent requests")

    async def _count_one(self, batch_id: str, batch: logic.SymbolBatch,
                         row: dict[str, Any] | None, event: CloudEvent) -> bool:
        recent = row["recent_batches"] if row else []
        if batch_id in recent:
            return True  # a retried request: counted and announced already
        current = SymbolSummary.model_validate(row) if row else None
        version = row["version"] if row else 0
        item = {
            **logic.merged(current, batch).model_dump(mode="json"),
            "version": version + 1,
            "recent_batches": [*recent, batch_id][-RECENT_BATCHES:],
        }
        put: PutTypeDef = {
            "TableName": self.symbols_table,
            "Item": to_item(item),
            "ConditionExpression": ("version = :version" if version
                                    else "attribute_not_exists(symbol)"),
        }
        if version:
            put["ExpressionAttributeValues"] = {":version": to_value(version)}
        try:
            await self.outbox.commit([{"Put": put}], [event])
        except ClientError as exc:
            if condition_failed(exc, 0):
                return False
            raise
        return True

    async def _rows(self, symbols: list[str]) -> dict[str, dict[str, Any]]:
        found = await batch_get(self.dynamodb,
                                {self.symbols_table: [{"symbol": {"S": s}} for s in symbols]},
                                consistent=True)
        return {item["symbol"]["S"]: from_item(item) for item in found[self.symbols_table]}

    async def page(
        self, symbol: str, start: datetime | None, end: datetime | None, *, limit: int,
        after: dict[str, Any] | None,
    ) -> tuple[list[CuratedTick], dict[str, Any] | None]:
        """One page of a symbol's ticks with ``start <= timestamp < end``, oldest first."""
        low = logic.key_time(start) if start else logic.LOWEST_KEY
        high = logic.key_time(end) if end else logic.HIGHEST_KEY
        request: dict[str, Any] = {
            "TableName": self.ticks_table,
            # "<end>" sorts before "<end>#<id>": ticks at exactly `end` are excluded.
            "KeyConditionExpression": "symbol = :symbol AND tick_key BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":symbol": {"S": symbol}, ":low": {"S": low},
                                          ":high": {"S": high}},
            "Limit": limit,
        }
        key = start_key(after, TICK_KEYS, partition={"symbol": symbol})
        items, last_key = await query_page(self.dynamodb, request, key)
        return [_curated(i) for i in items], last_key

    async def symbols(self) -> list[SymbolSummary]:
        """Every symbol with ticks, alphabetically (one small table, read whole)."""
        items = await all_items(self.dynamodb.scan, {"TableName": self.symbols_table})
        return sorted((_summary(i) for i in items), key=lambda s: s.symbol)


class TickArchive:
    """The raw tick archive in S3 (layout: services.stock_ingest.archive)."""

    DOWNLOAD_CHUNK = 1 << 20  # bytes read from S3 at a time by `download`

    def __init__(self, s3: S3Client, bucket: str, *, fetch_concurrency: int = 16) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.fetch_concurrency = fetch_concurrency

    async def put(self, batch_id: str, ticks: Sequence[Tick]) -> list[str]:
        """Archive a batch: one object per UTC hour its ticks touch; returns the keys."""
        objects = archive_objects(batch_id, ticks)
        await asyncio.gather(*(
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body,
                               ContentType="application/x-ndjson", ContentEncoding="gzip")
            for key, body in objects
        ))
        return [key for key, _ in objects]

    async def keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix``."""
        keys: list[str] = []
        request: ListObjectsV2RequestTypeDef = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            response = await self.s3.list_objects_v2(**request)
            keys += [o["Key"] for o in response.get("Contents", [])]
            if not response.get("IsTruncated"):
                return keys
            request["ContinuationToken"] = response["NextContinuationToken"]

    async def sizes(self, prefix: str) -> list[tuple[str, int]]:
        """(key, size in bytes) of every object under ``prefix``."""
        found: list[tuple[str, int]] = []
        request: ListObjectsV2RequestTypeDef = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            response = await self.s3.list_objects_v2(**request)
            found += [(o["Key"], int(o["Size"])) for o in response.get("Contents", [])]
            if not response.get("IsTruncated"):
                return found
            request["ContinuationToken"] = response["NextContinuationToken"]

    async def listing(self, start: datetime, end: datetime) -> list[list[tuple[str, int]]]:
        """(key, size) of the objects in each hour partition that can hold ticks in
        [start, end), oldest first, empty ones left out: what a candle query would read,
        known before reading any of it."""
        semaphore = asyncio.Semaphore(self.fetch_concurrency)

        async def listed(prefix: str) -> list[tuple[str, int]]:
            async with semaphore:
                return await self.sizes(prefix)

        prefixes = partition_prefixes(start, end)
        return [found for found in await asyncio.gather(*map(listed, prefixes)) if found]

    async def download(self, keys: Sequence[str], folder: Path) -> list[Path]:
        """Stream objects to files in ``folder``, `DOWNLOAD_CHUNK` bytes at a time, so memory
        holds at most ``fetch_concurrency`` chunks whatever the objects weigh."""
        semaphore = asyncio.Semaphore(self.fetch_concurrency)

        async def fetched(number: int, key: str) -> Path:
            path = folder / f"{number}{ARCHIVE_SUFFIX}"
            async with semaphore:
                response = await self.s3.get_object(Bucket=self.bucket, Key=key)
                async with response["Body"] as body:
                    with path.open("wb") as file:
                        while chunk := await body.read(self.DOWNLOAD_CHUNK):
                            file.write(chunk)
            return path

        return list(await asyncio.gather(*(fetched(n, k) for n, k in enumerate(keys))))
