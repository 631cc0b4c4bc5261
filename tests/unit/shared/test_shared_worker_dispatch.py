"""The worker's strategies (``shared.dispatch``) and its one FIFO hold-back, without I/O: pages
of records go through ``SqsWorker.process`` against an SQS stand-in that only settles."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from shared.events import CloudEvent
from shared.worker import (
    Outcome,
    PerBatch,
    PerRecord,
    Record,
    SqsWorker,
    WorkerConfig,
    hold_back_failed_groups,
)
from tests.support.sqs_double import RecordingSqs, page

STANDARD, FIFO = "https://sqs/q", "https://sqs/q.fifo"
THING = "dev.regatta.test.thing.v1"
OTHER = "dev.regatta.test.other.v1"


def event(name: str, type_: str = THING) -> str:
    return CloudEvent(source="/dispatch-tests", type=type_, data={"name": name}).to_json()


def names(records: Sequence[Record[Any]]) -> list[str]:
    return [json.loads(r.body)["data"]["name"] for r in records]


def outcomes(records: Sequence[Record[Any]]) -> list[Outcome | None]:
    return [r.outcome for r in records]


class RecordHandler:
    """A per-record handler that remembers the names it got and fails those in ``fail``."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.calls: list[str] = []
        self.fail = fail

    async def __call__(self, received: CloudEvent) -> None:
        self.calls.append(received.data["name"])
        if received.data["name"] in self.fail:
            raise RuntimeError(f"failed on {received.data['name']}")


class PageHandler:
    """A batch handler that remembers each call's names and answers ``answer(names)``."""

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[list[str]] = []
        self.answer = answer or (lambda got: [Outcome.SUCCEEDED] * len(got))

    async def __call__(self, events: Sequence[CloudEvent]) -> Sequence[Outcome]:
        got = [e.data["name"] for e in events]
        self.calls.append(got)
        return self.answer(got)  # type: ignore[no-any-return]


def worker(sqs: RecordingSqs, url: str, dispatch: Any, **options: Any) -> SqsWorker[Any]:
    return SqsWorker(sqs, url, dispatch, config=WorkerConfig(backoff_base=20), **options)


# --- the one FIFO hold-back ----------------------------------------------------------------


def test_a_failure_releases_the_rest_of_its_group_only() -> None:
    """GIVEN group a fails at its second record, THEN a's later records are released, a's
    earlier one and group b keep their outcomes."""
    records = page("a0", "a1", "b0", "a2", "b1", groups="aabab")
    for record, outcome in zip(records, [Outcome.SUCCEEDED, Outcome.FAILED, None, None,
                                         Outcome.SUCCEEDED], strict=True):
        record.outcome = outcome

    hold_back_failed_groups(records)

    assert outcomes(records) == [Outcome.SUCCEEDED, Outcome.FAILED, None, Outcome.RELEASED,
                                 Outcome.SUCCEEDED]


def test_the_hold_back_overrides_what_a_handler_said_behind_a_failure() -> None:
    """A record behind a failure of its group is released even when it was handled: its
    redelivery must not overtake the failed one."""
    records = page("a0", "a1", "a2", groups="aaa")
    for record, outcome in zip(records, [Outcome.FAILED, Outcome.SUCCEEDED, Outcome.DUPLICATE],
                               strict=True):
        record.outcome = outcome

    hold_back_failed_groups(records)

    assert outcomes(records) == [Outcome.FAILED, Outcome.RELEASED, Outcome.RELEASED]


def test_records_of_no_group_are_never_held_back() -> None:
    """On a standard queue (no message groups) a failure holds nothing back."""
    records = page("x", "y", "z")
    records[0].outcome = Outcome.FAILED

    hold_back_failed_groups(records)

    assert outcomes(records) == [Outcome.FAILED, None, None]


# --- PerRecord -----------------------------------------------------------------------------


async def test_per_record_fifo_failure_stops_its_group_and_not_the_others() -> None:
    """a1 fails: a2 never reaches the handler and is released at once (visibility 0), a1 waits
    for its backoff, group b is handled and deleted."""
    sqs, handler = RecordingSqs(), RecordHandler(fail=frozenset({"a1"}))
    records = page(*(event(n) for n in ("a0", "a1", "a2", "b0")), groups="aaab")

    await worker(sqs, FIFO, PerRecord(handler)).process(records)

    assert outcomes(records) == [Outcome.SUCCEEDED, Outcome.FAILED, Outcome.RELEASED,
                                 Outcome.SUCCEEDED]
    assert "a2" not in handler.calls
    assert sorted(sqs.deleted) == ["r0", "r3"]
    assert sqs.visibility["r2"] == 0 and sqs.visibility["r1"] >= 10


async def test_per_record_failure_on_a_standard_queue_holds_nothing_back() -> None:
    """Without message groups a failed or unparseable record fails alone; every other record
    is handled, concurrently with it."""
    sqs, handler = RecordingSqs(), RecordHandler(fail=frozenset({"x"}))
    records = page(event("x"), "{not json", event("y"), event("z"))

    await worker(sqs, STANDARD, PerRecord(handler)).process(records)

    assert outcomes(records) == [Outcome.FAILED, Outcome.FAILED, Outcome.SUCCEEDED,
                                 Outcome.SUCCEEDED]
    assert sorted(handler.calls) == ["x", "y", "z"]
    assert sorted(sqs.deleted) == ["r2", "r3"]


async def test_per_record_unparseable_body_holds_back_its_fifo_group() -> None:
    """A body that is not an event fails and, on a FIFO queue, holds back its group."""
    sqs, handler = RecordingSqs(), RecordHandler()
    records = page("{not json", event("a1"), event("b0"), groups="aab")

    await worker(sqs, FIFO, PerRecord(handler)).process(records)

    assert outcomes(records) == [Outcome.FAILED, Outcome.RELEASED, Outcome.SUCCEEDED]
    assert handler.calls == ["b0"]


# --- PerBatch ------------------------------------------------------------------------------


async def test_per_batch_gets_every_pending_payload_in_one_call_in_order() -> None:
    """One handler call with the parseable records in receive order; the unparseable one
    fails alone (standard queue) and never reaches the handler."""
    sqs, handler = RecordingSqs(), PageHandler()
    records = page(event("x"), "{not json", event("y"), event("z"))

    await worker(sqs, STANDARD, PerBatch(handler)).process(records)

    assert handler.calls == [["x", "y", "z"]]
    assert outcomes(records) == [Outcome.SUCCEEDED, Outcome.FAILED, Outcome.SUCCEEDED,
                                 Outcome.SUCCEEDED]
    assert sorted(sqs.deleted) == ["r0", "r2", "r3"]


async def test_per_batch_failure_releases_the_rest_of_its_group_whatever_the_handler_said(
) -> None:
    """The handler fails a1 and says a2 succeeded: a2 is released all the same (not deleted),
    so it comes back behind a1; group b's success is deleted."""
    sqs = RecordingSqs()
    handler = PageHandler(lambda got: [Outcome.FAILED if n == "a1" else Outcome.SUCCEEDED
                                       for n in got])
    records = page(*(event(n) for n in ("a1", "a2", "b0")), groups="aab")

    await worker(sqs, FIFO, PerBatch(handler)).process(records)

    assert outcomes(records) == [Outcome.FAILED, Outcome.RELEASED, Outcome.SUCCEEDED]
    assert sqs.deleted == ["r2"]
    assert sqs.visibility["r1"] == 0


@pytest.mark.parametrize("answer", [
    pytest.param(lambda got: 1 / 0, id="raises"),
    pytest.param(lambda got: [Outcome.SUCCEEDED], id="too-few-outcomes"),
    pytest.param(lambda got: [Outcome.RELEASED] * len(got), id="not-a-handler-outcome"),
])
async def test_per_batch_handler_that_raises_or_misanswers_fails_the_whole_page(answer) -> None:
    """Nothing is deleted when the handler raises or does not answer one SUCCEEDED, DUPLICATE
    or FAILED per record: every record is left for redelivery."""
    sqs = RecordingSqs()
    records = page(event("x"), event("y"))
    consumer = worker(sqs, STANDARD, PerBatch(PageHandler(answer)))

    await consumer.process(records)

    assert outcomes(records) == [Outcome.FAILED, Outcome.FAILED]
    assert sqs.deleted == []
    assert consumer.stats[Outcome.FAILED] == 2


# --- both strategies -----------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["per-record", "per-batch"])
async def test_an_event_type_not_accepted_is_acknowledged_without_reaching_the_handler(
    strategy: str
) -> None:
    """An event the queue should not have carried is deleted, not handled and not retried
    into the DLQ; the accepted one next to it is handled."""
    sqs = RecordingSqs()
    handler = RecordHandler() if strategy == "per-record" else PageHandler()
    dispatch = PerRecord(handler) if strategy == "per-record" else PerBatch(handler)
    records = page(event("other", OTHER), event("mine"))

    await worker(sqs, STANDARD, dispatch, event_types={THING}).process(records)

    assert outcomes(records) == [Outcome.SUCCEEDED, Outcome.SUCCEEDED]
    assert handler.calls in (["mine"], [["mine"]])
    assert sorted(sqs.deleted) == ["r0", "r1"]


@pytest.mark.parametrize("strategy", ["per-record", "per-batch"])
async def test_a_page_received_as_the_worker_stops_is_released_unhandled(strategy: str) -> None:
    """After a stop request a page is released at once (visibility 0), whatever the strategy."""
    sqs = RecordingSqs()
    handler = RecordHandler() if strategy == "per-record" else PageHandler()
    dispatch = PerRecord(handler) if strategy == "per-record" else PerBatch(handler)
    consumer = worker(sqs, STANDARD, dispatch)
    records = page(event("x"), event("y"))
    consumer.stop()

    await consumer.process(records)

    assert outcomes(records) == [Outcome.RELEASED, Outcome.RELEASED]
    assert handler.calls == []
    assert sqs.visibility == {"r0": 0, "r1": 0}
