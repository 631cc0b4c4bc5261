"""The outbox relay against the emulator: what it publishes, what it repeats when a turn
ends half way (an SNS call that fails for good), and when it retires what SNS accepted."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from botocore.exceptions import ClientError

from devkit.testing import EventTap, LocalStack, throwaway_table
from shared.aws import AwsClients
from shared.events import EventPublisher, Notification
from shared.outbox import EventSource, Outbox
from shared.relay import OutboxRelay

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def outbox_table(aws: AwsClients) -> AsyncIterator[str]:
    """A throwaway table shaped like every ``<service>-outbox``."""
    async with throwaway_table(aws, "contract-outbox", "shard", "seq") as name:
        yield name


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


async def test_a_failed_lane_holds_back_its_aggregate_while_other_lanes_publish(
    aws: AwsClients, stack: LocalStack, outbox_table: str,
) -> None:
    """Twelve events of twelve aggregates, then three of aggregate X whose second goes to a
    topic that does not exist: a page of fifteen, published in two lanes. Each turn fails on
    X's second event; everything before it is published once and retired, and X's third
    waits behind it (an aggregate's events leave in commit order)."""
    dynamodb, sns = await aws.client("dynamodb"), await aws.client("sns")
    good = EventSource(service="contract", topic="recipes-events")
    bad = EventSource(service="contract", topic="no-such-topic")
    run, x = uuid.uuid4().hex, uuid.uuid4().hex
    others = [f"{run}-{n}" for n in range(12)]
    outbox = Outbox(dynamodb, outbox_table, good)
    for n, subject in enumerate(others):
        await outbox.commit([], [good.event("thing.happened", {"n": n}, subject=subject)])
    await outbox.commit([], [good.event("thing.happened", {"n": 0}, subject=x)])
    await Outbox(dynamodb, outbox_table, bad).commit(
        [], [bad.event("thing.happened", {"n": 1}, subject=x)])
    await outbox.commit([], [good.event("thing.happened", {"n": 2}, subject=x)])
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

    assert Counter(e["data"]["n"] for s in others for e in tap.about(s)) == Counter(range(12))
    assert [e["data"]["n"] for e in tap.about(x)] == [0]
    assert await waiting(dynamodb, outbox_table) == 2  # X's second and third
    assert relay.published == 13


class Watching(EventPublisher):
    """A real publisher that notes how many messages wait in the outbox at each SNS call."""

    def __init__(self, sns: Any, topic_arn: str, dynamodb: Any, table: str) -> None:
        super().__init__(sns, topic_arn)
        self.dynamodb, self.table = dynamodb, table
        self.waiting_at_calls: list[int] = []

    async def _publish_chunk(self, entries: list[dict[str, Any]]) -> None:
        self.waiting_at_calls.append(await waiting(self.dynamodb, self.table))
        await super()._publish_chunk(entries)


async def test_events_are_retired_per_page_and_alerts_per_call(
    aws: AwsClients, stack: LocalStack, outbox_table: str,
) -> None:
    """Fifteen events of one aggregate go in two calls, retired together after the second
    (FIFO topics and consumers drop a repeat by event id); fifteen plain-text alerts, which
    e-mail cannot deduplicate, are retired call by call, so a relay dying between a call and
    its retirement repeats at most one call's alerts."""
    dynamodb, sns = await aws.client("dynamodb"), await aws.client("sns")
    source = EventSource(service="contract", topic="recipes-events",
                         alerts_topic="stock-trend-alerts")
    events = Watching(sns, stack.resources.topic_arn("recipes-events"), dynamodb, outbox_table)
    alerts = Watching(sns, stack.resources.topic_arn("stock-trend-alerts"), dynamodb,
                      outbox_table)
    relay = OutboxRelay(dynamodb, {"recipes-events": events, "stock-trend-alerts": alerts},
                        outbox_table)
    outbox, subject = Outbox(dynamodb, outbox_table, source), uuid.uuid4().hex

    await outbox.commit([], [source.event("thing.happened", {"n": n}, subject=subject)
                             for n in range(15)])
    assert await relay.drain_once() == 15
    assert events.waiting_at_calls == [15, 15]
    assert await waiting(dynamodb, outbox_table) == 0

    await outbox.commit([], alerts=[(Notification(subject="alert", message=f"alert {n}"),
                                     subject) for n in range(15)])
    assert await relay.drain_once() == 15
    assert alerts.waiting_at_calls == [15, 5]
    assert await waiting(dynamodb, outbox_table) == 0


class HeldDeletes:
    """The real DynamoDB client, with BatchWriteItem held until ``release()``."""

    def __init__(self, dynamodb: Any) -> None:
        self.dynamodb, self.gate = dynamodb, asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dynamodb, name)

    def release(self) -> None:
        self.gate.set()

    async def batch_write_item(self, **request: Any) -> Any:
        await self.gate.wait()
        return await self.dynamodb.batch_write_item(**request)


async def test_a_turn_skips_the_events_whose_deletion_is_still_under_way(
    aws: AwsClients, stack: LocalStack, outbox_table: str,
) -> None:
    """A turn does not wait for the deletion of what it published; the next turn, which
    still finds those events in the table, publishes none of them again."""
    dynamodb, sns = await aws.client("dynamodb"), await aws.client("sns")
    held = HeldDeletes(dynamodb)
    source = EventSource(service="contract", topic="recipes-events")
    relay = OutboxRelay(held, {
        "recipes-events": EventPublisher(sns, stack.resources.topic_arn("recipes-events"))},
        outbox_table)
    subject = uuid.uuid4().hex
    await Outbox(dynamodb, outbox_table, source).commit(
        [], [source.event("thing.happened", {"n": n}, subject=subject) for n in range(5)])

    async with EventTap.open(aws, stack.resources, "recipes-events") as tap:
        assert await relay.turn() == 5
        assert await waiting(dynamodb, outbox_table) == 5  # deletion held
        assert await relay.turn() == 0
        held.release()
        await relay.retired()
        await tap.drain()

    assert Counter(e["data"]["n"] for e in tap.about(subject)) == Counter(range(5))
    assert await waiting(dynamodb, outbox_table) == 0
    assert relay.published == 5


async def test_a_turn_reaches_past_the_events_still_being_deleted(
    aws: AwsClients, stack: LocalStack, outbox_table: str,
) -> None:
    """A full page of events still being deleted does not hide the ones committed after
    them: the next turn publishes those at once (a page of ``batch`` new ones at most)."""
    dynamodb, sns = await aws.client("dynamodb"), await aws.client("sns")
    held = HeldDeletes(dynamodb)
    source = EventSource(service="contract", topic="recipes-events")
    relay = OutboxRelay(held, {
        "recipes-events": EventPublisher(sns, stack.resources.topic_arn("recipes-events"))},
        outbox_table, batch=5)
    subject = uuid.uuid4().hex
    outbox = Outbox(dynamodb, outbox_table, source)
    await outbox.commit([], [source.event("thing.happened", {"n": n}, subject=subject)
                             for n in range(5)])

    async with EventTap.open(aws, stack.resources, "recipes-events") as tap:
        assert await relay.turn() == 5
        await outbox.commit([], [source.event("thing.happened", {"n": n}, subject=subject)
                                 for n in range(5, 12)])
        assert await relay.turn() == 5  # behind the 5 being deleted: a page of new ones
        assert await waiting(dynamodb, outbox_table) == 12
        held.release()
        await relay.retired()
        assert await relay.turn() == 2
        await relay.retired()
        await tap.drain()

    assert Counter(e["data"]["n"] for e in tap.about(subject)) == Counter(range(12))
    assert await waiting(dynamodb, outbox_table) == 0
