"""The worker contract (design.md, "Worker contract") against the emulator's real SQS.

Each test makes its own queue (+ DLQ). Workers run in-process on received batches, except the
signal tests, which run ``tests/support/contract_worker.py`` as a real child process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator import free_port
from devkit.testing import ROOT, LocalStack, ServiceProcess, eventually
from shared.errors import TopologyError
from shared.events import CloudEvent
from shared.idempotency import Claim, IdempotencyStore
from shared.topology import Resources
from shared.worker import (
    Outcome,
    PerBatch,
    PerRecord,
    QueueSubscription,
    SqsWorker,
    WorkerConfig,
    consumer,
)

pytestmark = pytest.mark.integration

CONTRACT_EVENT = "dev.regatta.contract.thing.happened.v1"
WORKER_SCRIPT = ROOT / "tests" / "support" / "contract_worker.py"


def event(name: str, **fields: Any) -> CloudEvent:
    """A contract event whose data names it, so handlers and assertions can tell them apart."""
    return CloudEvent(source="/contract-tests", type=CONTRACT_EVENT, data={"name": name},
                      **fields)


def name_of(body: str) -> str:
    return str(json.loads(body)["data"]["name"])


def worker(sqs: Any, url: str, handler: Callable[[CloudEvent], Awaitable[None]],
           *, store: IdempotencyStore | None = None, **config: Any) -> SqsWorker[CloudEvent]:
    """An in-process worker tuned for tests: short polls, immediate retry of failures."""
    settings = {"wait_time_seconds": 1, "backoff_base": 0, **config}
    return SqsWorker(sqs, url, PerRecord(handler), idempotency=store,
                     config=WorkerConfig(**settings))


class Effects:
    """What handlers did, in order; ``fail`` names fail (once each unless ``always``)."""

    def __init__(self, fail: set[str] | None = None, *, always: bool = False) -> None:
        self.calls: list[str] = []
        self.done: list[str] = []
        self.fail = set(fail or ())
        self.always = always

    async def __call__(self, received: CloudEvent) -> None:
        name = received.data["name"]
        self.calls.append(name)
        if name in self.fail:
            if not self.always:
                self.fail.discard(name)
            raise RuntimeError(f"handler failed on {name}")
        self.done.append(name)


# --- a. per-record outcome ---------------------------------------------------------------


async def test_partial_batch_failure_keeps_only_the_failures(queues, sqs) -> None:
    """In one batch, failed and unparseable records stay on the queue; successes are deleted."""
    # GIVEN a batch mixing good events, a failing one and a body that is not an event
    queue = await queues.make(visibility_timeout=30, max_receive_count=5)
    bodies = {"ok-1": event("ok-1").to_json(), "boom": event("boom").to_json(),
              "ok-2": event("ok-2").to_json(), "garbage": "{this is not json",
              "ok-3": event("ok-3").to_json()}
    await queues.send(queue, bodies.values())
    effects = Effects(fail={"boom"}, always=True)
    records = await queues.receive(queue.url)
    assert len(records) == 5, "the five messages must arrive in one batch"

    # WHEN the worker processes the batch
    await worker(sqs, queue.url, effects).process(records)

    # THEN each record has its own outcome, and neighbours of failures succeed
    outcome = {next(k for k, v in bodies.items() if v == r.body): r.outcome for r in records}
    assert outcome == {"ok-1": Outcome.SUCCEEDED, "boom": Outcome.FAILED,
                       "ok-2": Outcome.SUCCEEDED, "garbage": Outcome.FAILED,
                       "ok-3": Outcome.SUCCEEDED}
    assert sorted(effects.done) == ["ok-1", "ok-2", "ok-3"]
    # AND only the failures come back, at once (backoff 0 -> visibility 0, though the
    # queue's own visibility timeout is 30 s), for their second delivery
    again = await queues.receive(queue.url)
    assert sorted(r.body for r in again) == sorted([bodies["boom"], bodies["garbage"]])
    assert {r.receive_count for r in again} == {2}
    assert await queues.depth(queue.url) == {"visible": 0, "in_flight": 2}


async def test_failed_record_waits_for_its_backoff(queues, sqs) -> None:
    """With a positive backoff a failed record is not redelivered immediately."""
    queue = await queues.make(visibility_timeout=0, max_receive_count=5)
    await queues.send(queue, [event("boom").to_json()])
    records = await queues.receive(queue.url)

    await worker(sqs, queue.url, Effects(fail={"boom"}), backoff_base=20).process(records)

    # The queue's visibility is 0, so only the worker's backoff (>= 10 s) hides the record.
    assert records[0].outcome is Outcome.FAILED
    assert await queues.receive(queue.url) == []
    assert await queues.depth(queue.url) == {"visible": 0, "in_flight": 1}


async def test_a_copy_meeting_a_held_claim_waits_for_the_claim_not_its_backoff(
    queues, sqs, store
) -> None:
    """A copy of an event whose claim another execution holds (a killed worker's lasts until
    it expires) meets "in progress" once with its usual backoff; meeting it again, it comes
    back after the claim's lifetime: one receive per claim instead of running out of
    receives (into the DLQ) meanwhile."""
    queue = await queues.make(visibility_timeout=0, max_receive_count=5)
    held = event("held")
    await queues.send(queue, [held.to_json()])
    claims = IdempotencyStore(store.dynamodb, store.table, in_progress_timeout=8)
    assert await claims.begin(held.key) is Claim.NEW  # the execution that was killed
    consumer_ = worker(sqs, queue.url, Effects(), store=claims)
    first = await queues.receive(queue.url)
    await consumer_.process(first)  # backoff_base 0: visible again at once
    records = await queues.receive(queue.url)
    assert records and records[0].receive_count == 2

    await consumer_.process(records)

    # backoff_base 0 would make it visible at once; the claim's 8 s keep it hidden.
    assert records[0].outcome is Outcome.FAILED
    await asyncio.sleep(3)
    assert await queues.receive(queue.url) == []
    assert await queues.depth(queue.url) == {"visible": 0, "in_flight": 1}


# --- b. poison messages --------------------------------------------------------------------


async def test_poison_message_reaches_the_dlq_and_others_are_processed(queues, sqs) -> None:
    """A message failing every time moves to the DLQ after maxReceiveCount, without ever
    being deleted by the worker; the worker goes on with the other messages."""
    queue = await queues.make(visibility_timeout=30, max_receive_count=2)
    effects = Effects(fail={"poison"}, always=True)
    consumer_ = worker(sqs, queue.url, effects)
    await queues.send(queue, [event(n).to_json() for n in ("poison", "ok-1", "ok-2")])

    await consumer_.run_until_idle(idle_polls=2)
    await queues.send(queue, [event("ok-3").to_json()])
    await consumer_.run_until_idle(idle_polls=1)

    assert effects.calls.count("poison") == 2  # maxReceiveCount deliveries, then the DLQ
    assert sorted(effects.done) == ["ok-1", "ok-2", "ok-3"]
    assert [name_of(b) for b in await queues.drain(queue.dlq_url)] == ["poison"]
    assert await queues.depth(queue.url) == {"visible": 0, "in_flight": 0}


# --- c. idempotency by event id ------------------------------------------------------------


async def test_duplicate_in_one_batch_has_one_effect(queues, sqs, store) -> None:
    """The same event sent twice (two SQS messages, one batch) has one effect."""
    queue = await queues.make(visibility_timeout=30, max_receive_count=5)
    duplicated = event("dup")
    await queues.send(queue, [duplicated.to_json(), event("other").to_json(),
                              duplicated.to_json()])
    effects = Effects()
    consumer_ = worker(sqs, queue.url, effects, store=store)

    await consumer_.run_until_idle(idle_polls=1)

    assert Counter(effects.done) == {"dup": 1, "other": 1}
    assert consumer_.stats[Outcome.DUPLICATE] == 1
    assert await queues.depth(queue.url) == {"visible": 0, "in_flight": 0}


async def test_redelivered_event_after_success_has_no_second_effect(queues, sqs, store) -> None:
    """An event delivered again after it was handled is deleted without running the handler."""
    queue = await queues.make(visibility_timeout=30, max_receive_count=5)
    duplicated = event("dup")
    effects = Effects()
    consumer_ = worker(sqs, queue.url, effects, store=store)
    await queues.send(queue, [duplicated.to_json()])
    await consumer_.run_until_idle()

    # WHEN the same event (same source and id, new SQS message) arrives again
    await queues.send(queue, [duplicated.to_json()])
    records = await queues.receive(queue.url)
    await consumer_.process(records)

    assert [r.outcome for r in records] == [Outcome.DUPLICATE]
    assert effects.done == ["dup"]
    assert await queues.depth(queue.url) == {"visible": 0, "in_flight": 0}


async def test_concurrent_duplicate_on_two_workers_has_one_effect(queues, sqs, store) -> None:
    """While worker A handles an event, worker B receiving a duplicate neither runs it nor
    frees A's claim: B's copy fails (is retried) until A completes, then is a duplicate."""
    queue = await queues.make(visibility_timeout=30, max_receive_count=10)
    duplicated = event("dup")
    await queues.send(queue, [duplicated.to_json(), duplicated.to_json()])
    first, second = await queues.receive(queue.url, max_messages=1), await queues.receive(
        queue.url, max_messages=1)
    assert len(first) == len(second) == 1
    effects: list[str] = []
    a_started, a_may_finish = asyncio.Event(), asyncio.Event()

    async def slow(received: CloudEvent) -> None:
        a_started.set()
        await a_may_finish.wait()
        effects.append(f"A:{received.id}")

    async def fast(received: CloudEvent) -> None:
        effects.append(f"B:{received.id}")

    # Claims last 4 s: B's second "in progress" waits that long (see the test below).
    claims = IdempotencyStore(store.dynamodb, store.table, in_progress_timeout=4)
    worker_a = worker(sqs, queue.url, slow, store=claims)
    worker_b = worker(sqs, queue.url, fast, store=claims)

    # GIVEN worker A is inside the handler for the event
    handling = asyncio.create_task(worker_a.process(first))
    await a_started.wait()
    # WHEN worker B gets the duplicate, twice, while A is still busy
    await worker_b.process(second)
    retried = await queues.receive(queue.url)
    await worker_b.process(retried)
    # THEN B ran nothing, and each attempt failed (to be retried later)
    assert effects == []
    assert [r.outcome for r in [*second, *retried]] == [Outcome.FAILED, Outcome.FAILED]

    a_may_finish.set()
    await handling
    await asyncio.sleep(4.5)
    last = await queues.receive(queue.url)
    await worker_b.process(last)

    assert effects == [f"A:{duplicated.id}"]
    assert [r.outcome for r in [*first, *last]] == [Outcome.SUCCEEDED, Outcome.DUPLICATE]
    assert await queues.depth(queue.url) == {"visible": 0, "in_flight": 0}


async def test_failed_handler_releases_its_claim(queues, sqs, store) -> None:
    """A failure forgets the claim, so the redelivery runs the handler again (and succeeds)."""
    queue = await queues.make(visibility_timeout=30, max_receive_count=5)
    effects = Effects(fail={"flaky"})
    consumer_ = worker(sqs, queue.url, effects, store=store)
    await queues.send(queue, [event("flaky").to_json()])

    await consumer_.run_until_idle()

    assert effects.calls == ["flaky", "flaky"]
    assert effects.done == ["flaky"]
    assert consumer_.stats[Outcome.FAILED] == consumer_.stats[Outcome.SUCCEEDED] == 1


# --- d. FIFO -------------------------------------------------------------------------------


class SlowFirstCompletion(IdempotencyStore):
    """The real store, except that its first ``complete`` call hangs: a process stopped while
    it records an effect that already happened."""

    def __init__(self, store: IdempotencyStore) -> None:
        super().__init__(store.dynamodb, store.table)
        self.completions = 0

    async def complete(self, key: str) -> None:
        self.completions += 1
        if self.completions == 1:
            await asyncio.sleep(60)
        await super().complete(key)


async def test_cut_off_mid_handler_deletes_its_claim_and_releases_the_message(
    queues, sqs, store
) -> None:
    """A handler the stop timeout cancels leaves no INPROGRESS claim behind, and its message
    is visible again at once (RELEASED, not FAILED with a backoff)."""
    queue = await queues.make(visibility_timeout=30, max_receive_count=5)
    stuck = event("stuck")
    await queues.send(queue, [stuck.to_json()])
    entered = asyncio.Event()

    async def forever(_: CloudEvent) -> None:
        entered.set()
        await asyncio.sleep(600)

    consumer_ = worker(sqs, queue.url, forever, store=store, stop_timeout=0.2, backoff_base=60)
    records = await queues.receive(queue.url)
    handling = asyncio.create_task(consumer_.process(records))
    await entered.wait()

    consumer_.stop()
    await asyncio.wait_for(handling, timeout=10)

    assert [r.outcome for r in records] == [Outcome.RELEASED]
    again = await queues.receive(queue.url)
    assert [(name_of(r.body), r.receive_count) for r in again] == [("stuck", 2)]
    assert await store.begin(stuck.key) is Claim.NEW  # the claim was gone, not in progress


async def test_cut_off_while_recording_completion_keeps_the_effect_single(
    queues, sqs, store
) -> None:
    """Cancelled after its handler returned but before the claim said COMPLETED, a record
    is completed and deleted: the effect is not run a second time."""
    queue = await queues.make(visibility_timeout=30, max_receive_count=5)
    done = event("done")
    await queues.send(queue, [done.to_json()])
    effects = Effects()
    slow_store = SlowFirstCompletion(store)
    consumer_ = worker(sqs, queue.url, effects, store=slow_store, stop_timeout=0.2)
    records = await queues.receive(queue.url)
    handling = asyncio.create_task(consumer_.process(records))

    async def recording() -> bool:
        return slow_store.completions == 1

    await eventually(recording, timeout=10, interval=0.02)
    consumer_.stop()
    await asyncio.wait_for(handling, timeout=10)

    assert [r.outcome for r in records] == [Outcome.SUCCEEDED]
    assert effects.done == ["done"]
    assert await store.begin(done.key) is Claim.ALREADY_PROCESSED
    assert await queues.depth(queue.url) == {"visible": 0, "in_flight": 0}


async def test_fifo_failure_stops_its_group_and_not_the_others(queues, sqs) -> None:
    """On a failure in group A the rest of A's batch is released unprocessed and comes back in
    order; group B carries on."""
    queue = await queues.make(fifo=True, visibility_timeout=30, max_receive_count=5)
    await queues.send(queue, [event(f"A{i}").to_json() for i in (1, 2, 3)], group="A")
    await queues.send(queue, [event(f"B{i}").to_json() for i in (1, 2)], group="B")
    effects = Effects(fail={"A2"})
    consumer_ = worker(sqs, queue.url, effects)
    batch = await queues.receive(queue.url)
    assert [name_of(r.body) for r in batch] == ["A1", "A2", "A3", "B1", "B2"]

    await consumer_.process(batch)

    assert {name_of(r.body): r.outcome for r in batch} == {
        "A1": Outcome.SUCCEEDED, "A2": Outcome.FAILED, "A3": Outcome.RELEASED,
        "B1": Outcome.SUCCEEDED, "B2": Outcome.SUCCEEDED}
    assert "A3" not in effects.calls
    # The failed record and the one behind it come back, in their order.
    again = await queues.receive(queue.url)
    assert [name_of(r.body) for r in again] == ["A2", "A3"]
    await consumer_.process(again)
    assert [n for n in effects.done if n.startswith("A")] == ["A1", "A2", "A3"]
    assert [n for n in effects.done if n.startswith("B")] == ["B1", "B2"]
    assert await queues.depth(queue.url) == {"visible": 0, "in_flight": 0}


# --- e, f. signals (a real worker process) -------------------------------------------------


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def start_worker(stack: LocalStack, queue_url: str, trace: Path, **env: object) -> ServiceProcess:
    settings = {
        "QUEUE_URL": queue_url,
        "TRACE_DIR": str(trace),
        "IDEMPOTENCY_TABLE": stack.resources.table("recipes-idempotency"),
        "WORKER_LIVENESS_DIR": str(trace / "liveness"),
        **{k: str(v) for k, v in env.items()},
    }
    trace.mkdir(parents=True, exist_ok=True)
    process = ServiceProcess([sys.executable, str(WORKER_SCRIPT)], {**stack.env, **settings},
                             log_path=trace / "worker.log")
    return process.start()


async def exit_code(process: ServiceProcess, within: float = 30) -> int:
    return await asyncio.to_thread(process.wait, within)


async def test_sigterm_finishes_in_flight_releases_the_rest_and_exits_0(
    queues, stack, tmp_path
) -> None:
    """SIGTERM during a slow handler: the handler finishes, unstarted prefetched messages are
    visible again at once, and the process exits 0."""
    queue = await queues.make(visibility_timeout=30, max_receive_count=5)
    names = ["s1", "s2", "s3", "s4"]
    await queues.send(queue, [event(n).to_json() for n in names])
    trace = tmp_path / "worker"
    process = start_worker(stack, queue.url, trace, CONCURRENCY=1, HANDLER_SECONDS=2)
    try:
        # GIVEN the worker is inside the handler of the first message of its batch
        async def one_started() -> list[str]:
            return lines(trace / "started")

        await eventually(one_started, timeout=20, interval=0.05)
        assert await queues.depth(queue.url) == {"visible": 0, "in_flight": 4}

        # WHEN ECS asks it to stop
        process.signal(signal.SIGTERM)

        # THEN it finishes that handler and exits 0
        assert await exit_code(process) == 0
    finally:
        process.stop()
    started = lines(trace / "started")
    assert 1 <= len(started) < len(names)  # concurrency 1: the rest of the batch waited
    assert lines(trace / "effects") == started
    # AND the unstarted ones are receivable right away (the queue's visibility is 30 s)
    released = await queues.receive(queue.url)
    assert sorted(name_of(r.body) for r in released) == sorted(set(names) - set(started))
    assert {r.receive_count for r in released} == {2}
    assert await queues.depth(queue.url) == {"visible": 0, "in_flight": len(released)}


async def test_handler_cut_off_by_the_stop_timeout_is_redelivered_at_once_and_runs(
    queues, stack, tmp_path
) -> None:
    """A handler that outlives the stop timeout gives up its claim and its message before the
    process exits: the message is receivable at once (not after the 30 s visibility), and the
    next worker runs the handler instead of failing on an "in progress" claim."""
    queue = await queues.make(visibility_timeout=30, max_receive_count=5)
    await queues.send(queue, [event("slow").to_json()])
    first_trace, second_trace = tmp_path / "first", tmp_path / "second"
    # Claims last as consumer() makes them: the visibility timeout minus 2 s; a failure
    # would wait 15-30 s (BACKOFF_BASE), so "at once" cannot come from the failure path.
    first = start_worker(stack, queue.url, first_trace, HANDLER_SECONDS=60, STOP_TIMEOUT=1,
                         VISIBILITY_TIMEOUT=30, IN_PROGRESS_TIMEOUT=28, BACKOFF_BASE=30)
    try:
        # GIVEN the worker is inside a handler that needs a minute
        async def started() -> list[str]:
            return lines(first_trace / "started")

        await eventually(started, timeout=20, interval=0.05)
        # WHEN ECS stops it with a 1 s drain budget
        first.signal(signal.SIGTERM)
        assert await exit_code(first) == 0
    finally:
        first.stop()
    assert lines(first_trace / "effects") == []

    # THEN the message is receivable at once, on its second delivery
    redelivered = await queues.receive(queue.url, wait=2)
    assert [(name_of(r.body), r.receive_count) for r in redelivered] == [("slow", 2)]
    await queues.sqs.change_message_visibility(QueueUrl=queue.url,
                                               ReceiptHandle=redelivered[0].receipt_handle,
                                               VisibilityTimeout=0)
    # AND the next worker runs the handler to its effect, well inside the claim's 28 s
    second = start_worker(stack, queue.url, second_trace, HANDLER_SECONDS=0,
                          VISIBILITY_TIMEOUT=30, IN_PROGRESS_TIMEOUT=28)
    try:
        async def effect() -> list[str]:
            return lines(second_trace / "effects")

        assert await eventually(effect, timeout=15, interval=0.1) == ["slow"]
        second.signal(signal.SIGTERM)
        assert await exit_code(second) == 0
    finally:
        second.stop()
    assert await queues.depth(queue.url) == {"visible": 0, "in_flight": 0}
    assert "IdempotencyInProgressError" not in (second_trace / "worker.log").read_text()


async def test_sigkill_mid_batch_loses_nothing_and_duplicates_nothing(
    queues, stack, tmp_path
) -> None:
    """A worker killed with SIGKILL mid-batch loses no message: after the visibility timeout a
    second worker handles what is left, and every event has exactly one effect."""
    queue = await queues.make(visibility_timeout=2, max_receive_count=20)
    names = [f"k{i}" for i in range(1, 7)]
    await queues.send(queue, [event(n).to_json() for n in names])
    first_trace, second_trace = tmp_path / "first", tmp_path / "second"
    tuning = {"VISIBILITY_TIMEOUT": 2, "HEARTBEAT_INTERVAL": 0.5, "IN_PROGRESS_TIMEOUT": 2}
    first = start_worker(stack, queue.url, first_trace, CONCURRENCY=2, HANDLER_SECONDS=2,
                         **tuning)
    try:
        # GIVEN two handlers finished (claims completed, messages not yet deleted: the batch
        # settles at its end), two are mid-handler and two never started
        async def third_started() -> bool:
            return len(lines(first_trace / "started")) >= 3

        await eventually(third_started, timeout=20, interval=0.05)
        # WHEN the process is killed without warning
        first.signal(signal.SIGKILL)
        assert await exit_code(first) == -signal.SIGKILL
    finally:
        first.stop()
    killed_effects = lines(first_trace / "effects")
    assert 0 < len(killed_effects) < len(names)

    # THEN a second worker gets every message back and completes the rest
    second = start_worker(stack, queue.url, second_trace, CONCURRENCY=10, BACKOFF_BASE=1,
                          **tuning)
    try:
        async def all_settled() -> bool:
            return await queues.depth(queue.url) == {"visible": 0, "in_flight": 0}

        await eventually(all_settled, timeout=30, interval=0.2)
        second.signal(signal.SIGTERM)
        assert await exit_code(second) == 0
    finally:
        second.stop()
    effects = killed_effects + lines(second_trace / "effects")
    assert sorted(effects) == sorted(names), "every event exactly once in effect"
    assert await queues.depth(queue.dlq_url) == {"visible": 0, "in_flight": 0}


# --- g. heartbeat --------------------------------------------------------------------------


async def _handle_slowly_while_polling(queues, sqs, heartbeat_interval: float) -> list[Any]:
    """Handle one message for 3.5 s on a 2 s visibility queue; return what a second,
    concurrent receiver got meanwhile."""
    queue = await queues.make(visibility_timeout=2, max_receive_count=5)
    await queues.send(queue, [event("long").to_json()])

    async def slow(_: CloudEvent) -> None:
        await asyncio.sleep(3.5)

    consumer_ = worker(sqs, queue.url, slow, visibility_timeout=2,
                       heartbeat_interval=heartbeat_interval)
    records = await queues.receive(queue.url)
    handling = asyncio.create_task(consumer_.process(records))
    stolen: list[Any] = []
    while not handling.done():
        stolen += await queues.receive(queue.url, wait=1, visibility=30)
    await handling
    assert records[0].outcome is Outcome.SUCCEEDED
    return stolen


async def test_heartbeat_keeps_a_long_handler_invisible(queues, sqs) -> None:
    """A handler running twice the visibility timeout is not redelivered meanwhile."""
    stolen = await _handle_slowly_while_polling(queues, sqs, heartbeat_interval=0.5)

    assert stolen == []


async def test_without_heartbeat_a_long_handler_is_redelivered(queues, sqs) -> None:
    """Control for the heartbeat test: with the heartbeat too slow, SQS redelivers the message
    to another receiver while the first handler still runs (the test above can fail)."""
    stolen = await _handle_slowly_while_polling(queues, sqs, heartbeat_interval=60)

    assert [name_of(r.body) for r in stolen] == ["long"]


# --- h. liveness and receive backoff --------------------------------------------------------

HEALTHCHECK = ROOT / "docker" / "healthcheck.py"


def worker_health(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The container health check of a worker consuming the contract queue."""
    return subprocess.run([sys.executable, str(HEALTHCHECK), "--queue", "contract"],
                          capture_output=True, text=True, timeout=30, check=False,
                          env={**os.environ, **env, "PYTHONPATH": str(ROOT)})


async def test_health_check_fails_while_the_loop_is_frozen(queues, stack, tmp_path) -> None:
    """A polling worker passes its health check; frozen (SIGSTOP) it fails once its last
    completed receive is older than WORKER_STALL_SECONDS; resumed, it passes again."""
    queue = await queues.make()
    trace = tmp_path / "worker"
    health_env = {**stack.env, "WORKER_LIVENESS_DIR": str(trace / "liveness"),
                  "WORKER_STALL_SECONDS": "3"}
    process = start_worker(stack, queue.url, trace, WORKER_STALL_SECONDS=3)
    frozen = False
    try:
        async def healthy() -> bool:
            return (await asyncio.to_thread(worker_health, health_env)).returncode == 0

        await eventually(healthy, timeout=20, interval=0.3)
        # WHEN the loop stops making progress (1 s long polls, so it made progress just now)
        process.signal(signal.SIGSTOP)
        frozen = True

        async def stalled() -> subprocess.CompletedProcess[str] | None:
            result = await asyncio.to_thread(worker_health, health_env)
            return result if result.returncode == 1 else None

        # THEN the check fails within a few seconds past the stall time, and says why
        failed = await eventually(stalled, timeout=15, interval=0.5)
        assert "queue contract: no progress for" in failed.stderr
        process.signal(signal.SIGCONT)
        frozen = False
        await eventually(healthy, timeout=15, interval=0.3)
        process.signal(signal.SIGTERM)
        assert await exit_code(process) == 0
    finally:
        if frozen:
            process.signal(signal.SIGCONT)
        process.stop()


async def test_unreachable_aws_backs_off_and_is_never_healthy(stack, tmp_path) -> None:
    """Against an endpoint nobody answers, receives fail with growing pauses, no progress is
    recorded (the health check fails), and SIGTERM still ends the worker at once with 0."""
    trace = tmp_path / "worker"
    dead = f"http://127.0.0.1:{free_port()}"
    env = {"AWS_ENDPOINT_URL": dead, "WORKER_RECEIVE_BACKOFF_BASE": "0.2",
           "WORKER_RECEIVE_BACKOFF_CAP": "0.8", "WORKER_STALL_SECONDS": "60"}
    process = start_worker(stack, f"{dead}/123456789012/nobody", trace, **env)
    try:
        async def failures_logged() -> list[dict[str, Any]]:
            text = (trace / "worker.log").read_text() if (trace / "worker.log").exists() else ""
            failures = [json.loads(line) for line in text.splitlines()
                        if '"worker.receive_failed"' in line]
            return failures if len(failures) >= 3 else []

        failures = await eventually(failures_logged, timeout=40, interval=0.2)
        # (each failed call takes seconds: botocore retries a refused connection itself)
        assert [f["failures"] for f in failures[:3]] == [1, 2, 3]
        ceilings = [0.2, 0.4, 0.8]
        assert all(c / 2 <= f["retry_in_s"] <= c for f, c in zip(failures, ceilings, strict=False))
        result = await asyncio.to_thread(worker_health, {
            **stack.env, "WORKER_LIVENESS_DIR": str(trace / "liveness")})
        assert result.returncode == 1 and "no progress recorded yet" in result.stderr
        process.signal(signal.SIGTERM)
        assert await exit_code(process, within=10) == 0
    finally:
        process.stop()


# --- consumer() ----------------------------------------------------------------------------


async def test_consumer_is_tuned_from_the_topology(aws, stack: LocalStack) -> None:
    """consumer() binds a topology queue, its visibility timeout and the idempotency table."""
    resources: Resources = stack.resources

    async def handler(_: CloudEvent) -> None:
        return None

    built = await consumer(aws, resources, QueueSubscription(
        "media-jobs-uploads", idempotency_table="media-idempotency"), handler, concurrency=2)

    assert built.queue_url.endswith("/regatta-media-jobs-uploads")
    assert built.config.visibility_timeout == 120
    assert built.config.concurrency == 2
    assert built.config.wait_time_seconds == stack.settings.worker_wait_time_seconds
    assert built.idempotency is not None
    assert built.idempotency.table == "regatta-media-idempotency"
    assert not built.fifo
    settings = stack.settings
    assert built.config.liveness_file == str(Path(settings.worker_liveness_dir)
                                              / "media-jobs-uploads")
    assert (built.config.receive_backoff_base, built.config.receive_backoff_cap) == (
        settings.worker_receive_backoff_base, settings.worker_receive_backoff_cap)


async def test_batch_consumer_is_tuned_like_consumer(aws, stack: LocalStack) -> None:
    """consumer() of a PerBatch subscription gets the same platform tuning: its liveness file
    is its queue's."""

    async def handler(events: Any) -> list[Outcome]:
        return [Outcome.SUCCEEDED for _ in events]

    built = await consumer(aws, stack.resources,
                           QueueSubscription("trend-ticks.fifo", strategy=PerBatch), handler)

    assert built.config.visibility_timeout == 10 and built.fifo
    assert isinstance(built.strategy, PerBatch)
    assert built.config.liveness_file == str(Path(stack.settings.worker_liveness_dir)
                                              / "trend-ticks.fifo")


async def test_consumer_of_dead_letters_binds_the_queues_dlq(aws, stack: LocalStack) -> None:
    """consumer(dead_letters=True) reads the queue's DLQ (the dlq_name rule), keeps the queue's
    visibility timeout, and a queue that is not in the topology is refused as before."""
    resources: Resources = stack.resources

    async def handler(_: CloudEvent) -> None:
        return None

    built = await consumer(aws, resources, QueueSubscription(
        "recipes-search-index", dead_letters=True), handler)

    assert built.queue_url.endswith("/regatta-recipes-search-index-dlq")
    assert built.config.liveness_file.endswith("/recipes-search-index-dlq")
    assert built.config.visibility_timeout == resources.topology.queues[
        "recipes-search-index"].visibility_timeout
    with pytest.raises(TopologyError):
        await consumer(aws, resources, QueueSubscription(
            "recipes-search-index-dlq", dead_letters=True), handler)
