"""The SQS consumer every service's worker runs: the platform's worker contract.

- Long-poll receive in batches of up to 10; handle records with bounded concurrency.
- Per-record outcome: one bad record never affects another; an unparseable body is a
  per-record failure, not a crash.
- Successes are deleted in one batch call; failures are never deleted: the queue's redrive
  policy moves them to the DLQ after maxReceiveCount. A failure's visibility is set to a
  backoff with jitter that grows with ApproximateReceiveCount.
- A heartbeat extends the visibility of records whose handler is still running.
- FIFO: a failure stops the rest of its message group in the batch (released, in order);
  other groups carry on.
- SIGTERM: stop receiving, let in-flight records finish within ``stop_timeout``, release
  received-but-unstarted records (visibility 0) and return, so the process exits 0. A handler
  the stop timeout cuts off gives up its idempotency claim and its message is made visible
  again at once, so the next worker runs it instead of meeting an "in progress" claim.
- A failed receive (AWS unreachable, throttled) is retried after a capped exponential backoff
  with jitter (`receive_backoff_seconds`), reset by the next completed receive.
- Liveness: with ``WorkerConfig.liveness_file`` set, the worker touches that file after every
  completed receive (messages or none) and every visibility-heartbeat round of the batch in
  hand; `shared.health` fails a worker whose file has gone stale.
- Idempotency by event id (``IdempotencyStore``): a redelivered or duplicated event has no
  second effect.
- A handler that needs to know which delivery it runs for (its SQS message id, how often it
  was received) reads `current_delivery()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from botocore.exceptions import ClientError
from structlog.contextvars import bound_contextvars

from shared.aws import UNREACHABLE_ERRORS
from shared.errors import IdempotencyInProgressError, TopologyError
from shared.events import CloudEvent, parse_event
from shared.health import liveness_file, touch
from shared.idempotency import Claim, IdempotencyStore
from shared.logging import get_logger
from shared.telemetry import handling, mark_failed, record_outcomes, record_received
from shared.topology import dlq_name

log = get_logger("shared.worker")

T = TypeVar("T")

# Bound on each DynamoDB call that settles a cut-off record: ECS kills the task a few seconds
# after the drain budget (stopTimeout = drain + 5 s), and the batch must still be settled.
CUT_OFF_CALL_SECONDS = 3.0


class Outcome(StrEnum):
    """What happened to one received record."""

    SUCCEEDED = "succeeded"  # handled; deleted
    DUPLICATE = "duplicate"  # already handled before; deleted without running the handler
    FAILED = "failed"  # handler or parser raised; left for redelivery (then the DLQ)
    RELEASED = "released"  # not started (shutdown, or an earlier failure in its FIFO group)


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


@dataclass(frozen=True)
class WorkerConfig:
    """Tuning of one consumer; defaults suit the platform's queues."""

    batch_size: int = 10
    concurrency: int = 10
    wait_time_seconds: int = 20
    visibility_timeout: int = 30
    heartbeat_interval: float | None = None  # default: a third of the visibility timeout
    stop_timeout: float = 25.0
    backoff_base: float = 2.0
    backoff_cap: float = 300.0
    # Waits after failed receive calls: base * 2^(n-1) seconds, equal jitter, at most cap.
    receive_backoff_base: float = 1.0
    receive_backoff_cap: float = 30.0
    liveness_file: str | None = None  # touched on progress (see shared.health)


@dataclass(frozen=True)
class Delivery:
    """The SQS delivery a record handler is running for."""

    message_id: str  # the same for every redelivery of one message
    receive_count: int  # 1 on the first delivery; the redrive policy counts the same way


_delivery: contextvars.ContextVar[Delivery | None] = contextvars.ContextVar(
    "regatta_delivery", default=None)


def current_delivery() -> Delivery | None:
    """The delivery the running handler was called for; None outside an `SqsWorker` handler."""
    return _delivery.get()


Handler = Callable[[T], Awaitable[None]]
Parser = Callable[[str], T]
KeyOf = Callable[[T], str]


def backoff_seconds(receive_count: int, *, base: float, cap: float, rng: random.Random) -> int:
    """Visibility delay before the next attempt: capped exponential, "equal jitter"."""
    ceiling = min(cap, base * 2 ** max(receive_count - 1, 0))
    return int(ceiling / 2 + rng.uniform(0, ceiling / 2))


def receive_backoff_seconds(failures: int, *, base: float, cap: float,
                            rng: random.Random) -> float:
    """Pause after ``failures`` failed receive calls in a row: capped exponential, equal jitter.

    Between half the ceiling and the ceiling, where the ceiling is ``base * 2^(failures-1)``
    capped at ``cap``; so a fleet of workers that lost AWS together does not retry in step.
    """
    ceiling = min(cap, base * 2 ** min(max(failures - 1, 0), 62))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class SqsWorker(Generic[T]):
    """Consumes one queue until ``stop()``; see the module docstring for the contract."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler[T],
        *,
        parse: Parser[T] = parse_event,  # type: ignore[assignment]
        idempotency: IdempotencyStore | None = None,
        key_of: KeyOf[T] = lambda event: event.key,  # type: ignore[attr-defined]
        config: WorkerConfig | None = None,
        name: str = "worker",
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.parse = parse
        self.idempotency = idempotency
        self.key_of = key_of
        self.config = config or WorkerConfig()
        self.name = name
        self.fifo = queue_url.endswith(".fifo")
        self._stopping = asyncio.Event()
        self._rng = random.Random()
        self._receive_failures = 0
        self._liveness_warned = False
        self.stats: dict[Outcome, int] = dict.fromkeys(Outcome, 0)

    def stop(self) -> None:
        """Ask the worker to drain and return (idempotent; safe from a signal handler)."""
        if not self._stopping.is_set():
            log.info("worker.stopping", worker=self.name)
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """Receive and handle batches until stopped."""
        log.info("worker.started", worker=self.name, queue=self.queue_url)
        while not self.stopping:
            records = await self._receive()
            if records:
                await self.process(records)
        log.info("worker.stopped", worker=self.name, **{k.value: v for k, v in self.stats.items()})

    async def run_until_idle(self, idle_polls: int = 1) -> None:
        """Handle batches until ``idle_polls`` receives in a row return nothing (tests, tools)."""
        empty = 0
        while empty < idle_polls and not self.stopping:
            records = await self._receive()
            empty = 0 if records else empty + 1
            if records:
                await self.process(records)

    async def _receive(self) -> list[Record[T]]:
        receive = asyncio.ensure_future(
            self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.config.batch_size,
                WaitTimeSeconds=self.config.wait_time_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount", "MessageGroupId",
                                             "SentTimestamp"],
            )
        )
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            done, _ = await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if receive not in done:
            # Shutdown during a long poll: anything this call would have returned stays
            # invisible until its visibility timeout and is then redelivered. Nothing is lost.
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receive
            return []
        try:
            response = receive.result()
        except (*UNREACHABLE_ERRORS, ClientError) as exc:
            self._receive_failures += 1
            delay = receive_backoff_seconds(self._receive_failures,
                                            base=self.config.receive_backoff_base,
                                            cap=self.config.receive_backoff_cap, rng=self._rng)
            log.warning("worker.receive_failed", worker=self.name, error=str(exc),
                        failures=self._receive_failures, retry_in_s=round(delay, 3))
            # A stop request ends the pause at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            return []
        if self._receive_failures:
            log.info("worker.receive_recovered", worker=self.name,
                     failures=self._receive_failures)
            self._receive_failures = 0
        self._mark_progress()
        record_received(self.name, response.get("Messages", []))
        return [
            Record(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m["Body"],
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                group_id=m.get("Attributes", {}).get("MessageGroupId"),
            )
            for m in response.get("Messages", [])
        ]

    def _mark_progress(self) -> None:
        if not self.config.liveness_file:
            return
        try:
            touch(self.config.liveness_file)
        except OSError as exc:
            if not self._liveness_warned:  # once: the health check will say the rest
                log.warning("worker.liveness_failed", worker=self.name, error=str(exc))
                self._liveness_warned = True

    async def process(self, records: Sequence[Record[T]]) -> list[Record[T]]:
        """Handle one received batch and settle every record with SQS."""
        semaphore = asyncio.Semaphore(self.config.concurrency)
        heartbeat = asyncio.create_task(self._heartbeat(records))
        try:
            if self.fifo:
                groups: dict[str | None, list[Record[T]]] = {}
                for record in records:
                    groups.setdefault(record.group_id, []).append(record)
                lanes = [self._run_group(group, semaphore) for group in groups.values()]
            else:
                lanes = [self._run_one(record, semaphore) for record in records]
            drain = asyncio.gather(*lanes)
            await self._bounded_drain(drain, records)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await self._settle(records)
        return list(records)

    async def _bounded_drain(
        self, drain: asyncio.Future[Any], records: Sequence[Record[T]]
    ) -> None:
        """Wait for the batch; after a stop request, give it at most ``stop_timeout``."""
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({drain, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not drain.done():
                _, pending = await asyncio.wait({drain}, timeout=self.config.stop_timeout)
                if pending:
                    log.warning("worker.stop_timeout", worker=self.name)
                    drain.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await drain
                    cut = [r for r in records if r.outcome is None and r.started is not None]
                    outcomes = await asyncio.gather(*(self._cut_off(r) for r in cut))
                    for record, outcome in zip(cut, outcomes, strict=True):
                        record.outcome = outcome
            else:
                await drain
        finally:
            stop.cancel()

    async def _cut_off(self, record: Record[T]) -> Outcome:
        """Settle a record whose handler the stop timeout cancelled.

        Its claim would otherwise stay INPROGRESS for about the visibility timeout while the
        message comes back much sooner: every redelivery in that window fails "in progress" and
        burns a receive, and a queue with few receives sends an unhandled message to the DLQ.
        So, as Powertools expires the in-progress record of a timed-out Lambda, the claim is
        deleted first and the message then made visible at once (RELEASED).
        """
        with bound_contextvars(message_id=record.message_id, receive_count=record.receive_count):
            if record.handled:
                # Cancelled while recording completion: the effect happened, so finish the
                # record and delete the message rather than run the handler twice.
                if record.claim:
                    try:
                        await asyncio.wait_for(self.idempotency.complete(record.claim),  # type: ignore[union-attr]
                                               CUT_OFF_CALL_SECONDS)
                    except (*UNREACHABLE_ERRORS, ClientError) as exc:  # TimeoutError is an OSError
                        log.warning("idempotency.complete_failed", error=str(exc))
                log.info("message.handled", cut_off=True)
                return Outcome.SUCCEEDED
            if record.claim:
                try:
                    await asyncio.wait_for(self.idempotency.release(record.claim),  # type: ignore[union-attr]
                                           CUT_OFF_CALL_SECONDS)
                except (*UNREACHABLE_ERRORS, ClientError) as exc:  # TimeoutError is an OSError
                    # The claim then blocks redeliveries until it expires; the visibility
                    # backoff keeps them from burning receives meanwhile.
                    log.warning("idempotency.release_failed", error=str(exc))
                    log.warning("message.cut_off", released=False)
                    return Outcome.FAILED
            # A cut during begin() may leave a claim we cannot prove is ours; it is not
            # deleted (it could be another worker's), and it expires on its own.
            log.warning("message.cut_off", released=True)
            return Outcome.RELEASED

    async def _run_group(self, group: list[Record[T]], semaphore: asyncio.Semaphore) -> None:
        for index, record in enumerate(group):
            await self._run_one(record, semaphore)
            if record.outcome is Outcome.FAILED:
                for later in group[index + 1 :]:
                    later.outcome = Outcome.RELEASED
                return

    async def _run_one(self, record: Record[T], semaphore: asyncio.Semaphore) -> None:
        async with semaphore:
            if record.outcome is not None:
                return
            if self.stopping:
                record.outcome = Outcome.RELEASED
                return
            record.started = time.monotonic()
            token = _delivery.set(Delivery(record.message_id, record.receive_count))
            try:
                record.outcome = await self._handle(record)
            finally:
                _delivery.reset(token)

    async def _handle(self, record: Record[T]) -> Outcome:
        with bound_contextvars(message_id=record.message_id, receive_count=record.receive_count):
            try:
                record.payload = self.parse(record.body)
            except Exception as exc:  # any parser error is this record's failure only
                log.warning("message.unparseable", error=str(exc)[:500])
                return Outcome.FAILED
            context = _event_context(record.payload)
            with bound_contextvars(**context), handling(self.name, record.payload,
                                                        record.message_id):
                key = self.key_of(record.payload) if self.idempotency else None
                claimed = False
                started = time.perf_counter()
                try:
                    if key:
                        if await self.idempotency.begin(key) is Claim.ALREADY_PROCESSED:  # type: ignore[union-attr]
                            log.info("message.duplicate")
                            return Outcome.DUPLICATE
                        claimed = True
                        record.claim = key
                    await self.handler(record.payload)
                    record.handled = True
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if (isinstance(exc, IdempotencyInProgressError) and self.idempotency
                            and record.receive_count >= 2):
                        # In progress again: the holder is slow or was killed, and its claim
                        # lasts until it expires. Come back then, so a copy spends one receive
                        # per claim, not its whole receive count (into the DLQ), waiting.
                        record.retry_after = self.idempotency.in_progress_timeout
                    mark_failed(exc)
                    log.warning("message.failed", error=str(exc)[:500],
                                error_type=type(exc).__name__, exc_info=True)
                    # Only our own claim is released: after IdempotencyInProgressError the
                    # record belongs to the execution still running, and deleting it would let
                    # this duplicate run a second time.
                    if claimed:
                        with contextlib.suppress(Exception):
                            await self.idempotency.release(key)  # type: ignore[union-attr,arg-type]
                    return Outcome.FAILED
                if key:
                    try:
                        await self.idempotency.complete(key)  # type: ignore[union-attr]
                    except (*UNREACHABLE_ERRORS, ClientError) as exc:
                        # The effect happened; deleting the message is still right. The claim
                        # stays INPROGRESS until it expires, so at worst a later duplicate runs.
                        log.warning("idempotency.complete_failed", error=str(exc))
                log.info("message.handled",
                         duration_ms=round((time.perf_counter() - started) * 1000, 2))
                return Outcome.SUCCEEDED

    async def _heartbeat(self, records: Sequence[Record[T]]) -> None:
        interval = self.config.heartbeat_interval or max(self.config.visibility_timeout / 3, 1)
        while True:
            await asyncio.sleep(interval)
            running = [r for r in records if r.started is not None and r.outcome is None]
            if running:
                await self._change_visibility(running, self.config.visibility_timeout)
            # A batch in hand whose visibility is being kept counts as progress: a long
            # handler (an encode) must not make its worker look stalled.
            self._mark_progress()
            if self.idempotency:
                for record in running:
                    if record.claim:
                        # A claim outliving its visibility would block the redelivery of a
                        # killed run until the claim expired, burning receives into the DLQ.
                        with contextlib.suppress(*UNREACHABLE_ERRORS, ClientError):
                            await self.idempotency.extend(record.claim)

    async def _settle(self, records: Sequence[Record[T]]) -> None:
        try:
            await self._settle_with_sqs(records)
        except (*UNREACHABLE_ERRORS, ClientError) as exc:
            # Not fatal: unsettled records reappear after their visibility timeout.
            log.warning("worker.settle_failed", worker=self.name, error=str(exc))

    async def _settle_with_sqs(self, records: Sequence[Record[T]]) -> None:
        for outcome in (Outcome.SUCCEEDED, Outcome.DUPLICATE, Outcome.FAILED, Outcome.RELEASED):
            self.stats[outcome] += sum(1 for r in records if r.outcome is outcome)
        record_outcomes(self.name, records)
        done = [r for r in records if r.outcome in (Outcome.SUCCEEDED, Outcome.DUPLICATE)]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            await self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r.receipt_handle}
                         for i, r in enumerate(chunk)],
            )
        released = [r for r in records if r.outcome is Outcome.RELEASED or r.outcome is None]
        if released:
            await self._change_visibility(released, 0)
        failed = [r for r in records if r.outcome is Outcome.FAILED]
        for record in failed:
            delay = backoff_seconds(record.receive_count, base=self.config.backoff_base,
                                    cap=self.config.backoff_cap, rng=self._rng)
            await self._change_visibility([record], max(delay, record.retry_after))

    async def _change_visibility(self, records: Sequence[Record[T]], seconds: int) -> None:
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            try:
                await self.sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r.receipt_handle,
                         "VisibilityTimeout": seconds}
                        for i, r in enumerate(chunk)
                    ],
                )
            except (*UNREACHABLE_ERRORS, ClientError) as exc:
                # Not fatal: the record reappears when its current visibility runs out.
                log.warning("worker.visibility_failed", error=str(exc))


def _event_context(payload: Any) -> dict[str, Any]:
    if isinstance(payload, CloudEvent):
        context = {"event_id": payload.id, "event_type": payload.type}
        if payload.correlationid:
            context["correlation_id"] = payload.correlationid
        if payload.traceparent:
            context["traceparent"] = payload.traceparent
        return context
    return {}


@dataclass
class WorkerGroup:
    """Several consumers in one process, stopped together by SIGTERM/SIGINT."""

    workers: list[SqsWorker[Any]] = field(default_factory=list)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    async def run(self) -> None:
        """Run every worker until a signal asks them to stop; returns when all drained."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        await asyncio.gather(*(worker.run() for worker in self.workers))


async def consumer(
    aws: Any,
    resources: Any,
    queue: str,
    handler: Handler[Any],
    *,
    idempotency_table: str | None = None,
    parse: Parser[Any] = parse_event,
    key_of: KeyOf[Any] = lambda event: event.key,
    dead_letters: bool = False,
    **config: Any,
) -> SqsWorker[Any]:
    """An SqsWorker for a topology queue, tuned from the topology's visibility timeout.

    With ``dead_letters``, it consumes the queue's dead-letter queue instead: for a service
    whose records must say what became of a message that failed every delivery. That queue has
    no DLQ of its own, so a message its handler fails stays there and comes back with backoff.
    """
    if queue not in resources.topology.queues:
        raise TopologyError(f"{queue!r} is not declared under queues in the topology")
    declared = resources.topology.queues[queue]
    name = dlq_name(queue) if dead_letters else queue
    sqs = await aws.client("sqs")
    store = None
    if idempotency_table:
        # A claim lasts as long as the message stays invisible; the heartbeat extends both.
        store = IdempotencyStore(await aws.client("dynamodb"), resources.table(idempotency_table),
                                 in_progress_timeout=max(declared.visibility_timeout - 2, 1))
    return SqsWorker(
        sqs,
        await resources.queue_url(aws, name),
        handler,
        parse=parse,
        idempotency=store,
        key_of=key_of,
        config=platform_config(aws.settings, name, declared.visibility_timeout, **config),
        name=name,
    )


def platform_config(settings: Any, name: str, visibility_timeout: int,
                    **overrides: Any) -> WorkerConfig:
    """A consumer's tuning from the platform settings (WORKER_*) and its queue's visibility
    timeout; its liveness file is named after ``name``, the queue (or DLQ) it consumes."""
    return WorkerConfig(**{
        "visibility_timeout": visibility_timeout,
        "wait_time_seconds": settings.worker_wait_time_seconds,
        "stop_timeout": settings.worker_stop_timeout,
        "receive_backoff_base": settings.worker_receive_backoff_base,
        "receive_backoff_cap": settings.worker_receive_backoff_cap,
        "liveness_file": str(liveness_file(settings.worker_liveness_dir, name)),
        **overrides,
    })


def serve(
    settings: Any,
    service: str,
    build: Callable[[Any, Any], Awaitable[list[SqsWorker[Any]]]],
) -> None:
    """Process entry point: build the service's consumers and run them until SIGTERM."""
    from shared.aws import AwsClients
    from shared.http import wait_for_aws
    from shared.logging import configure_logging, uses_json
    from shared.telemetry import configure_telemetry

    async def main() -> None:
        configure_logging(settings.log_level, settings.log_format, service=service)
        configure_telemetry(service, "worker", metrics=uses_json(settings.log_format))
        async with AwsClients(settings) as aws:
            resources = await wait_for_aws(aws)
            await WorkerGroup(await build(aws, resources)).run()

    asyncio.run(main())
