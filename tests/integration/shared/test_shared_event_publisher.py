"""``EventPublisher`` on a FIFO topic delivering to a subscribed FIFO queue (via the emulator)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from botocore.exceptions import ClientError

from devkit.provision import provision
from shared.aws import AwsClients
from shared.events import CloudEvent, EventPublisher
from shared.topology import Topology, dlq_name

pytestmark = pytest.mark.integration

TICK = "dev.regatta.contract.tick.recorded.v1"
SYMBOLS = ("AAPL", "MSFT", "NVDA")


@dataclass
class FifoPipe:
    publisher: EventPublisher
    queue_url: str


@pytest_asyncio.fixture
async def pipe(aws: AwsClients) -> AsyncIterator[FifoPipe]:
    """A fresh FIFO topic -> FIFO queue subscription (provisioned by the kit)."""
    name = f"contract-{uuid.uuid4().hex[:8]}-ticks.fifo"
    topology = Topology.model_validate({
        "topics": {name: {"owner": "contract", "fifo": True}},
        "queues": {name: {"owner": "contract", "fifo": True, "subscriptions": [
            {"topic": name, "event_types": [TICK]}]}},
    })
    resources = await provision(aws, topology)
    sns, sqs = await aws.client("sns"), await aws.client("sqs")
    yield FifoPipe(EventPublisher(sns, resources.topic_arn(name)),
                   await resources.queue_url(aws, name))
    await sns.delete_topic(TopicArn=resources.topic_arn(name))
    for queue in (name, dlq_name(name)):
        await sqs.delete_queue(QueueUrl=await resources.queue_url(aws, queue))


def ticks(count: int) -> list[CloudEvent]:
    """``count`` ticks round-robin over three symbols; data.seq numbers them per symbol."""
    return [
        CloudEvent(source="/contract-tests/ticks", type=TICK,
                   partitionkey=SYMBOLS[i % 3], data={"symbol": SYMBOLS[i % 3], "seq": i // 3})
        for i in range(count)
    ]


async def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message of the queue with its system attributes, in delivery order."""
    messages: list[dict[str, Any]] = []
    while True:
        response = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
            MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"])
        batch = response.get("Messages", [])
        if not batch:
            return messages
        messages += batch
        await sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])


def by_group(messages: list[dict[str, Any]]) -> dict[str, list[int]]:
    sequences: dict[str, list[int]] = defaultdict(list)
    for message in messages:
        event = CloudEvent.model_validate_json(message["Body"])
        sequences[event.data["symbol"]].append(event.data["seq"])
    return dict(sequences)


async def test_events_arrive_in_order_per_group(aws, pipe: FifoPipe) -> None:
    """25 events (three SNS batches) arrive complete and in publish order per message group."""
    events = ticks(25)

    await pipe.publisher.publish(events)

    messages = await drain(await aws.client("sqs"), pipe.queue_url)
    assert len(messages) == 25
    assert by_group(messages) == {"AAPL": list(range(9)), "MSFT": list(range(8)),
                                  "NVDA": list(range(8))}


async def test_group_and_dedup_ids_come_from_the_event(aws, pipe: FifoPipe) -> None:
    """The message group is the event's partition key; the dedup id derives from its id."""
    events = ticks(3)

    await pipe.publisher.publish(events)

    messages = await drain(await aws.client("sqs"), pipe.queue_url)
    expected = {e.id: (e.partitionkey, e.dedup_id()) for e in events}
    received = {
        CloudEvent.model_validate_json(m["Body"]).id: (
            m["Attributes"]["MessageGroupId"], m["Attributes"]["MessageDeduplicationId"])
        for m in messages
    }
    assert received == expected


async def test_republishing_the_same_events_is_deduplicated(aws, pipe: FifoPipe) -> None:
    """Publishing the same events again (a retried publish) delivers each event once.

    The emulator dedupes only against messages still in the queue (AWS: for 5 minutes, even
    after deletion), so the retry is published before the queue is drained."""
    events = ticks(25)

    await pipe.publisher.publish(events)
    await pipe.publisher.publish(events)
    await pipe.publisher.publish([e.model_copy(update={"data": {"changed": True}})
                                  for e in events[:5]])

    messages = await drain(await aws.client("sqs"), pipe.queue_url)
    ids = [CloudEvent.model_validate_json(m["Body"]).id for m in messages]
    assert sorted(ids) == sorted(e.id for e in events)
    assert by_group(messages)["AAPL"] == list(range(9))


async def test_fifo_publish_without_group_falls_back_to_subject(aws, pipe: FifoPipe) -> None:
    """An event with no partition key is grouped by its subject."""
    event = CloudEvent(source="/contract-tests/ticks", type=TICK, subject="AAPL",
                       data={"symbol": "AAPL", "seq": 0})

    await pipe.publisher.publish([event])

    (message,) = await drain(await aws.client("sqs"), pipe.queue_url)
    assert message["Attributes"]["MessageGroupId"] == "AAPL"


async def test_publishing_to_a_missing_topic_fails_loudly(aws, stack) -> None:
    """A publish SNS rejects as a whole raises the AWS error; it never passes silently."""
    missing = stack.resources.topic_arn("recipes-events").replace("recipes-events", "absent")
    publisher = EventPublisher(await aws.client("sns"), missing, attempts=1)

    with pytest.raises(ClientError) as raised:
        await publisher.publish(ticks(1))
    assert raised.value.response["Error"]["Code"] == "NotFound"
