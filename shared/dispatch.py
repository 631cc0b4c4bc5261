"""How a received page of SQS records reaches its handler: the strategies of `SqsWorker`.

`shared.worker.SqsWorker` is the one processor loop (receive a page, prepare it, dispatch it,
settle it with SQS), as Powertools' ``BasePartialProcessor`` is for Lambda. A strategy only
decides how the page's pending records are handed to the handler and how their outcomes come
back:

- `PerRecord`: one handler call per record, with bounded concurrency; on a FIFO queue the
  records of one message group run one after another. With an idempotency store, the worker
  claims each event's key before its handler runs and completes the claim after it::

      async def handle(event: CloudEvent) -> None: ...

- `PerBatch`: one handler call per page, with every pending payload in receive order; it
  returns one `Outcome` per payload (SUCCEEDED, DUPLICATE or FAILED), and raising fails them
  all. Some consumers are far cheaper by the page: the trend worker reads and writes each
  symbol's state once per page, and checks every event id of the page in one read, so
  idempotency is its handler's job::

      async def handle(events: Sequence[CloudEvent]) -> Sequence[Outcome]: ...

Either way FIFO order holds by one rule, `hold_back_failed_groups`: once a record of a message
group has failed, the later records of that group in the page are released unhandled
(visibility 0), whatever a batch handler said of them, so they come back in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from structlog.contextvars import bound_contextvars

from shared.aws import CALL_ERRORS
from shared.errors import IdempotencyInProgressError
from shared.events import CloudEvent
from shared.idempotency import Claim
from shared.logging import get_logger
from shared.telemetry import handling, handling_batch, mark_failed

if TYPE_CHECKING:
    from shared.worker import SqsWorker

log = get_logger("shared.worker")  # its lines are the worker's, whichever strategy runs

T = TypeVar("T")


class Outcome(StrEnum):
    """What happened to one received record."""

    SUCCEEDED = "succeeded"  # handled (or not a type its consumer accepts); deleted
    DUPLICATE = "duplicate"  # already handled before; deleted without running the handler
    FAILED = "failed"  # handler or parser raised; left for redelivery (then the DLQ)
    RELEASED = "released"  # not started (shutdown, or an earlier failure in its FIFO group)


HANDLER_OUTCOMES = frozenset({Outcome.SUCCEEDED, Outcome.DUPLICATE, Outcome.FAILED})


@dataclass
class Record(Generic[T]):
    """One received SQS message and, once parsed, its body."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    group_id: str | None
    payload: T | None = None
    outcome: Outcome | None = None
    started: float | None = None
    claim: str | None = None  # idempotency key this execution holds while it runs
    handled: bool = False  # the handler returned: its effect has happened
    # Not before this many seconds: another execution holds the event's claim.
    retry_after: int = 0

    @property
    def parsed(self) -> T:
        """The parsed body: a record reaches its handler only after ``SqsWorker`` parsed it."""
        return cast(T, self.payload)


@dataclass(frozen=True)
class Delivery:
    """The SQS delivery a record handler is running for."""

    message_id: str  # the same for every redelivery of one message
    receive_count: int  # 1 on the first delivery; the redrive policy counts the same way


_delivery: contextvars.ContextVar[Delivery | None] = contextvars.ContextVar(
    "regatta_delivery", default=None)


def current_delivery() -> Delivery | None:
    """The delivery the running handler was called for; None outside a `PerRecord` handler."""
    return _delivery.get()


Handler = Callable[[T], Awaitable[None]]
BatchHandler = Callable[[Sequence[T]], Awaitable[Sequence[Outcome]]]


def hold_back_failed_groups(page: Sequence[Record[Any]]) -> None:
    """FIFO: release every record behind a failed record of its message group, in the page.

    Records of no group (a standard queue's) are never held back.
    """
    failed: set[str] = set()
    for record in page:
        if record.group_id is None:
            continue
        if record.group_id in failed:
            record.outcome = Outcome.RELEASED
        elif record.outcome is Outcome.FAILED:
            failed.add(record.group_id)


def event_context(payload: Any) -> dict[str, Any]:
    """Log context of a CloudEvent payload: its id, type, correlation id and trace parent."""
    if isinstance(payload, CloudEvent):
        context = {"event_id": payload.id, "event_type": payload.type}
        if payload.correlationid:
            context["correlation_id"] = payload.correlationid
        if payload.traceparent:
            context["traceparent"] = payload.traceparent
        return context
    return {}


class Strategy(Protocol):
    """A strategy of `SqsWorker`: hands the pending records of a page (those without an
    outcome yet) to the handler and sets each one's outcome."""

    async def dispatch(self, worker: SqsWorker[Any], page: Sequence[Record[Any]]) -> None:
        """Run the handler for ``page``; the worker has parsed it and settles it after."""


class PerRecord(Generic[T]):
    """One handler call per record; see the module docstring."""

    def __init__(self, handler: Handler[T]) -> None:
        self.handler = handler

    async def dispatch(self, worker: SqsWorker[Any], page: Sequence[Record[T]]) -> None:
        """Handle every pending record, each group of a FIFO page in order."""
        semaphore = asyncio.Semaphore(worker.config.concurrency)
        if worker.fifo:
            groups: dict[str | None, list[Record[T]]] = {}
            for record in page:
                groups.setdefault(record.group_id, []).append(record)
            lanes = [self._run_group(worker, group, semaphore) for group in groups.values()]
        else:
            lanes = [self._run_one(worker, record, semaphore) for record in page]
        await asyncio.gather(*lanes)

    async def _run_group(self, worker: SqsWorker[Any], group: list[Record[T]],
                         semaphore: asyncio.Semaphore) -> None:
        for record in group:
            await self._run_one(worker, record, semaphore)  # returns at once if held back
            hold_back_failed_groups(group)

    async def _run_one(self, worker: SqsWorker[Any], record: Record[T],
                       semaphore: asyncio.Semaphore) -> None:
        async with semaphore:
            if record.outcome is not None:
                return
            if worker.stopping:
                record.outcome = Outcome.RELEASED
                return
            record.started = time.monotonic()
            token = _delivery.set(Delivery(record.message_id, record.receive_count))
            try:
                record.outcome = await self.handle(worker, record)
            finally:
                _delivery.reset(token)

    async def handle(self, worker: SqsWorker[Any], record: Record[T]) -> Outcome:
        """The one place a record meets its handler, under its event's idempotency claim."""
        with bound_contextvars(message_id=record.message_id, receive_count=record.receive_count,
                               **event_context(record.payload)), \
                handling(worker.name, record.payload, record.message_id):
            started = time.perf_counter()
            try:
                if await self._claim(worker, record) is Claim.ALREADY_PROCESSED:
                    log.info("message.duplicate")
                    return Outcome.DUPLICATE
                await self.handler(record.parsed)
                record.handled = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                return await self._failed(worker, record, exc)
            await self._complete(worker, record)
            log.info("message.handled",
                     duration_ms=round((time.perf_counter() - started) * 1000, 2))
            return Outcome.SUCCEEDED

    @staticmethod
    async def _claim(worker: SqsWorker[Any], record: Record[T]) -> Claim | None:
        """Claim the event's key (None without an idempotency store)."""
        if not worker.idempotency:
            return None
        key = worker.key_of(record.payload)
        if not key:
            return None
        claim = await worker.idempotency.begin(key)
        if claim is not Claim.ALREADY_PROCESSED:
            record.claim = key
        return claim

    @staticmethod
    async def _failed(worker: SqsWorker[Any], record: Record[T], exc: Exception) -> Outcome:
        if (isinstance(exc, IdempotencyInProgressError) and worker.idempotency
                and record.receive_count >= 2):
            # In progress again: the holder is slow or was killed, and its claim lasts until
            # it expires. Come back then, so a copy spends one receive per claim, not its
            # whole receive count (into the DLQ), waiting.
            record.retry_after = worker.idempotency.in_progress_timeout
        mark_failed(exc)
        log.warning("message.failed", error=str(exc)[:500], error_type=type(exc).__name__,
                    exc_info=True)
        # Only our own claim is released: after IdempotencyInProgressError the record belongs
        # to the execution still running, and deleting it would let this duplicate run a
        # second time.
        if record.claim and worker.idempotency:  # a claim is held only with a store
            with contextlib.suppress(Exception):
                await worker.idempotency.release(record.claim)
        return Outcome.FAILED

    @staticmethod
    async def _complete(worker: SqsWorker[Any], record: Record[T]) -> None:
        if not record.claim or not worker.idempotency:
            return
        try:
            await worker.idempotency.complete(record.claim)
        except CALL_ERRORS as exc:
            # The effect happened; deleting the message is still right. The claim stays
            # INPROGRESS until it expires, so at worst a later duplicate runs.
            log.warning("idempotency.complete_failed", error=str(exc))


class PerBatch(Generic[T]):
    """One handler call per page; see the module docstring."""

    def __init__(self, handler: BatchHandler[T]) -> None:
        self.handler = handler

    async def dispatch(self, worker: SqsWorker[Any], page: Sequence[Record[T]]) -> None:
        """Hand every pending record to one handler call; hold back failed FIFO groups."""
        todo = [r for r in page if r.outcome is None]
        if not todo:
            return
        started = time.perf_counter()
        for record in todo:
            record.started = time.monotonic()
        for record, outcome in zip(todo, await self.handle(worker, todo), strict=True):
            record.outcome = outcome
        hold_back_failed_groups(page)
        _log_page(worker, page, todo, round((time.perf_counter() - started) * 1000, 2))

    async def handle(self, worker: SqsWorker[Any], todo: Sequence[Record[T]]) -> list[Outcome]:
        """The one place a page meets its handler: one outcome per record, all FAILED if the
        handler raises or answers anything but one handler outcome per record."""
        try:
            payloads = [r.parsed for r in todo]
            with handling_batch(worker.name, payloads):  # its span records a raised exception
                outcomes = list(await self.handler(payloads))
            if len(outcomes) != len(todo) or not set(outcomes) <= HANDLER_OUTCOMES:
                raise TypeError(f"the batch handler must return one of {sorted(HANDLER_OUTCOMES)}"
                                f" per record, got {outcomes!r:.200}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("batch.failed", worker=worker.name, records=len(todo),
                        error=str(exc)[:500], error_type=type(exc).__name__, exc_info=True)
            return [Outcome.FAILED] * len(todo)
        return outcomes


def _log_page(worker: SqsWorker[Any], page: Sequence[Record[Any]], todo: Sequence[Record[Any]],
              duration_ms: float) -> None:
    for record in todo:
        with bound_contextvars(message_id=record.message_id, receive_count=record.receive_count,
                               **_event_id(record.payload)):
            log.info("message.handled", outcome=record.outcome, batch_ms=duration_ms)
    log.info("batch.handled", worker=worker.name, duration_ms=duration_ms,
             **Counter(str(r.outcome) for r in page))


def _event_id(payload: Any) -> dict[str, str]:
    event_id = getattr(payload, "id", None)
    return {"event_id": event_id} if isinstance(event_id, str) else {}
