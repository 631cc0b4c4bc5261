"""The kit's `current_delivery()`, which names the lease owner of a job run: each record's
handler sees its own SQS message id and receive count, and nothing leaks outside."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.worker import Delivery, PerRecord, Record, SqsWorker, WorkerConfig, current_delivery


class QuietSqs:
    """Accepts the worker's settle calls."""

    async def delete_message_batch(self, **_: Any) -> dict[str, Any]:
        return {}

    async def change_message_visibility_batch(self, **_: Any) -> dict[str, Any]:
        return {}


async def test_each_handler_sees_its_own_delivery():
    """Two records handled concurrently each read their own message id and receive count."""
    seen: dict[str, Delivery | None] = {}

    async def handler(body: str) -> None:
        await asyncio.sleep(0.01)  # interleave the two handlers
        seen[body] = current_delivery()

    worker = SqsWorker(QuietSqs(), "https://sqs/q", PerRecord(handler), parse=str,
                       config=WorkerConfig(concurrency=2))
    records = [Record(message_id=f"m{i}", receipt_handle=f"r{i}", body=f"b{i}",
                      receive_count=i + 1, group_id=None) for i in range(2)]

    await worker.process(records)

    assert seen == {"b0": Delivery("m0", 1), "b1": Delivery("m1", 2)}
    assert current_delivery() is None
