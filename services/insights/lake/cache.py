"""A process's local copy of the curated zone, which DuckDB reads from disk.

Curated objects are immutable (a key is written once; merged files replace run files under
new keys, `layout.live_files`), so a copy never goes stale: a sync lists the zone, fetches
the keys it lacks and drops the files the lake no longer lists. DuckDB then reads local
Parquet with its full speed (footers, statistics, projection) and no network in the query.

A copy with a ``budget`` holds the days it was asked for, not the whole zone: `refresh`
lists the zone and keeps the days it holds current, `ensure` fetches the days a query reads,
and `trim` drops the least recently read days until the copy fits its budget again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from services.insights.lake.layout import (
    TABLES,
    CuratedKey,
    Table,
    curated_prefix,
    live_files,
    parse_curated_key,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

DOWNLOADS_AT_ONCE = 16


async def list_keys(s3: S3Client, bucket: str, prefix: str,
                    start_after: str = "") -> list[tuple[str, int]]:
    """(key, size) of every object under ``prefix`` (after ``start_after``), in key order."""
    found: list[tuple[str, int]] = []
    request: dict[str, str] = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        request["StartAfter"] = start_after
    paginator = s3.get_paginator("list_objects_v2")
    async for page in paginator.paginate(**request):  # type: ignore[arg-type]
        found += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
    return found


async def download(s3: S3Client, bucket: str, keys: Iterable[str], root: Path) -> list[Path]:
    """Fetch ``keys`` to ``root/<key>`` (``DOWNLOADS_AT_ONCE`` at a time); their paths."""
    gate = asyncio.Semaphore(DOWNLOADS_AT_ONCE)

    async def one(key: str) -> Path:
        async with gate:
            response = await s3.get_object(Bucket=bucket, Key=key)
            async with response["Body"] as body:
                data = await body.read()
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, path)
        return path

    return list(await asyncio.gather(*(one(k) for k in keys)))


def _day(key: str) -> date | None:
    parsed = parse_curated_key(key)
    return parsed.day if parsed else None


@dataclass
class LakeCache:
    """The curated zone under ``root`` (``root/curated/<table>/dt=.../<file>.parquet``)."""

    root: Path
    # Bytes the copy may hold between requests (None: no bound); see `trim`.
    budget: int | None = None
    synced_at: float = 0.0
    keys: dict[Table, set[str]] = field(default_factory=lambda: {t: set() for t in TABLES})
    # The zone as last listed by `refresh` (key -> size), and when each held day was read.
    listed: dict[str, int] | None = None
    read_at: dict[date, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for table in TABLES:
            folder = self.root / curated_prefix(table)
            if folder.exists():
                self.keys[table] = {str(p.relative_to(self.root))
                                    for p in folder.rglob("*.parquet")}

    def days_held(self) -> set[date]:
        return {d for t in TABLES for d in map(_day, self.keys[t]) if d is not None}

    async def refresh(self, s3: S3Client, bucket: str) -> int:
        """List the zone; drop the files it no longer lists and fetch the new files of the
        days the copy holds (all days when it has no budget). Files fetched."""
        listed = await asyncio.gather(*(list_keys(s3, bucket, curated_prefix(t))
                                        for t in TABLES))
        self.listed = {key: size for keys in listed for key, size in keys}
        held = None if self.budget is None else self.days_held()
        wanted = {key for key in self.listed if held is None or _day(key) in held}
        fetched = await self._fetch(s3, bucket, wanted)
        for table in TABLES:
            for key in [k for k in self.keys[table] if k not in self.listed]:
                self.drop(key)
        self.synced_at = time.monotonic()
        return fetched

    async def ensure(self, s3: S3Client, bucket: str, days: Collection[date] | None) -> int:
        """Fetch the listed files of ``days`` (None: every day) the copy lacks, and mark
        those days read now. Files fetched."""
        if self.listed is None:
            await self.refresh(s3, bucket)
        assert self.listed is not None
        wanted = {key for key in self.listed if days is None or _day(key) in days}
        now = time.monotonic()
        for day in (days if days is not None else {_day(k) for k in wanted}):
            if day is not None:
                self.read_at[day] = now
        return await self._fetch(s3, bucket, wanted)

    def trim(self, keep: Collection[date] = ()) -> list[date]:
        """Drop whole days, least recently read first (never those in ``keep``), until the
        copy fits its budget; the days dropped."""
        if self.budget is None:
            return []
        held: dict[date, list[str]] = {}
        for table in TABLES:
            for key in self.keys[table]:
                day = _day(key)
                if day is not None:
                    held.setdefault(day, []).append(key)
        size = sum(self._size(k) for keys in held.values() for k in keys)
        dropped = []
        for day in sorted(set(held) - set(keep), key=lambda d: (self.read_at.get(d, 0.0), d)):
            if size <= self.budget:
                break
            for key in held[day]:
                size -= self._size(key)
                self.drop(key)
            self.read_at.pop(day, None)
            dropped.append(day)
        return dropped

    def _size(self, key: str) -> int:
        try:
            return (self.root / key).stat().st_size
        except FileNotFoundError:
            return 0

    async def _fetch(self, s3: S3Client, bucket: str, wanted: set[str]) -> int:
        have = {k for t in TABLES for k in self.keys[t]}
        missing = sorted(wanted - have)
        await download(s3, bucket, missing, self.root)
        for key in missing:
            self.keys[key.split("/")[1]].add(key)  # type: ignore[index]
        return len(missing)

    async def sync(self, s3: S3Client, bucket: str, tables: Iterable[Table] = TABLES,
                   days: Iterable[date] | None = None) -> int:
        """Mirror the listed tables (only ``days`` of them if given); files fetched."""
        wanted: set[str] = set()
        day_set = None if days is None else set(days)
        # A few days: a listing each; many (a backfill): the table's listing, filtered.
        by_day = day_set is not None and len(day_set) <= 8
        prefixes = [curated_prefix(t, d) for t in tables for d in sorted(day_set or ())] \
            if by_day else [curated_prefix(t) for t in tables]
        listed = await asyncio.gather(*(list_keys(s3, bucket, p) for p in prefixes))
        for keys in listed:
            wanted |= {key for key, _ in keys if day_set is None or _day(key) in day_set}
        if day_set is not None:
            prefixes = [curated_prefix(t, d) for t in tables for d in sorted(day_set)]
        have = {k for t in tables for k in self.keys[t]
                if days is None or any(k.startswith(p) for p in prefixes)}
        missing = sorted(wanted - have)
        await download(s3, bucket, missing, self.root)
        for key in have - wanted:
            (self.root / key).unlink(missing_ok=True)
        for table in tables:
            prefix = curated_prefix(table)
            self.keys[table] -= {k for k in have - wanted if k.startswith(prefix)}
            self.keys[table] |= {k for k in missing if k.startswith(prefix)}
        if days is None:
            self.synced_at = time.monotonic()
        self.read_at.update(dict.fromkeys(day_set or (), time.monotonic()))
        return len(missing)

    def add(self, key: str, source: Path) -> None:
        """Adopt a file this process wrote to the lake itself (moved, not copied)."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, path)
        table = key.split("/")[1]
        self.keys[table].add(key)  # type: ignore[index]

    def drop(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)
        self.keys[key.split("/")[1]].discard(key)  # type: ignore[index]

    def live(self, table: Table, start: date | None = None,
             end: date | None = None) -> list[CuratedKey]:
        """The files a reader reads for days ``start..end`` (inclusive; None: all)."""
        return [k for k in live_files(self.keys[table])
                if (start is None or k.day >= start) and (end is None or k.day <= end)]

    def paths(self, table: Table, start: date | None = None,
              end: date | None = None) -> list[str]:
        return [str(self.root / k.key) for k in self.live(table, start, end)]

    def size(self, paths: Iterable[str]) -> int:
        return sum(Path(p).stat().st_size for p in paths)
