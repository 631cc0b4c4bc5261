"""Batch handlers: one handler call per received SQS batch, under the same worker contract.

Some consumers are far cheaper by the batch than by the record. The trend worker reads and
writes each symbol's state once per batch, however many of that symbol's events the batch
holds, and checks every event id of the batch in one read. `SqsBatchWorker` keeps everything
`shared.worker.SqsWorker` promises (long polls, per-record outcomes, batched deletes, backoff,
heartbeat, FIFO ordering, SIGTERM drain) and changes only how the handler is called::

    async def handle(events: Sequence[CloudEvent]) -> Sequence[Outcome]:
        ...  # one outcome per event, in order: SUCCEEDED, DUPLICATE or FAILED

    worker = await batch_consumer(aws, resources, "trend-ticks.fifo", handle, batch_window=0.2)

- The handler gets every parseable record of the batch in receive order (an unparseable one
  fails on its own, as always) and returns one `Outcome` per payload. Raising fails them all.
- FIFO: once a record of a message group has failed, the later records of that group in the
  batch are released, whatever the handler said, so they are redelivered in order. A handler
  that applies a group's records all-or-nothing fits this naturally.
- Idempotency is the handler's job: it sees the whole batch, so it can look up every event id
  in one call and record them atomically with its effects.
- ``batch_window``: after a receive that returned fewer than ``batch_size`` records, wait this
  long before the next one, so that a trickle of messages is handled in fewer, fuller batches
  (Lambda's ``MaximumBatchingWindowInSeconds``). It trades latency for API calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from structlog.contextvars import bound_contextvars

from shared.events import parse_event
from shared.logging import get_logger
from shared.telemetry import handling_batch
from shared.worker import Outcome, Parser, Record, SqsWorker, WorkerConfig, platform_config

log = get_logger("shared.batch")

T = TypeVar("T")

BatchHandler = Callable[[Sequence[T]], Awaitable[Sequence[Outcome]]]
HANDLER_OUTCOMES = frozenset({Outcome.SUCCEEDED, Outcome.DUPLICATE, Outcome.FAILED})


class SqsBatchWorker(SqsWorker[T]):
    """An SqsWorker whose handler takes each received batch whole; see the module docstring."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: BatchHandler[T],
        *,
        parse: Parser[T] = parse_event,  # type: ignore[assignment]
        config: WorkerConfig | None = None,
        name: str = "worker",
        batch_window: float = 0.0,
    ) -> None:
        super().__init__(sqs, queue_url, _no_record_handler, parse=parse, config=config,
                         name=name)
        self.batch_handler = handler
        self.batch_window = batch_window

    async def run(self) -> None:
        """Receive and handle batches until stopped, pausing after partial batches."""
        log.info("worker.started", worker=self.name, queue=self.queue_url,
                 batch_window=self.batch_window)
        while not self.stopping:
            records = await self._receive()
            if records:
                await self.process(records)
            if records and len(records) < self.config.batch_size and self.batch_window > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.batch_window)
        log.info("worker.stopped", worker=self.name, **{k.value: v for k, v in self.stats.items()})

    async def process(self, records: Sequence[Record[T]]) -> list[Record[T]]:
        """Handle one received batch with one handler call and settle every record with SQS."""
        heartbeat = asyncio.create_task(self._heartbeat(records))
        try:
            drain = asyncio.ensure_future(self._handle_batch(records))
            await self._bounded_drain(drain, records)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await self._settle(records)
        return list(records)

    async def _handle_batch(self, records: Sequence[Record[T]]) -> None:
        if self.stopping:
            for record in records:
                record.outcome = Outcome.RELEASED
            return
        for record in records:
            record.started = time.monotonic()
            try:
                record.payload = self.parse(record.body)
            except Exception as exc:  # any parser error is this record's failure only
                log.warning("message.unparseable", message_id=record.message_id,
                            error=str(exc)[:500])
                record.outcome = Outcome.FAILED
        self._hold_back_failed_groups(records)
        todo = [r for r in records if r.outcome is None]
        if not todo:
            return
        started = time.perf_counter()
        try:
            payloads = [r.payload for r in todo]
            with handling_batch(self.name, payloads):  # its span records a raised exception
                outcomes = list(await self.batch_handler(payloads))  # type: ignore[arg-type]
            if len(outcomes) != len(todo) or not set(outcomes) <= HANDLER_OUTCOMES:
                raise TypeError(f"the batch handler must return one of {sorted(HANDLER_OUTCOMES)}"
                                f" per record, got {outcomes!r:.200}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("batch.failed", worker=self.name, records=len(todo), error=str(exc)[:500],
                        error_type=type(exc).__name__, exc_info=True)
            outcomes = [Outcome.FAILED] * len(todo)
        for record, outcome in zip(todo, outcomes, strict=True):
            record.outcome = outcome
        self._hold_back_failed_groups(records)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        for record in todo:
            with bound_contextvars(message_id=record.message_id,
                                   receive_count=record.receive_count,
                                   **_event_ids(record.payload)):
                log.info("message.handled", outcome=record.outcome, batch_ms=duration_ms)
        log.info("batch.handled", worker=self.name, duration_ms=duration_ms,
                 **Counter(str(r.outcome) for r in records))

    def _hold_back_failed_groups(self, records: Sequence[Record[T]]) -> None:
        """FIFO: after a failed record, release the rest of its group (kept in order)."""
        if not self.fifo:
            return
        failed_groups: set[str | None] = set()
        for record in records:
            if record.group_id in failed_groups:
                record.outcome = Outcome.RELEASED
            elif record.outcome is Outcome.FAILED:
                failed_groups.add(record.group_id)


async def _no_record_handler(_: Any) -> None:  # pragma: no cover - never called
    raise NotImplementedError("SqsBatchWorker calls its batch handler")


def _event_ids(payload: Any) -> dict[str, str]:
    event_id = getattr(payload, "id", None)
    return {"event_id": event_id} if isinstance(event_id, str) else {}


async def batch_consumer(
    aws: Any,
    resources: Any,
    queue: str,
    handler: BatchHandler[Any],
    *,
    parse: Parser[Any] = parse_event,
    batch_window: float = 0.0,
    **config: Any,
) -> SqsBatchWorker[Any]:
    """An SqsBatchWorker for a topology queue, tuned like `shared.worker.consumer`."""
    declared = resources.topology.queues[queue]
    return SqsBatchWorker(
        await aws.client("sqs"),
        await resources.queue_url(aws, queue),
        handler,
        parse=parse,
        config=platform_config(aws.settings, queue, declared.visibility_timeout, **config),
        name=queue,
        batch_window=batch_window,
    )
