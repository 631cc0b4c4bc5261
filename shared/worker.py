"""The SQS consumer every service's worker runs: the platform's worker contract.

- Long-poll receive in pages of up to 10; hand them to the handler by the worker's strategy
  (`shared.dispatch`: `PerRecord`, with bounded concurrency, or `PerBatch`).
- Per-record outcome: one bad record never affects another; an unparseable body is a
  per-record failure, not a crash. A CloudEvent of a type the consumer's subscription does not
  accept is acknowledged (deleted) without reaching the handler.
- Successes are deleted in one batch call; failures are never deleted: the queue's redrive
  policy moves them to the DLQ after maxReceiveCount. A failure's visibility is set to a
  backoff with jitter that grows with ApproximateReceiveCount.
- A heartbeat extends the visibility of records whose handler is still running.
- FIFO: a failure stops the rest of its message group in the page (released, in order);
  other groups carry on.
- SIGTERM: stop receiving, let in-flight records finish within ``stop_timeout``, release
  received-but-unstarted records (visibility 0) and return, so the process exits 0. A handler
  the stop timeout cuts off gives up its idempotency claim and its message is made visible
  again at once, so the next worker runs it instead of meeting an "in progress" claim.
- A failed receive (AWS unreachable, throttled) is retried after a capped exponential backoff
  with jitter (`receive_backoff_seconds`), reset by the next completed receive.
- Liveness: with ``WorkerConfig.liveness_file`` set, the worker touches that file after every
  completed receive (messages or none) and every visibility-heartbeat round of the page in
  hand; `shared.health` fails a worker whose file has gone stale.
- Idempotency by event id (``IdempotencyStore``, `PerRecord`): a redelivered or duplicated
  event has no second effect.
- A handler that needs to know which delivery it runs for (its SQS message id, how often it
  was received) reads `current_delivery()`.

A service declares what it consumes as a `QueueSubscription` (queue, accepted event types,
strategy, idempotency table) and builds its worker with `consumer`, which checks the
declaration against the topology.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, cast, overload

from botocore.exceptions import ClientError
from structlog.contextvars import bound_contextvars

from shared.aws import CALL_ERRORS, UNREACHABLE_ERRORS
from shared.dispatch import (
    BatchHandler,
    Delivery,
    Handler,
    Outcome,
    PerBatch,
    PerRecord,
    Record,
    Strategy,
    current_delivery,
    hold_back_failed_groups,
)
from shared.errors import TopologyError
from shared.events import CloudEvent, parse_event
from shared.health import liveness_file, touch
from shared.idempotency import IdempotencyStore
from shared.logging import get_logger
from shared.telemetry import record_outcomes, record_received
from shared.topology import Queue, Topology, dlq_name

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

    from shared.aws import AwsClients
    from shared.settings import PlatformSettings
    from shared.topology import Resources

__all__ = [
    "BatchHandler", "Delivery", "Handler", "KeyOf", "Outcome", "Parser", "PerBatch", "PerRecord",
    "QueueSubscription", "Record", "SqsWorker", "Strategy", "WorkerConfig", "WorkerGroup",
    "backoff_seconds", "consumer", "current_delivery", "hold_back_failed_groups",
    "platform_config", "receive_backoff_seconds", "serve",
]

log = get_logger("shared.worker")

T = TypeVar("T")

# Bound on each DynamoDB call that settles a cut-off record: ECS kills the task a few seconds
# after the drain budget (stopTimeout = drain + 5 s), and the page must still be settled.
CUT_OFF_CALL_SECONDS = 3.0

Parser = Callable[[str], T]
KeyOf = Callable[[T], str]


def event_key(event: Any) -> str:
    """The idempotency key of a CloudEvent: its ``source#id``."""
    return str(event.key)


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
    # After a receive that returned fewer than batch_size records, wait this long before the
    # next one, so that a trickle of messages comes in fewer, fuller pages (Lambda's
    # MaximumBatchingWindowInSeconds). It trades latency for API calls.
    batch_window: float = 0.0


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
    ceiling = min(cap, base * 2.0 ** min(max(failures - 1, 0), 62))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class SqsWorker(Generic[T]):
    """Consumes one queue until ``stop()``; see the module docstring for the contract.

    ``strategy`` is `PerRecord` or `PerBatch`; ``event_types``, when given, are
    the CloudEvent types it accepts (others are acknowledged without reaching the handler).
    """

    @overload
    def __init__(
        self: SqsWorker[CloudEvent], sqs: SQSClient, queue_url: str, strategy: Strategy, *,
        idempotency: IdempotencyStore | None = None, key_of: KeyOf[CloudEvent] = event_key,
        event_types: Collection[str] | None = None, config: WorkerConfig | None = None,
        name: str = "worker",
    ) -> None: ...
    @overload
    def __init__(
        self, sqs: SQSClient, queue_url: str, strategy: Strategy, *, parse: Parser[T],
        idempotency: IdempotencyStore | None = None, key_of: KeyOf[T] = event_key,
        event_types: Collection[str] | None = None, config: WorkerConfig | None = None,
        name: str = "worker",
    ) -> None: ...
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        strategy: Strategy,
        *,
        parse: Parser[Any] = parse_event,  # without a parser, the records are CloudEvents
        idempotency: IdempotencyStore | None = None,
        key_of: KeyOf[Any] = event_key,
        event_types: Collection[str] | None = None,
        config: WorkerConfig | None = None,
        name: str = "worker",
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.strategy = strategy
        self.parse: Parser[T] = parse
        self.idempotency = idempotency
        self.key_of: KeyOf[T] = key_of
        self.event_types = None if event_types is None else frozenset(event_types)
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
        """Receive and handle pages until stopped, pausing after partial pages."""
        log.info("worker.started", worker=self.name, queue=self.queue_url,
                 batch_window=self.config.batch_window)
        while not self.stopping:
            records = await self._receive()
            if records:
                await self.process(records)
                if len(records) < self.config.batch_size:
                    await self._pause(self.config.batch_window)
        log.info("worker.stopped", worker=self.name, **{k.value: v for k, v in self.stats.items()})

    async def run_until_idle(self, idle_polls: int = 1) -> None:
        """Handle pages until ``idle_polls`` receives in a row return nothing (tests, tools)."""
        empty = 0
        while empty < idle_polls and not self.stopping:
            records = await self._receive()
            empty = 0 if records else empty + 1
            if records:
                await self.process(records)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``; a stop request ends the pause at once."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    # --- receive -----------------------------------------------------------------------------

    async def _receive(self) -> list[Record[T]]:
        receive = asyncio.ensure_future(self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.config.batch_size,
            WaitTimeSeconds=self.config.wait_time_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "MessageGroupId",
                                         "SentTimestamp"],
        ))
        if not await self._completes_before_stop(receive):
            # Shutdown during a long poll: anything this call would have returned stays
            # invisible until its visibility timeout and is then redelivered. Nothing is lost.
            return []
        try:
            response = receive.result()
        except CALL_ERRORS as exc:
            await self._receive_failed(exc)
            return []
        if self._receive_failures:
            log.info("worker.receive_recovered", worker=self.name,
                     failures=self._receive_failures)
            self._receive_failures = 0
        self._mark_progress()
        record_received(self.name, response.get("Messages", []))
        return [_record(m) for m in response.get("Messages", [])]

    async def _completes_before_stop(self, call: asyncio.Future[Any]) -> bool:
        """Wait for ``call``; cancel it if a stop request comes first."""
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            done, _ = await asyncio.wait({call, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if call in done:
            return True
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await call
        return False

    async def _receive_failed(self, exc: Exception) -> None:
        self._receive_failures += 1
        delay = receive_backoff_seconds(self._receive_failures,
                                        base=self.config.receive_backoff_base,
                                        cap=self.config.receive_backoff_cap, rng=self._rng)
        log.warning("worker.receive_failed", worker=self.name, error=str(exc),
                    failures=self._receive_failures, retry_in_s=round(delay, 3))
        await self._pause(delay)

    def _mark_progress(self) -> None:
        if not self.config.liveness_file:
            return
        try:
            touch(self.config.liveness_file)
        except OSError as exc:
            if not self._liveness_warned:  # once: the health check will say the rest
                log.warning("worker.liveness_failed", worker=self.name, error=str(exc))
                self._liveness_warned = True

    # --- one page: prepare, dispatch, settle --------------------------------------------------

    async def process(self, records: Sequence[Record[T]]) -> list[Record[T]]:
        """Handle one received page by the worker's strategy and settle every record with SQS."""
        self._prepare(records)
        heartbeat = asyncio.create_task(self._heartbeat(records))
        try:
            drain = asyncio.ensure_future(self.strategy.dispatch(self, records))
            await self._bounded_drain(drain, records)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await self._settle(records)
        return list(records)

    def _prepare(self, records: Sequence[Record[T]]) -> None:
        """Parse every record, acknowledge the event types this worker does not accept and
        hold back failed FIFO groups; after a stop request, release the page instead."""
        if self.stopping:
            for record in records:
                record.outcome = Outcome.RELEASED
            return
        for record in records:
            record.outcome = self._parse(record)
        hold_back_failed_groups(records)

    def _parse(self, record: Record[T]) -> Outcome | None:
        """None: the record waits for its handler; else the outcome it already has."""
        with bound_contextvars(message_id=record.message_id, receive_count=record.receive_count):
            try:
                record.payload = self.parse(record.body)
            except Exception as exc:  # any parser error is this record's failure only
                log.warning("message.unparseable", error=str(exc)[:500])
                return Outcome.FAILED
            payload = record.payload
            if (self.event_types is not None and isinstance(payload, CloudEvent)
                    and payload.type not in self.event_types):
                log.info("message.not_accepted", event_id=payload.id, event_type=payload.type)
                return Outcome.SUCCEEDED
            return None

    async def _bounded_drain(
        self, drain: asyncio.Future[Any], records: Sequence[Record[T]]
    ) -> None:
        """Wait for the page; after a stop request, give it at most ``stop_timeout``."""
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({drain, stop}, return_when=asyncio.FIRST_COMPLETED)
            if drain.done():
                await drain
                return
            _, pending = await asyncio.wait({drain}, timeout=self.config.stop_timeout)
            if not pending:
                await drain
                return
            log.warning("worker.stop_timeout", worker=self.name)
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            cut = [r for r in records if r.outcome is None and r.started is not None]
            for record, outcome in zip(cut, await asyncio.gather(*map(self._cut_off, cut)),
                                       strict=True):
                record.outcome = outcome
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
                await self._settle_claim(record, "complete")
                log.info("message.handled", cut_off=True)
                return Outcome.SUCCEEDED
            if not await self._settle_claim(record, "release"):
                # The claim then blocks redeliveries until it expires; the visibility
                # backoff keeps them from burning receives meanwhile.
                log.warning("message.cut_off", released=False)
                return Outcome.FAILED
            # A cut during begin() may leave a claim we cannot prove is ours; it is not
            # deleted (it could be another worker's), and it expires on its own.
            log.warning("message.cut_off", released=True)
            return Outcome.RELEASED

    async def _settle_claim(self, record: Record[T], how: Literal["complete", "release"]) -> bool:
        """Complete or release a cut-off record's claim, bounded; False if that failed."""
        if not record.claim:
            return True
        try:
            await asyncio.wait_for(getattr(self.idempotency, how)(record.claim),
                                   CUT_OFF_CALL_SECONDS)
        except CALL_ERRORS as exc:  # TimeoutError is an OSError
            log.warning(f"idempotency.{how}_failed", error=str(exc))
            return False
        return True

    async def _heartbeat(self, records: Sequence[Record[T]]) -> None:
        interval = self.config.heartbeat_interval or max(self.config.visibility_timeout / 3, 1)
        while True:
            await asyncio.sleep(interval)
            running = [r for r in records if r.started is not None and r.outcome is None]
            if running:
                await self._change_visibility(running, self.config.visibility_timeout)
            # A page in hand whose visibility is being kept counts as progress: a long
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
        except CALL_ERRORS as exc:
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
            except CALL_ERRORS as exc:
                # Not fatal: the record reappears when its current visibility runs out.
                log.warning("worker.visibility_failed", error=str(exc))


def _record(message: MessageTypeDef) -> Record[Any]:
    attributes = message.get("Attributes", {})
    return Record(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        body=message["Body"],
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        group_id=attributes.get("MessageGroupId"),
    )


class Runner(Protocol):
    """What a worker process runs until SIGTERM: an `SqsWorker`, an outbox relay, or any loop
    with the same two methods."""

    def stop(self) -> None: ...

    async def run(self) -> None: ...


@dataclass
class WorkerGroup:
    """Several consumers in one process, stopped together by SIGTERM/SIGINT."""

    workers: Sequence[Runner] = field(default_factory=list)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    async def run(self) -> None:
        """Run every worker until a signal asks them to stop; returns when all drained."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        await asyncio.gather(*(worker.run() for worker in self.workers))


# --- declared subscriptions -------------------------------------------------------------------


@dataclass(frozen=True)
class QueueSubscription:
    """What a service's worker consumes from one topology queue, declared in one place.

    - ``queue``: its logical name in ``infra/topology.yaml``.
    - ``event_types``: the CloudEvent types its handler accepts; `check` holds them to exactly
      the types the topology routes to the queue. A CloudEvent of another type is
      acknowledged without reaching the handler. None: no filter (a queue of test tools).
      A custom ``parse`` that yields no CloudEvents (S3 notifications) filters its own input.
    - ``strategy``: `PerRecord` (one call per record) or `PerBatch` (one call
      per page; idempotency is then the handler's, so no ``idempotency_table``).
    - ``dead_letters``: consume the queue's DLQ instead, for a service whose records must say
      what became of a message that failed every delivery. That queue has no DLQ of its own,
      so a message its handler fails stays there and comes back with backoff.
    """

    queue: str
    event_types: frozenset[str] | None = None
    strategy: type[PerRecord[Any]] | type[PerBatch[Any]] = PerRecord
    idempotency_table: str | None = None
    parse: Parser[Any] = parse_event
    key_of: KeyOf[Any] = event_key
    dead_letters: bool = False

    def strategy_for(self, handler: Handler[Any] | BatchHandler[Any]) -> Strategy:
        """``strategy`` around ``handler``: which kind of handler a consumer passes is the
        subscription's word (``strategy``), not something the handler's type can tell."""
        if self.strategy is PerBatch:
            return PerBatch(cast("BatchHandler[Any]", handler))
        return PerRecord(cast("Handler[Any]", handler))

    def __post_init__(self) -> None:
        if self.event_types is not None:
            object.__setattr__(self, "event_types", frozenset(self.event_types))
        if self.strategy is PerBatch and self.idempotency_table:
            raise ValueError(f"{self.queue}: a PerBatch handler keeps its own idempotency "
                             "records; drop idempotency_table")

    @property
    def consumed_queue(self) -> str:
        """The logical name of the queue the worker receives from (the DLQ's, if so)."""
        return dlq_name(self.queue) if self.dead_letters else self.queue

    def check(self, topology: Topology) -> Queue:
        """The declared queue; TopologyError if it is unknown or its event types are not
        exactly those the topology routes to it."""
        if self.queue not in topology.queues:
            raise TopologyError(f"{self.queue!r} is not declared under queues in the topology")
        declared = topology.queues[self.queue]
        if self.event_types is not None:
            routed = {t for sub in declared.subscriptions for t in sub.event_types}
            if self.event_types != routed:
                raise TopologyError(
                    f"{self.queue}: the subscription accepts {sorted(self.event_types)} but the "
                    f"topology routes {sorted(routed)} to it")
        return declared


async def consumer(aws: AwsClients, resources: Resources, subscription: QueueSubscription,
                   handler: Handler[Any] | BatchHandler[Any], **tuning: Any) -> SqsWorker[Any]:
    """The SqsWorker of a declared subscription: checked against the topology, its handler
    under the subscription's strategy, tuned from the platform settings and the queue's
    visibility timeout (``tuning`` overrides `WorkerConfig` fields)."""
    declared = subscription.check(resources.topology)
    name = subscription.consumed_queue
    store = None
    if subscription.idempotency_table:
        # A claim lasts as long as the message stays invisible; the heartbeat extends both.
        store = IdempotencyStore(await aws.client("dynamodb"),
                                 resources.table(subscription.idempotency_table),
                                 in_progress_timeout=max(declared.visibility_timeout - 2, 1))
    return SqsWorker(
        await aws.client("sqs"),
        await resources.queue_url(aws, name),
        subscription.strategy_for(handler),
        parse=subscription.parse,
        idempotency=store,
        key_of=subscription.key_of,
        event_types=subscription.event_types,
        config=platform_config(aws.settings, name, declared.visibility_timeout, **tuning),
        name=name,
    )


def platform_config(settings: PlatformSettings, name: str, visibility_timeout: int,
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
    settings: PlatformSettings,
    service: str,
    build: Callable[[AwsClients, Resources], Awaitable[Sequence[Runner]]],
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
