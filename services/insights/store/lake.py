"""The lake's raw zone: gzip-compressed JSON-lines objects written once under
``raw/<zone>/dt=YYYY-MM-DD/hour=HH/<uuid4 hex>.jsonl.gz`` (the received time of the write),
and the collector's group commit that writes the events of many requests as one object.
"""

from __future__ import annotations

import asyncio
import gzip
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from shared.aws import CALL_ERRORS
from shared.errors import AwsUnavailableError
from shared.logging import get_logger

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

log = get_logger("insights.lake")

ZONES = ("web", "platform", "bad")


def raw_key(zone: str, at: datetime) -> str:
    """A fresh object key of the raw zone for a write at ``at`` (UTC)."""
    if zone not in ZONES:
        raise ValueError(f"unknown raw zone {zone!r}")
    at = at.astimezone(UTC)
    return f"raw/{zone}/dt={at:%Y-%m-%d}/hour={at:%H}/{uuid.uuid4().hex}.jsonl.gz"


def jsonl_gz(rows: Sequence[dict[str, Any]]) -> bytes:
    """Rows as gzip-compressed JSON lines (UTF-8)."""
    body = b"\n".join(orjson.dumps(row) for row in rows) + b"\n"
    return gzip.compress(body, compresslevel=3, mtime=0)


def read_jsonl_gz(body: bytes) -> list[dict[str, Any]]:
    """The rows of an object `jsonl_gz` wrote."""
    return [orjson.loads(line) for line in gzip.decompress(body).splitlines() if line]


class RawZone:
    """Writes whole objects to the raw zone of the ``insights-lake`` bucket."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    async def put(self, zone: str, rows: Sequence[dict[str, Any]],
                  at: datetime | None = None) -> str:
        """Write ``rows`` as one new object; its key."""
        key = raw_key(zone, at or datetime.now(UTC))
        body = jsonl_gz(rows)
        await self.s3.put_object(Bucket=self.bucket, Key=key, Body=body,
                                 ContentType="application/x-ndjson", ContentEncoding="gzip")
        return key


@dataclass
class _Pending:
    web: list[dict[str, Any]] = field(default_factory=list)
    bad: list[dict[str, Any]] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.web) + len(self.bad)


class GroupCommit:
    """Gathers the rows of requests that arrive within ``window`` seconds (at most
    ``max_events``), writes them as one raw/web object (and one raw/bad object when some were
    rejected), then answers every request that contributed. A failed write fails them all
    (the API answers 503 with Retry-After; the client sends the batch again and the derived
    or client ids deduplicate it). At most ``max_in_flight`` writes run at once: while they do,
    the next group keeps filling, so under load a group is as large as the write latency lets
    it be, and the AWS calls per event fall as the load grows.
    """

    def __init__(self, raw: RawZone, *, window: float = 0.02, max_events: int = 20_000,
                 max_in_flight: int = 2) -> None:
        self.raw = raw
        self.window = window
        self.max_events = max_events
        self._slots = asyncio.Semaphore(max_in_flight)
        self._pending = _Pending()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.objects = 0  # objects written (tests and benchmarks read it)

    async def write(self, web: Sequence[dict[str, Any]], bad: Sequence[dict[str, Any]]) -> None:
        """Return once ``web`` and ``bad`` are durable in S3; AwsUnavailableError if not."""
        if not web and not bad:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        pending = self._pending
        pending.web.extend(web)
        pending.bad.extend(bad)
        pending.waiters.append(waiter)
        if pending.size >= self.max_events:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.window, self._flush)
        await waiter

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self._pending = self._pending, _Pending()
        if not group.waiters:
            return
        task = asyncio.get_running_loop().create_task(self._commit(group))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _commit(self, group: _Pending) -> None:
        started = time.perf_counter()
        try:
            async with self._slots:
                now = datetime.now(UTC)
                writes = [self.raw.put("web", group.web, now)] if group.web else []
                if group.bad:
                    writes.append(self.raw.put("bad", group.bad, now))
                await asyncio.gather(*writes)
                self.objects += len(writes)
        except CALL_ERRORS as exc:
            log.warning("collector.write_failed", events=group.size, error=str(exc)[:300],
                        error_type=type(exc).__name__)
            error = AwsUnavailableError("the events could not be stored; send them again")
            for waiter in group.waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        except BaseException as exc:
            for waiter in group.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            raise
        for waiter in group.waiters:
            if not waiter.done():
                waiter.set_result(None)
        log.debug("collector.committed", events=group.size, requests=len(group.waiters),
                  duration_ms=round((time.perf_counter() - started) * 1000, 2))

    async def close(self) -> None:
        """Write what is pending and wait for the writes in flight (shutdown)."""
        self._flush()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
