"""Fixtures of the platform-kit integration tests: throwaway queues with DLQs, and a store.

Every test creates its own uniquely named queues (``contract-<uuid>``), so tests never see each
other's messages nor the topology's queues.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import pytest_asyncio

from devkit.testing import LocalStack
from shared.aws import AwsClients
from shared.idempotency import IdempotencyStore
from shared.worker import Record


@dataclass(frozen=True)
class TestQueue:
    """A queue made for one test, with its dead-letter queue."""

    __test__ = False  # a fixture value, not a test class

    name: str
    url: str
    arn: str
    dlq_url: str
    fifo: bool


class Queues:
    """Makes test queues and looks into them the way the worker does."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.created: list[str] = []

    async def make(self, *, fifo: bool = False, visibility_timeout: int = 30,
                   max_receive_count: int = 2) -> TestQueue:
        """A ``contract-<uuid>`` queue whose DLQ takes messages after ``max_receive_count``."""
        name = f"contract-{uuid.uuid4().hex[:12]}"
        suffix = ".fifo" if fifo else ""
        fifo_attributes = (
            {"FifoQueue": "true", "ContentBasedDeduplication": "false"} if fifo else {})
        dlq_url = (await self.sqs.create_queue(QueueName=f"{name}-dlq{suffix}",
                                               Attributes=fifo_attributes))["QueueUrl"]
        self.created.append(dlq_url)
        redrive = {"deadLetterTargetArn": await self.arn(dlq_url),
                   "maxReceiveCount": str(max_receive_count)}
        url = (await self.sqs.create_queue(
            QueueName=f"{name}{suffix}",
            Attributes={"VisibilityTimeout": str(visibility_timeout),
                        "RedrivePolicy": json.dumps(redrive), **fifo_attributes},
        ))["QueueUrl"]
        self.created.append(url)
        return TestQueue(f"{name}{suffix}", url, await self.arn(url), dlq_url, fifo)

    async def arn(self, url: str) -> str:
        response = await self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(response["Attributes"]["QueueArn"])

    async def send(self, queue: TestQueue, bodies: Iterable[str], *, group: str = "g") -> None:
        """Send bodies in order; FIFO messages go to ``group`` with a fresh dedup id each."""
        for body in bodies:
            extra = ({"MessageGroupId": group, "MessageDeduplicationId": uuid.uuid4().hex}
                     if queue.fifo else {})
            await self.sqs.send_message(QueueUrl=queue.url, MessageBody=body, **extra)

    async def receive(self, url: str, *, max_messages: int = 10, wait: int = 1,
                      visibility: int | None = None) -> list[Record[Any]]:
        """One receive, made as the worker makes it, as the worker's records."""
        extra = {} if visibility is None else {"VisibilityTimeout": visibility}
        response = await self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "MessageGroupId"], **extra,
        )
        return [
            Record(message_id=m["MessageId"], receipt_handle=m["ReceiptHandle"], body=m["Body"],
                   receive_count=int(m["Attributes"]["ApproximateReceiveCount"]),
                   group_id=m["Attributes"].get("MessageGroupId"))
            for m in response.get("Messages", [])
        ]

    async def drain(self, url: str, *, wait: int = 1) -> list[str]:
        """Receive and delete until a receive comes back empty; bodies in receive order."""
        bodies: list[str] = []
        while records := await self.receive(url, wait=wait):
            bodies += [r.body for r in records]
            await self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": r.receipt_handle} for i, r in enumerate(records)])
        return bodies

    async def depth(self, url: str) -> dict[str, int]:
        """Visible and in-flight message counts."""
        attributes = (await self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages",
                            "ApproximateNumberOfMessagesNotVisible"],
        ))["Attributes"]
        return {"visible": int(attributes["ApproximateNumberOfMessages"]),
                "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"])}


@pytest_asyncio.fixture
async def sqs(aws: AwsClients) -> Any:
    return await aws.client("sqs")


@pytest_asyncio.fixture
async def queues(sqs: Any) -> AsyncIterator[Queues]:
    """Test queues, deleted after the test."""
    kit = Queues(sqs)
    yield kit
    for url in kit.created:
        await sqs.delete_queue(QueueUrl=url)


@pytest_asyncio.fixture
async def store(aws: AwsClients, stack: LocalStack) -> IdempotencyStore:
    """An idempotency store on a real idempotency table (keys are unique per test)."""
    return IdempotencyStore(await aws.client("dynamodb"),
                            stack.resources.table("recipes-idempotency"))
