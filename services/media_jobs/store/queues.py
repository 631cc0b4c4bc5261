"""Commands the service puts on its own queues."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.media_jobs import logic

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


class RetryQueue:
    """Puts a job back on the uploads queue as a retry command of its current attempt (the DLQ
    consumer, for a job whose last delivery was interrupted by a drain)."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    async def send(self, command: logic.RetryCommand) -> None:
        await self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=command.to_json())
