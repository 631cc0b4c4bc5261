"""Looking into a dead-letter queue and moving its messages back: ``regatta dlq`` / ``redrive``.

SQS has no true peek. Receiving a message, even with ``VisibilityTimeout=0``, counts as a
receive (``ApproximateReceiveCount`` goes up), so `look` says how many it touched and `depth`
asks GetQueueAttributes only, touching nothing.

`redrive` moves messages from a DLQ back to its source queue:

- ``StartMessageMoveTask`` (SQS's own DLQ redrive, what the console's "Start DLQ redrive" runs)
  when the endpoint offers it and no ``limit`` is asked: the task moves everything, at its own
  pace, and cannot be capped at N messages; it reports a count, not message ids.
- otherwise a receive / send / delete loop: the body and message attributes are kept; on a FIFO
  queue the message group too, with a deduplication id of ``redrive-<DLQ message id>`` (not the
  original one: SQS would drop a resend within 5 minutes of the original as a duplicate, while
  this one makes a repeated run after a crash between send and delete harmless). A message is
  deleted from the DLQ only after its send succeeded. The event inside is unchanged, so the
  consumer's idempotency still recognizes it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

# Answers to StartMessageMoveTask after which the loop does the work instead: an endpoint
# without message-move tasks (moto 5.x answers 500 Internal Server Error), or a task SQS will
# not start. The loop is correct everywhere; the task is only the cheaper way.
UNSUPPORTED_CODES = frozenset({
    "InvalidAction", "UnsupportedOperation", "NotImplemented", "InvalidParameterValue",
    "AWS.SimpleQueueService.UnsupportedOperation", "UnknownOperationException",
})

# Seconds a message the loop holds stays invisible: enough to send it on and delete it.
HOLD_SECONDS = 60


@dataclass(frozen=True)
class QueueDepth:
    """Approximate message counts of one queue (GetQueueAttributes; no message is touched)."""

    visible: int
    in_flight: int
    delayed: int


@dataclass(frozen=True)
class DeadLetter:
    """One message seen in a DLQ."""

    message_id: str
    receive_count: int
    body: str
    attributes: dict[str, Any]
    group_id: str | None


@dataclass(frozen=True)
class Moved:
    """One message the loop moved: its id in the DLQ and its new id in the source queue."""

    dlq_message_id: str
    message_id: str
    group_id: str | None


@dataclass
class RedriveReport:
    """What a redrive did: ``method`` is "move-task" or "receive-send-delete"."""

    method: str
    moved: list[Moved] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # DLQ message ids left in the DLQ
    task_handle: str | None = None
    task_status: str | None = None
    task_moved: int | None = None  # the move task's count (it names no messages)
    task_failure: str | None = None
    fallback_reason: str | None = None  # why the move task was not used, when it was asked

    @property
    def count(self) -> int:
        """Messages moved back to the source queue."""
        return self.task_moved if self.task_moved is not None else len(self.moved)


async def depth(sqs: Any, url: str) -> QueueDepth:
    """Visible, in-flight and delayed counts of a queue, without receiving anything."""
    attributes = (await sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed"],
    ))["Attributes"]
    return QueueDepth(int(attributes["ApproximateNumberOfMessages"]),
                      int(attributes["ApproximateNumberOfMessagesNotVisible"]),
                      int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)))


async def look(sqs: Any, url: str, limit: int = 10) -> list[DeadLetter]:
    """Up to ``limit`` (at most 10) messages of a DLQ, left visible; each one's receive count
    goes up by one, since SQS cannot show a message without receiving it."""
    response = await sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=max(1, min(limit, 10)), VisibilityTimeout=0,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["ApproximateReceiveCount", "MessageGroupId"])
    return [_dead_letter(m) for m in response.get("Messages", [])]


async def redrive(sqs: Any, *, dlq_url: str, dlq_arn: str, source_url: str, source_arn: str,
                  limit: int | None = None, poll_seconds: float = 1.0) -> RedriveReport:
    """Move up to ``limit`` messages (all when None) from a DLQ back to its source queue."""
    fallback = None
    if limit is None:
        report, fallback = await _move_task(sqs, dlq_arn, source_arn, poll_seconds)
        if report is not None:
            return report
    report = await _receive_send_delete(sqs, dlq_url, source_url, limit)
    report.fallback_reason = fallback
    return report


async def _move_task(sqs: Any, dlq_arn: str, source_arn: str,
                     poll_seconds: float) -> tuple[RedriveReport | None, str | None]:
    try:
        started = await sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=source_arn)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if error.get("Code") in UNSUPPORTED_CODES or status in (404, 501) or status >= 500:
            return None, f"StartMessageMoveTask: {error.get('Code') or status}"
        raise
    report = RedriveReport("move-task", task_handle=started["TaskHandle"])
    while True:
        tasks = (await sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10))["Results"]
        task = next((t for t in tasks if t.get("TaskHandle") == report.task_handle),
                    tasks[0] if tasks else {})
        report.task_status = task.get("Status")
        report.task_moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        report.task_failure = task.get("FailureReason")
        if report.task_status not in ("RUNNING", "CANCELLING"):
            return report, None
        await asyncio.sleep(poll_seconds)


async def _receive_send_delete(sqs: Any, dlq_url: str, source_url: str,
                               limit: int | None) -> RedriveReport:
    report = RedriveReport("receive-send-delete")
    fifo = source_url.endswith(".fifo")
    while limit is None or len(report.moved) < limit:
        wanted = 10 if limit is None else min(10, limit - len(report.moved))
        response = await sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=wanted, VisibilityTimeout=HOLD_SECONDS,
            WaitTimeSeconds=1, MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["ApproximateReceiveCount", "MessageGroupId"])
        messages = response.get("Messages", [])
        if not messages:
            break
        entries = []
        for index, message in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = {
                    name: {k: v for k, v in value.items()
                           if k in ("DataType", "StringValue", "BinaryValue")}
                    for name, value in message["MessageAttributes"].items()}
            group = message.get("Attributes", {}).get("MessageGroupId")
            if fifo:
                entry["MessageGroupId"] = group or "redrive"
                entry["MessageDeduplicationId"] = f"redrive-{message['MessageId']}"
            entries.append(entry)
        sent = await sqs.send_message_batch(QueueUrl=source_url, Entries=entries)
        delivered = {s["Id"]: s["MessageId"] for s in sent.get("Successful", [])}
        done = []
        for index, message in enumerate(messages):
            new_id = delivered.get(str(index))
            if new_id is None:
                report.failed.append(message["MessageId"])
                continue
            done.append({"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]})
            report.moved.append(Moved(message["MessageId"], new_id,
                                      message.get("Attributes", {}).get("MessageGroupId")))
        if done:
            await sqs.delete_message_batch(QueueUrl=dlq_url, Entries=done)
        if report.failed:
            # Put the unsent ones back at once and stop: a FIFO group must not move on past
            # a message left behind, and a repeated failure would loop here forever.
            unsent = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                      for i, m in enumerate(messages) if m["MessageId"] in report.failed]
            await sqs.change_message_visibility_batch(QueueUrl=dlq_url, Entries=unsent)
            break
    return report


def _dead_letter(message: dict[str, Any]) -> DeadLetter:
    attributes = message.get("Attributes", {})
    return DeadLetter(
        message_id=message["MessageId"],
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        body=message["Body"],
        attributes={name: value.get("StringValue", value.get("BinaryValue"))
                    for name, value in message.get("MessageAttributes", {}).items()},
        group_id=attributes.get("MessageGroupId"),
    )
