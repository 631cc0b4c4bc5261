"""Kit features the stock services brought into ./shared, against the emulator: the worker's
batch strategy (shared.dispatch.PerBatch) on a real FIFO queue, and per-process AWS call
counts (shared.aws)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from devkit.testing import LocalStack, eventually
from shared.aws import AwsClients
from shared.events import CloudEvent
from shared.worker import Outcome, PerBatch, SqsWorker, WorkerConfig

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def fifo(aws: AwsClients) -> AsyncIterator[str]:
    """A FIFO queue of its own (with a DLQ after 2 receives)."""
    sqs = await aws.client("sqs")
    name = f"batch-{uuid.uuid4().hex[:10]}"
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    dlq = (await sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes=attributes))
    dlq_arn = (await sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"],
                                              AttributeNames=["QueueArn"]))["Attributes"]
    url = (await sqs.create_queue(QueueName=f"{name}.fifo", Attributes={
        **attributes, "VisibilityTimeout": "30", "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": "2"})}))["QueueUrl"]
    yield url
    await sqs.delete_queue(QueueUrl=url)
    await sqs.delete_queue(QueueUrl=dlq["QueueUrl"])


async def send(sqs: Any, url: str, bodies: list[tuple[str, str]]) -> None:
    """(group, body) pairs in order, in one batch."""
    response = await sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": body, "MessageGroupId": group,
         "MessageDeduplicationId": uuid.uuid4().hex} for i, (group, body) in enumerate(bodies)])
    assert not response.get("Failed")


def event(name: str) -> str:
    return CloudEvent(source="/batch-tests", type="dev.regatta.test.thing.v1",
                      data={"name": name}).to_json()


class Handler:
    """Records each call's event names; fails the names in ``fail``; raises if ``explode``."""

    def __init__(self, fail: set[str] = frozenset(), *, explode: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail
        self.explode = explode

    async def __call__(self, events: Sequence[CloudEvent]) -> list[Outcome]:
        names = [e.data["name"] for e in events]
        self.calls.append(names)
        if self.explode:
            raise RuntimeError("boom")
        return [Outcome.FAILED if n in self.fail else Outcome.SUCCEEDED for n in names]


def worker(sqs: Any, url: str, handler: Handler, **tuning: Any) -> SqsWorker[CloudEvent]:
    return SqsWorker(sqs, url, PerBatch(handler),
                     config=WorkerConfig(wait_time_seconds=1, backoff_base=0, **tuning))


async def test_one_handler_call_per_batch_and_every_success_deleted(
    aws: AwsClients, fifo: str
) -> None:
    """Six events of three groups, received together: one call, in order, all deleted."""
    sqs = await aws.client("sqs")
    await send(sqs, fifo, [(g, event(f"{g}{i}")) for i in range(2) for g in "abc"])
    handler = Handler()
    records = await worker(sqs, fifo, handler)._receive()
    assert len(records) == 6
    await worker(sqs, fifo, handler).process(records)
    assert handler.calls == [["a0", "b0", "c0", "a1", "b1", "c1"]]
    assert [r.outcome for r in records] == [Outcome.SUCCEEDED] * 6
    again = await sqs.receive_message(QueueUrl=fifo, WaitTimeSeconds=0, VisibilityTimeout=0)
    assert again.get("Messages", []) == []


async def test_a_failure_releases_the_rest_of_its_group_only(aws: AwsClients, fifo: str) -> None:
    """a1 fails: a2 is released (not retried ahead of a1); group b is unaffected; an
    unparseable body fails alone and holds back its own group."""
    sqs = await aws.client("sqs")
    await send(sqs, fifo, [("a", event("a0")), ("a", event("a1")), ("a", event("a2")),
                           ("b", event("b0")), ("c", "not json"), ("c", event("c1"))])
    handler = Handler(fail={"a1"})
    batch = worker(sqs, fifo, handler)
    records = await batch._receive()
    await batch.process(records)
    assert handler.calls == [["a0", "a1", "a2", "b0"]]
    assert [r.outcome for r in records] == [
        Outcome.SUCCEEDED, Outcome.FAILED, Outcome.RELEASED, Outcome.SUCCEEDED,
        Outcome.FAILED, Outcome.RELEASED]
    left = []
    while response := (await sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10,
                                                  WaitTimeSeconds=0)).get("Messages"):
        left += [json.loads(m["Body"])["data"]["name"] if m["Body"] != "not json" else "bad"
                 for m in response]
        await sqs.delete_message_batch(QueueUrl=fifo, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(response)])
    assert sorted(left) == ["a1", "a2", "bad", "c1"]


async def test_a_handler_that_raises_fails_the_whole_batch(aws: AwsClients, fifo: str) -> None:
    """Nothing is deleted when the handler raises: every record is left for redelivery."""
    sqs = await aws.client("sqs")
    await send(sqs, fifo, [("a", event("a0")), ("b", event("b0"))])
    batch = worker(sqs, fifo, Handler(explode=True))
    records = await batch._receive()
    await batch.process(records)
    assert [r.outcome for r in records] == [Outcome.FAILED, Outcome.FAILED]
    assert batch.stats[Outcome.FAILED] == 2


async def test_the_batch_window_gathers_a_trickle_into_fewer_calls(
    aws: AwsClients, fifo: str
) -> None:
    """After a partial batch the worker waits out its window: three messages sent one by one
    meanwhile come in one handler call (without it, a long poll returns the first alone)."""
    sqs = await aws.client("sqs")
    handler = Handler()
    batch = worker(sqs, fifo, handler, batch_window=3)
    running = asyncio.create_task(batch.run())
    await send(sqs, fifo, [("a", event("first"))])

    async def called(times: int) -> bool:
        assert sum(map(len, handler.calls)) >= times
        return True

    await eventually(lambda: called(1))
    for name in ("x", "y", "z"):
        await send(sqs, fifo, [(name, event(name))])
    await eventually(lambda: called(4))
    batch.stop()
    await running
    assert handler.calls == [["first"], ["x", "y", "z"]]


async def test_call_counts_are_written_when_the_clients_close(
    stack: LocalStack, tmp_path: Path
) -> None:
    """AWS_CALL_COUNTS_PATH: every call counted by operation, saved as JSON at close."""
    path = tmp_path / "calls.json"
    settings = stack.settings.model_copy(update={"aws_call_counts_path": str(path)})
    async with AwsClients(settings) as aws:
        sqs = await aws.client("sqs")
        await sqs.list_queues()
        await sqs.list_queues()
        await (await aws.client("dynamodb")).list_tables()
        assert not path.exists()
    counts = json.loads(path.read_text())
    assert counts["calls"] == {"dynamodb.ListTables": 1, "sqs.ListQueues": 2}
    assert counts["total"] == 3


async def test_a_dead_consumers_fifo_messages_come_back_in_order(
    aws: AwsClients, fifo: str
) -> None:
    """The emulator redelivers a group's timed-out messages in their order (devkit.emulator:
    moto's own loop gave the second message back first)."""
    sqs = await aws.client("sqs")
    await send(sqs, fifo, [("g", event("first")), ("g", event("second"))])
    taken = await sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10, VisibilityTimeout=1)
    assert len(taken["Messages"]) == 2  # then the consumer "dies" holding both

    async def redelivered() -> list[str]:
        response = await sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=1,
                                             WaitTimeSeconds=1)
        return [json.loads(m["Body"])["data"]["name"] for m in response.get("Messages", [])]

    assert await eventually(redelivered, timeout=10) == ["first"]


async def test_a_long_poll_sees_a_group_freed_meanwhile(aws: AwsClients, fifo: str) -> None:
    """A second consumer's long poll gets the group's next message as soon as the first
    consumer is done with it (devkit.emulator: moto's own poll starved it to the end)."""
    sqs = await aws.client("sqs")
    await send(sqs, fifo, [("g", event("first")), ("g", event("second"))])
    (held,) = (await sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=1))["Messages"]
    polling = asyncio.ensure_future(sqs.receive_message(QueueUrl=fifo, WaitTimeSeconds=10))
    await asyncio.sleep(0.5)
    await sqs.delete_message(QueueUrl=fifo, ReceiptHandle=held["ReceiptHandle"])
    response = await polling
    assert [json.loads(m["Body"])["data"]["name"] for m in response.get("Messages", [])] == [
        "second"]
