"""``regatta dlq`` and ``regatta redrive`` (devkit.redrive) against the emulator's real SQS.

Each test runs the command as an operator does (``python -m devkit.cli``), on copies of a
topology queue and its DLQ made under a fresh name prefix, so no service's worker sees them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from botocore.exceptions import ClientError

from devkit.redrive import redrive
from devkit.testing import ROOT, LocalStack
from shared.aws import AwsClients
from shared.topology import dlq_name

pytestmark = pytest.mark.integration

EVENT_TYPE = {"type": {"DataType": "String",
                       "StringValue": "dev.regatta.meetings.meeting.scheduled.v1"}}


@dataclass
class Pair:
    """A topology queue and its DLQ under this test's prefix."""

    queue: str  # logical name, as the command takes it
    prefix: str
    url: str
    arn: str
    dlq_url: str
    dlq_arn: str


@pytest_asyncio.fixture
async def sqs(aws: AwsClients) -> Any:
    return await aws.client("sqs")


@pytest_asyncio.fixture
async def pairs(sqs: Any) -> AsyncIterator[Any]:
    """Makes `Pair`s (deleted after the test); a message fails over after one receive."""
    made: list[Pair] = []

    async def make(queue: str) -> Pair:
        prefix = f"rd{uuid.uuid4().hex[:8]}-"
        fifo = {"FifoQueue": "true"} if queue.endswith(".fifo") else {}
        dlq_url = (await sqs.create_queue(QueueName=prefix + dlq_name(queue),
                                          Attributes=fifo))["QueueUrl"]
        dlq_arn = await arn_of(sqs, dlq_url)
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
        url = (await sqs.create_queue(QueueName=prefix + queue,
                                      Attributes={"RedrivePolicy": policy, **fifo}))["QueueUrl"]
        made.append(Pair(queue, prefix, url, await arn_of(sqs, url), dlq_url, dlq_arn))
        return made[-1]

    yield make
    for pair in made:
        for url in (pair.url, pair.dlq_url):
            await sqs.delete_queue(QueueUrl=url)


async def arn_of(sqs: Any, url: str) -> str:
    attributes = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def regatta(stack: LocalStack, pair: Pair, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `regatta` command against the stack, with the pair's name prefix."""
    env = {**os.environ, **stack.env, "REGATTA_NAME_PREFIX": pair.prefix}
    return subprocess.run([sys.executable, "-m", "devkit.cli", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60, check=False)


async def depth(sqs: Any, url: str) -> tuple[int, int]:
    attributes = (await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                      "ApproximateNumberOfMessagesNotVisible"]))["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]))


async def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Receive (and delete) until empty: what a consumer would now get, in order."""
    got: list[dict[str, Any]] = []
    while True:
        response = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["MessageGroupId", "ApproximateReceiveCount"])
        messages = response.get("Messages", [])
        if not messages:
            return got
        got += messages
        await sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])


async def fail_into_the_dlq(sqs: Any, pair: Pair, body: str) -> None:
    """Send to the source queue and let one delivery pass unhandled: the redrive policy
    (maxReceiveCount 1) moves it to the DLQ on the next receive."""
    await sqs.send_message(QueueUrl=pair.url, MessageBody=body, MessageAttributes=EVENT_TYPE)
    first = await sqs.receive_message(QueueUrl=pair.url, WaitTimeSeconds=1, VisibilityTimeout=0)
    assert [m["Body"] for m in first["Messages"]] == [body]
    again = await sqs.receive_message(QueueUrl=pair.url, WaitTimeSeconds=1)
    assert again.get("Messages", []) == []


async def test_dlq_shows_depth_untouched_and_says_that_looking_receives(
    sqs, pairs, stack
) -> None:
    """`regatta dlq Q --limit 0` gives the DLQ's depth and touches no message; with a limit it
    shows the messages, says that this counted as a receive, and leaves them in the DLQ."""
    pair = await pairs("meetings-notifications")
    await fail_into_the_dlq(sqs, pair, '{"id": "e1"}')
    await sqs.send_message(QueueUrl=pair.dlq_url, MessageBody='{"id": "e2"}',
                           MessageAttributes=EVENT_TYPE)

    counted = await asyncio.to_thread(regatta, stack, pair, "dlq", pair.queue, "--limit", "0")
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.splitlines() == ["meetings-notifications-dlq: 2 waiting, 0 in flight"]

    shown = await asyncio.to_thread(regatta, stack, pair, "dlq", pair.queue)
    assert shown.returncode == 0, shown.stderr
    rows = [json.loads(line) for line in shown.stdout.splitlines()[1:]]
    assert sorted(r["body"] for r in rows) == ['{"id": "e1"}', '{"id": "e2"}']
    assert {r["attributes"]["type"] for r in rows} == {EVENT_TYPE["type"]["StringValue"]}
    assert "SQS has no peek" in shown.stderr
    assert await depth(sqs, pair.dlq_url) == (2, 0)
    # the operator's look was a receive: every count is one higher now
    after = await sqs.receive_message(QueueUrl=pair.dlq_url, MaxNumberOfMessages=10,
                                      VisibilityTimeout=0,
                                      MessageSystemAttributeNames=["ApproximateReceiveCount"])
    counts = {m["Body"]: int(m["Attributes"]["ApproximateReceiveCount"])
              for m in after["Messages"]}
    before = {r["body"]: r["receive_count"] for r in rows}
    assert counts == {body: count + 1 for body, count in before.items()}


async def test_redrive_moves_at_most_max_then_the_rest_keeping_body_and_attributes(
    sqs, pairs, stack
) -> None:
    """`regatta redrive Q --max 2` moves exactly two messages back, printing their ids; a second
    run without --max moves the rest; the source queue then holds every body with its
    attributes, and the DLQ is empty."""
    pair = await pairs("meetings-notifications")
    bodies = [json.dumps({"id": f"e{i}"}) for i in range(5)]
    await fail_into_the_dlq(sqs, pair, bodies[0])
    for body in bodies[1:]:
        await sqs.send_message(QueueUrl=pair.dlq_url, MessageBody=body,
                               MessageAttributes=EVENT_TYPE)

    first = await asyncio.to_thread(regatta, stack, pair, "redrive", pair.queue, "--max", "2")

    assert first.returncode == 0, first.stderr
    *moved, summary = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(moved) == 2 and all(m["dlq_message_id"] and m["message_id"] for m in moved)
    assert summary == {"queue": "meetings-notifications", "from": "meetings-notifications-dlq",
                       "method": "receive-send-delete", "moved": 2}
    assert await depth(sqs, pair.url) == (2, 0)
    assert await depth(sqs, pair.dlq_url) == (3, 0)

    rest = await asyncio.to_thread(regatta, stack, pair, "redrive", pair.queue)

    assert rest.returncode == 0, rest.stderr
    *moved_rest, summary = [json.loads(line) for line in rest.stdout.splitlines()]
    # the emulator has no message-move task, so the command fell back to the loop
    assert summary["method"] == "receive-send-delete" and summary["moved"] == 3
    assert summary["move_task_unavailable"].startswith("StartMessageMoveTask")
    assert await depth(sqs, pair.dlq_url) == (0, 0)
    back = await receive_all(sqs, pair.url)
    assert sorted(m["Body"] for m in back) == sorted(bodies)
    assert {m["MessageId"] for m in back} == {m["message_id"] for m in moved + moved_rest}
    for message in back:
        assert message["MessageAttributes"]["type"]["StringValue"] == (
            EVENT_TYPE["type"]["StringValue"])
        assert message["Attributes"]["ApproximateReceiveCount"] == "1"  # a fresh start


async def test_fifo_redrive_keeps_groups_and_their_order(sqs, pairs, stack) -> None:
    """On a FIFO queue every message goes back to its own group, in the order it had there."""
    pair = await pairs("trend-ticks.fifo")
    sent = [("AAPL", "a1"), ("MSFT", "m1"), ("AAPL", "a2"), ("AAPL", "a3"), ("MSFT", "m2")]
    for group, body in sent:
        await sqs.send_message(QueueUrl=pair.dlq_url, MessageBody=body, MessageGroupId=group,
                               MessageDeduplicationId=uuid.uuid4().hex)

    result = await asyncio.to_thread(regatta, stack, pair, "redrive", pair.queue)

    assert result.returncode == 0, result.stderr
    *moved, summary = [json.loads(line) for line in result.stdout.splitlines()]
    assert summary["moved"] == 5
    assert sorted(m["group_id"] for m in moved) == ["AAPL"] * 3 + ["MSFT"] * 2
    back = await receive_all(sqs, pair.url)
    by_group: dict[str, list[str]] = {}
    for message in back:
        by_group.setdefault(message["Attributes"]["MessageGroupId"], []).append(message["Body"])
    assert by_group == {"AAPL": ["a1", "a2", "a3"], "MSFT": ["m1", "m2"]}
    assert await depth(sqs, pair.dlq_url) == (0, 0)


async def test_redrive_without_max_asks_for_a_move_task_first(sqs, pairs) -> None:
    """Without a limit the kit asks SQS for a message-move task; the emulator (moto 5) has none,
    so the same call falls back to the loop and still moves everything."""
    pair = await pairs("recipes-search-index")
    await sqs.send_message(QueueUrl=pair.dlq_url, MessageBody="x")
    with pytest.raises(ClientError):
        await sqs.start_message_move_task(SourceArn=pair.dlq_arn, DestinationArn=pair.arn)

    report = await redrive(sqs, dlq_url=pair.dlq_url, dlq_arn=pair.dlq_arn,
                           source_url=pair.url, source_arn=pair.arn)

    assert (report.method, report.count) == ("receive-send-delete", 1)
    assert report.fallback_reason is not None and report.task_handle is None
    assert [m["Body"] for m in await receive_all(sqs, pair.url)] == ["x"]
