"""What the API reads the lake through: the local copy of the curated zone, listed again when
older than the refresh interval (one sync at a time), holding the days the queries read
within its budget (INSIGHTS_LAKE_COPY_MB; the least recently read days leave first), the
report engine over it, and the analysts' SQL runner. Built once per API process
(`build_lake_reader`) into the service's container as its ``lake``; the routes reach it
through their ``Lake`` dependency (services.insights.api)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from services.insights.lake.cache import LakeCache
from services.insights.lake.layout import Table
from services.insights.lake.reports import ReportEngine, Window
from services.insights.lake.sqlguard import SqlResult, run_sql
from services.insights.settings import InsightsSettings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

    from shared.aws import AwsClients
    from shared.topology import Resources

T = TypeVar("T")


@dataclass
class LakeReader:
    s3: S3Client
    bucket: str
    cache: LakeCache
    settings: InsightsSettings
    engine: ReportEngine = field(init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # DuckDB runs in worker threads; one report at a time per process keeps a query's two
    # threads its own (the API's event loop stays free meanwhile).
    _queries: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))

    def __post_init__(self) -> None:
        self.engine = ReportEngine(self._files, sessions_root=self.cache.root / "sessions",
                                   memory_mb=self.settings.insights_duckdb_memory_mb,
                                   threads=self.settings.insights_duckdb_threads)

    def _files(self, table: Table, first: date | None, last: date | None) -> list[str]:
        return self.cache.paths(table, first, last)

    async def fresh(self) -> None:
        """Sync the copy when it is older than the refresh interval."""
        if time.monotonic() - self.cache.synced_at < self.settings.insights_lake_refresh_seconds:
            return
        async with self._lock:
            if time.monotonic() - self.cache.synced_at >= \
                    self.settings.insights_lake_refresh_seconds \
                    and await self.cache.refresh(self.s3, self.bucket):
                # New files: derive the sessions of the days they changed now, not in the
                # first visit report that asks (the current day's alone after a run).
                async with self._queries:
                    await asyncio.to_thread(self.engine.prepare)

    async def run(self, days: Collection[date] | None, call: Callable[[], T]) -> T:
        """A report (blocking DuckDB work) over ``days`` (None: all) of a fresh copy, in a
        worker thread; then the copy is trimmed to its budget (those days stay)."""
        await self.fresh()
        async with self._queries:
            await self.cache.ensure(self.s3, self.bucket, days)
            try:
                return await asyncio.to_thread(call)
            finally:
                for day in self.cache.trim(keep=days or ()):
                    shutil.rmtree(self.engine.sessions_dir(day), ignore_errors=True)

    async def report(self, window: Window, call: Callable[[], T]) -> T:
        """``run`` over the days (partitions) of a report's window."""
        return await self.run(window.days(), call)

    async def sql(self, statement: str) -> SqlResult:
        """The analysts' SQL reads every day: a lake larger than the copy's budget is
        fetched for the query and trimmed after it (in AWS, Athena serves big scans)."""
        return await self.run(None, lambda: run_sql(
            statement, root=self.cache.root,
            files=lambda table: self.cache.paths(table),  # type: ignore[arg-type]
            max_rows=self.settings.insights_sql_max_rows,
            timeout=self.settings.insights_sql_timeout_seconds,
            memory_mb=self.settings.insights_duckdb_memory_mb,
            threads=self.settings.insights_duckdb_threads))


async def build_lake_reader(aws: AwsClients, resources: Resources) -> LakeReader:
    """The API's reader of the lake: the ``lake`` of the service's container (its
    ``build_container`` sets ``lake=await build_lake_reader(aws, resources)``)."""
    settings = InsightsSettings.of(aws.settings)
    return LakeReader(await aws.client("s3"), resources.bucket("insights-lake"),
                      LakeCache(Path(settings.insights_lake_cache_dir) / "api",
                                budget=settings.insights_lake_copy_mb << 20), settings)
