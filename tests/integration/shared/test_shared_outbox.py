"""The transactional outbox and its relay, against the emulator.

A throwaway topology per test: an outbox table, a FIFO topic and a standard topic, each with
a subscribed queue; an `Outbox` commits changes with events, `OutboxRelay` publishes them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from botocore.exceptions import ClientError

from devkit.provision import provision
from devkit.testing import eventually
from shared.aws import AwsClients
from shared.dynamo import cancellation_reasons
from shared.events import EventPublisher, Notification
from shared.outbox import EventSource, Outbox
from shared.relay import OutboxRelay
from shared.topology import Topology

pytestmark = pytest.mark.integration


@dataclass
class Bench:
    """One test's outbox, relay factory, a table for changes, and the subscribed queues."""

    aws: AwsClients
    outbox: Outbox
    outbox_table: str
    changes_table: str
    publishers: dict[str, EventPublisher]
    fifo_queue: str
    alerts_queue: str
    dynamodb: Any
    sqs: Any

    def relay(self, **kwargs: Any) -> OutboxRelay:
        return OutboxRelay(self.dynamodb, self.publishers, self.outbox_table,
                           poll_seconds=0.05, idle_poll_seconds=0.1, **kwargs)

    async def received(self, queue: str, count: int, timeout: float = 15) -> list[dict]:
        bodies: list[dict] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(bodies) < count and asyncio.get_running_loop().time() < deadline:
            response = await self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                                      WaitTimeSeconds=1)
            for message in response.get("Messages", []):
                bodies.append(json.loads(message["Body"]) if message["Body"].startswith("{")
                              else {"text": message["Body"]})
                await self.sqs.delete_message(QueueUrl=queue,
                                              ReceiptHandle=message["ReceiptHandle"])
        return bodies

    async def pending(self) -> int:
        response = await self.dynamodb.query(
            TableName=self.outbox_table, KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "shard"},
            ExpressionAttributeValues={":s": {"S": "0"}}, ConsistentRead=True)
        return len(response["Items"])


@pytest_asyncio.fixture
async def bench(aws: AwsClients) -> AsyncIterator[Bench]:
    tag = uuid.uuid4().hex[:8]
    ticks, alerts = f"ob-{tag}-ticks.fifo", f"ob-{tag}-alerts"
    topology = Topology.model_validate({
        "topics": {ticks: {"owner": "contract", "fifo": True},
                   alerts: {"owner": "contract"}},
        "queues": {
            ticks: {"owner": "contract", "fifo": True, "subscriptions": [
                {"topic": ticks, "event_types": ["dev.regatta.contract.tick.recorded.v1"]}]},
        },
        "tables": {
            f"ob-{tag}-outbox": {"owner": "contract", "hash_key": {"name": "shard", "type": "S"},
                                 "range_key": {"name": "seq", "type": "S"}},
            f"ob-{tag}-changes": {"owner": "contract", "hash_key": {"name": "id", "type": "S"}},
        },
    })
    resources = await provision(aws, topology)
    sqs, sns, dynamodb = [await aws.client(s) for s in ("sqs", "sns", "dynamodb")]
    # Plain-text alerts: a standard queue subscribed to the alerts topic with raw delivery.
    alerts_queue = (await sqs.create_queue(QueueName=f"ob-{tag}-alerts-tap"))["QueueUrl"]
    arn = (await sqs.get_queue_attributes(QueueUrl=alerts_queue, AttributeNames=["QueueArn"])
           )["Attributes"]["QueueArn"]
    await sns.subscribe(TopicArn=resources.topic_arn(alerts), Protocol="sqs", Endpoint=arn,
                        Attributes={"RawMessageDelivery": "true"})
    source = EventSource(service="contract", topic=ticks, alerts_topic=alerts)
    yield Bench(
        aws=aws,
        outbox=Outbox(dynamodb, resources.table(f"ob-{tag}-outbox"), source),
        outbox_table=resources.table(f"ob-{tag}-outbox"),
        changes_table=resources.table(f"ob-{tag}-changes"),
        publishers={t: EventPublisher(sns, resources.topic_arn(t)) for t in (ticks, alerts)},
        fifo_queue=await resources.queue_url(aws, ticks),
        alerts_queue=alerts_queue, dynamodb=dynamodb, sqs=sqs)


def tick(source: EventSource, symbol: str, seq: int) -> Any:
    return source.event("tick.recorded", {"symbol": symbol, "seq": seq}, subject=symbol,
                        partitionkey=symbol)


def put(bench: Bench, item_id: str, condition: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": bench.changes_table, "Item": {"id": {"S": item_id}}}
    if condition:
        request["ConditionExpression"] = condition
    return {"Put": request}


@pytest.mark.parametrize("shards", [1, 3])
async def test_relay_publishes_committed_events_in_commit_order(bench: Bench, shards: int) -> None:
    """Events committed in 30 transactions reach the FIFO queue complete and in commit order
    per symbol, and the outbox is empty afterwards; with several shards too, which the relay
    drains side by side."""
    source = bench.outbox.source
    outbox = Outbox(bench.dynamodb, bench.outbox_table, source, shards=shards)
    for seq in range(10):
        for symbol in ("AAA", "BBB", "CCC"):
            await outbox.commit([put(bench, f"{symbol}-{seq}")], [tick(source, symbol, seq)])
    relay = bench.relay(shards=shards)
    task = asyncio.create_task(relay.run())
    try:
        bodies = await bench.received(bench.fifo_queue, 30)
    finally:
        relay.stop()
        await task
    order: dict[str, list[int]] = {}
    for body in bodies:
        order.setdefault(body["data"]["symbol"], []).append(body["data"]["seq"])
    assert order == {s: list(range(10)) for s in ("AAA", "BBB", "CCC")}
    assert await bench.pending() == 0
    assert relay.published == 30 and relay.lag_summary()["lag_max_ms"] > 0


async def test_a_cancelled_change_queues_no_event(bench: Bench) -> None:
    """When the change's condition fails, the transaction is cancelled with the change's
    reason at the change's index, and no outbox message exists."""
    await bench.outbox.commit([put(bench, "taken")], [])
    with pytest.raises(ClientError) as caught:
        await bench.outbox.commit([put(bench, "taken", "attribute_not_exists(id)")],
                                  [tick(bench.outbox.source, "AAA", 1)])
    assert cancellation_reasons(caught.value) == ["ConditionalCheckFailed", None]
    assert await bench.pending() == 0


async def test_alerts_go_to_the_alerts_topic_as_plain_text(bench: Bench) -> None:
    """A notification committed with a change arrives on the alerts topic as its text."""
    await bench.outbox.commit([put(bench, "x")], [tick(bench.outbox.source, "AAA", 0)],
                              alerts=[(Notification(subject="AAA up", message="AAA crossed up"),
                                       "AAA")])
    relay = bench.relay()
    assert await relay.drain_once() == 2
    (alert,) = await bench.received(bench.alerts_queue, 1)
    assert alert == {"text": "AAA crossed up"}
    (event,) = await bench.received(bench.fifo_queue, 1)
    assert event["data"] == {"symbol": "AAA", "seq": 0}


async def test_one_relay_holds_the_lease_and_a_standby_takes_over(bench: Bench) -> None:
    """Of two relays only the lease holder publishes; when it stops, the standby publishes
    what is committed afterwards."""
    first, second = bench.relay(lease_seconds=1.5), bench.relay(lease_seconds=1.5)
    tasks = [asyncio.create_task(first.run())]
    await asyncio.sleep(0.5)
    tasks.append(asyncio.create_task(second.run()))
    await bench.outbox.commit([put(bench, "a")], [tick(bench.outbox.source, "AAA", 0)])
    assert len(await bench.received(bench.fifo_queue, 1)) == 1

    async def counted() -> bool:  # the count moves once the published message is retired
        return first.published + second.published == 1

    await eventually(counted, timeout=5)
    assert (first.published, second.published) == (1, 0)
    first.stop()
    await tasks[0]
    await bench.outbox.commit([put(bench, "b")], [tick(bench.outbox.source, "AAA", 1)])
    assert len(await bench.received(bench.fifo_queue, 1)) == 1
    second.stop()
    await tasks[1]
    assert (first.published, second.published) == (1, 1)


async def test_relay_rides_out_an_unreachable_sns_and_publishes_later(
    bench: Bench, tmp_path: Path
) -> None:
    """While SNS cannot be reached the relay backs off and the messages wait; once it can,
    they are published. The stats file records the lags."""
    from shared.aws import AwsClients as Clients
    from shared.settings import PlatformSettings

    dead = PlatformSettings(aws_endpoint_url="http://127.0.0.1:9", aws_max_attempts=1,
                            aws_connect_timeout=0.5)
    await bench.outbox.commit([put(bench, "c")], [tick(bench.outbox.source, "AAA", 7)])
    async with Clients(dead) as unreachable:
        sns = await unreachable.client("sns")
        broken = {topic: EventPublisher(sns, p.topic_arn) for topic, p in bench.publishers.items()}
        relay = OutboxRelay(bench.dynamodb, broken, bench.outbox_table, poll_seconds=0.05,
                            max_backoff=0.5)
        task = asyncio.create_task(relay.run())
        await asyncio.sleep(2)
        relay.stop()
        await task
    assert relay.published == 0 and await bench.pending() == 1
    healthy = bench.relay(stats_path=str(tmp_path / "relay.json"))
    task = asyncio.create_task(healthy.run())
    (event,) = await bench.received(bench.fifo_queue, 1)
    healthy.stop()
    await task
    assert event["data"]["seq"] == 7 and await bench.pending() == 0
    stats = json.loads((tmp_path / "relay.json").read_text())
    assert stats["published"] == 1 and stats["lag_p99_ms"] >= 2000
