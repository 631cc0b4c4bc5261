"""The emulator's changes to moto (devkit/emulator.py), checked over the wire: a cancelled
transaction puts back exactly the items it named, concurrent FIFO receivers never hold
one message group at the same time, and idle keep-alive connections stay open."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from devkit.emulator import EMULATOR_ENV, Emulator
from devkit.testing import create_table
from shared.aws import AwsClients
from shared.settings import PlatformSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def table(aws: AwsClients) -> str:
    return await create_table(aws, f"emulator-{uuid.uuid4().hex[:8]}", "id")


async def items(dynamodb: Any, table: str) -> dict[str, dict[str, Any]]:
    response = await dynamodb.scan(TableName=table, ConsistentRead=True)
    return {i["id"]["S"]: i for i in response["Items"]}


def item(key: str, **attributes: str) -> dict[str, Any]:
    return {"id": {"S": key}, **{k: {"S": v} for k, v in attributes.items()}}


async def test_a_cancelled_transaction_puts_back_exactly_the_items_it_named(
    aws: AwsClients, table: str,
) -> None:
    dynamodb = await aws.client("dynamodb")
    for key in ("updated", "deleted", "checked", "bystander"):
        await dynamodb.put_item(TableName=table, Item=item(key, v="1", nested="x"))
    before = await items(dynamodb, table)

    with pytest.raises(ClientError) as refused:
        await dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"id": {"S": "updated"}},
                        "UpdateExpression": "SET v = :v", "ExpressionAttributeValues":
                        {":v": {"S": "2"}}}},
            {"Put": {"TableName": table, "Item": item("created", v="1")}},
            {"Delete": {"TableName": table, "Key": {"id": {"S": "deleted"}}}},
            {"ConditionCheck": {"TableName": table, "Key": {"id": {"S": "checked"}},
                                "ConditionExpression": "v = :two",
                                "ExpressionAttributeValues": {":two": {"S": "2"}}}},
        ])

    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert await items(dynamodb, table) == before


async def test_a_transaction_that_passes_writes_every_item(aws: AwsClients, table: str) -> None:
    dynamodb = await aws.client("dynamodb")
    await dynamodb.put_item(TableName=table, Item=item("updated", v="1"))
    await dynamodb.put_item(TableName=table, Item=item("deleted", v="1"))

    await dynamodb.transact_write_items(TransactItems=[
        {"Update": {"TableName": table, "Key": {"id": {"S": "updated"}},
                    "UpdateExpression": "SET v = :v", "ConditionExpression": "v = :one",
                    "ExpressionAttributeValues": {":v": {"S": "2"}, ":one": {"S": "1"}}}},
        {"Put": {"TableName": table, "Item": item("created", v="1"),
                 "ConditionExpression": "attribute_not_exists(id)"}},
        {"Delete": {"TableName": table, "Key": {"id": {"S": "deleted"}}}},
    ])

    assert await items(dynamodb, table) == {"updated": item("updated", v="2"),
                                            "created": item("created", v="1")}


async def test_concurrent_fifo_receivers_never_hold_one_group_at_once(aws: AwsClients) -> None:
    """Eight consumers race for 12 groups of 6 messages: while one holds a group (received,
    not yet deleted) nobody else gets a message of it, and each group arrives in order."""
    sqs = await aws.client("sqs")
    url = (await sqs.create_queue(
        QueueName=f"emulator-{uuid.uuid4().hex[:8]}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true",
                    "VisibilityTimeout": "60"}))["QueueUrl"]
    groups, per_group = 12, 6
    for n in range(per_group):
        for first in range(0, groups, 10):  # ten entries per batch at most
            await sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(g), "MessageBody": f"{g}:{n}", "MessageGroupId": f"g{g}"}
                for g in range(first, min(first + 10, groups))])
    held: dict[str, int] = {}
    overlaps: list[str] = []
    received: dict[str, list[int]] = {}

    async def consumer(me: int) -> None:
        idle = 0
        while idle < 3:
            response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3,
                                                 WaitTimeSeconds=0, AttributeNames=["All"])
            messages = response.get("Messages", [])
            if not messages:
                idle += 1
                await asyncio.sleep(0.05)
                continue
            idle = 0
            mine = {m["Attributes"]["MessageGroupId"] for m in messages}
            overlaps.extend(f"{g} (held by {held[g]}, also given to {me})"
                            for g in mine if g in held)
            held.update(dict.fromkeys(mine, me))
            for m in messages:
                group, n = m["Body"].split(":")
                received.setdefault(group, []).append(int(n))
            await asyncio.sleep(0.02)  # work on them while the others receive
            for g in mine:
                held.pop(g, None)
            await sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages)])

    await asyncio.gather(*(consumer(me) for me in range(8)))

    assert overlaps == []
    assert received == {str(g): list(range(per_group)) for g in range(groups)}



async def test_sigterm_stops_the_emulator_at_once_even_during_a_long_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make run`'s Ctrl-C and compose's stop must not wait for an SQS long poll (20 s)."""
    for name, value in EMULATOR_ENV.items():
        monkeypatch.setenv(name, value)
    with Emulator() as emulator:
        async with AwsClients(PlatformSettings(aws_endpoint_url=emulator.url)) as aws:
            sqs = await aws.client("sqs")
            url = (await sqs.create_queue(QueueName="long-poll"))["QueueUrl"]
            polling = asyncio.ensure_future(sqs.receive_message(QueueUrl=url,
                                                                WaitTimeSeconds=20))
            await asyncio.sleep(0.5)
            assert emulator.process is not None
            started = time.monotonic()
            emulator.process.terminate()
            code = await asyncio.to_thread(emulator.process.wait, 5)
            stopped_in = time.monotonic() - started
            polling.cancel()
    assert code == 0
    assert stopped_in < 2, f"took {stopped_in:.1f} s"


async def test_queue_attributes_are_read_one_by_one_and_whole(aws: AwsClients) -> None:
    """The emulator computes a queue's attributes as they are read (a send no longer walks
    the queue's messages): GetQueueAttributes still answers every one, counts included,
    and a FIFO queue still deduplicates by content."""
    sqs = await aws.client("sqs")
    name = f"attributes-{uuid.uuid4().hex[:8]}"
    url = (await sqs.create_queue(QueueName=name))["QueueUrl"]
    for n in range(3):
        await sqs.send_message(QueueUrl=url, MessageBody=str(n))
    every = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
    assert every["ApproximateNumberOfMessages"] == "3"
    assert {"QueueArn", "VisibilityTimeout", "CreatedTimestamp"} <= set(every)
    one = await sqs.get_queue_attributes(QueueUrl=url,
                                         AttributeNames=["ApproximateNumberOfMessages"])
    assert one["Attributes"] == {"ApproximateNumberOfMessages": "3"}
    fifo = (await sqs.create_queue(QueueName=f"{name}.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true"}))["QueueUrl"]
    for _ in range(2):
        await sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
    got = await sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["All"])
    assert got["Attributes"]["ApproximateNumberOfMessages"] == "1"
    assert got["Attributes"]["ContentBasedDeduplication"] == "true"


async def test_idle_connections_stay_open_for_their_next_request(emulator: Emulator) -> None:
    """Forty clients each send a request, all forty wait idle, then each sends another over
    the same connection: every connection answers both. (cheroot keeps ten idle connections
    by default and closed the others after their response, so with a few services running
    most AWS calls connected anew.)"""
    address = urlsplit(emulator.url)

    async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        writer.write(f"GET /moto-api/ HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        return head

    connections = [await asyncio.open_connection(address.hostname, address.port)
                   for _ in range(40)]
    try:
        firsts = await asyncio.gather(*(ask(*c) for c in connections))
        assert all(head.startswith(b"HTTP/1.1 200") for head in firsts)
        await asyncio.sleep(0.3)  # all forty idle on the server's side
        answered = 0
        for connection in connections:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                answered += (await ask(*connection)).startswith(b"HTTP/1.1 200")
        assert answered == len(connections)
    finally:
        for _, writer in connections:
            writer.close()
