"""The outbox relay against the emulator: what it publishes, and what it repeats when a turn
ends half way (an SNS call that fails for good)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from botocore.exceptions import ClientError

from shared.aws import AwsClients
from shared.events import EventPublisher
from shared.outbox import EventSource, Outbox
from shared.relay import OutboxRelay
from shared.testing import EventTap, LocalStack

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def outbox_table(aws: AwsClients) -> AsyncIterator[str]:
    """A throwaway table shaped like every ``<service>-outbox``."""
    dynamodb = await aws.client("dynamodb")
    name = f"contract-outbox-{uuid.uuid4().hex[:12]}"
    await dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "shard", "AttributeType": "S"},
                              {"AttributeName": "seq", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "shard", "KeyType": "HASH"},
                   {"AttributeName": "seq", "KeyType": "RANGE"}])
    yield name
    await dynamodb.delete_table(TableName=name)


async def waiting(dynamodb: Any, table: str) -> int:
    response = await dynamodb.scan(TableName=table, ConsistentRead=True)
    return len(response["Items"])


async def test_a_turn_that_fails_half_way_repeats_at_most_one_publish_call(
    aws: AwsClients, stack: LocalStack, outbox_table: str,
) -> None:
    """Twelve events for a topic, then one for a topic that does not exist: each turn
    publishes the twelve (two PublishBatch calls) and fails on the thirteenth. What SNS
    accepted is retired call by call, so the next turns do not send the twelve again."""
    dynamodb, sns = await aws.client("dynamodb"), await aws.client("sns")
    good = EventSource(service="contract", topic="recipes-events")
    bad = EventSource(service="contract", topic="no-such-topic")
    subject = uuid.uuid4().hex
    await Outbox(dynamodb, outbox_table, good).commit(
        [], [good.event("thing.happened", {"n": n}, subject=subject) for n in range(12)])
    await Outbox(dynamodb, outbox_table, bad).commit(
        [], [bad.event("thing.happened", {"n": 12}, subject=subject)])
    missing = stack.resources.topic_arn("recipes-events").replace("recipes-events",
                                                                  "no-such-topic")
    relay = OutboxRelay(dynamodb, {
        "recipes-events": EventPublisher(sns, stack.resources.topic_arn("recipes-events")),
        "no-such-topic": EventPublisher(sns, missing),
    }, outbox_table)

    async with EventTap.open(aws, stack.resources, "recipes-events") as tap:
        for _ in range(3):
            with pytest.raises(ClientError):
                await relay.drain_once()
        await tap.drain()

    sent = Counter(e["data"]["n"] for e in tap.about(subject))
    assert sent == Counter(range(12))
    assert await waiting(dynamodb, outbox_table) == 1  # the thirteenth waits for its topic
    assert relay.published == 12
