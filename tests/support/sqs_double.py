"""An SQS stand-in for unit tests of the worker: it accepts the settle calls and remembers them,
so a test can say which records were deleted and which made visible again, and when."""

from __future__ import annotations

from typing import Any

from shared.worker import Record


class RecordingSqs:
    """Accepts DeleteMessageBatch and ChangeMessageVisibilityBatch; keeps what they named."""

    def __init__(self) -> None:
        self.deleted: list[str] = []  # receipt handles
        self.visibility: dict[str, int] = {}  # receipt handle -> the last timeout set

    async def delete_message_batch(self, *, Entries: list[dict[str, Any]],  # noqa: N803
                                   **_: Any) -> dict[str, Any]:
        self.deleted += [e["ReceiptHandle"] for e in Entries]
        return {}

    async def change_message_visibility_batch(self, *, Entries: list[dict[str, Any]],  # noqa: N803
                                              **_: Any) -> dict[str, Any]:
        for entry in Entries:
            self.visibility[entry["ReceiptHandle"]] = entry["VisibilityTimeout"]
        return {}


def page(*bodies: str, groups: str | None = None) -> list[Record[Any]]:
    """Records ``m0``, ``m1``, ... (receipt handles ``r0``, ...) with these bodies, received
    once; ``groups``, one letter per record, names their FIFO message groups."""
    return [Record(message_id=f"m{i}", receipt_handle=f"r{i}", body=body, receive_count=1,
                   group_id=groups[i] if groups else None)
            for i, body in enumerate(bodies)]
