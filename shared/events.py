"""CloudEvents 1.0 envelope and the SNS publisher.

Events travel as CloudEvents JSON in the SNS message body (raw delivery to SQS). The event
``type`` is also an SNS message attribute so subscriptions can filter on it. Messages meant for
people (e-mail, SMS) are plain-text `Notification`s on their own topics.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from structlog.contextvars import get_contextvars
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from shared.errors import PublishError, RetryableError
from shared.logging import get_logger
from shared.telemetry import current_traceparent

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sns.type_defs import (
        BatchResultErrorEntryTypeDef,
        PublishBatchRequestEntryTypeDef,
    )

log = get_logger("shared.events")

EVENT_TYPE_PREFIX = "dev.regatta"
SNS_BATCH_SIZE = 10


def event_type(service: str, name: str, version: int = 1) -> str:
    """The reverse-DNS, versioned type of an event: ``dev.regatta.recipes.recipe.created.v1``."""
    return f"{EVENT_TYPE_PREFIX}.{service}.{name}.v{version}"


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event in its JSON format, with Regatta's extensions."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    datacontenttype: str = "application/json"
    data: Any = None
    # Extensions (lower-case, <= 20 characters).
    correlationid: str | None = None
    traceparent: str | None = None
    partitionkey: str | None = None

    @property
    def key(self) -> str:
        """Idempotency key: CloudEvents identity is (source, id)."""
        return f"{self.source}#{self.id}"

    def dedup_id(self) -> str:
        """FIFO deduplication id derived from the event identity (never random)."""
        return hashlib.sha256(self.key.encode()).hexdigest()

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


def derived_event_id(source: str, *parts: str) -> str:
    """A deterministic event id (a UUID) for an event that stands for a fact, not an action.

    The same source and parts always give the same id, so publishing the fact twice (a retried
    request, a redelivered message) yields a duplicate that FIFO deduplication and idempotent
    consumers drop, rather than a second event.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("regatta", source, *parts))))


def new_event(
    source: str, type_: str, data: Any, *, subject: str | None = None,
    partitionkey: str | None = None, event_id: str | None = None,
) -> CloudEvent:
    """A new event carrying the current correlation id (from the log context) along, and as
    its ``traceparent`` the current span (shared.telemetry), else the one being handled.

    ``event_id`` defaults to a random UUID; pass a `derived_event_id` for a deterministic one.
    """
    ctx = get_contextvars()
    return CloudEvent(
        **({"id": event_id} if event_id else {}),
        source=source,
        type=type_,
        data=data,
        subject=subject,
        partitionkey=partitionkey,
        correlationid=ctx.get("correlation_id") or ctx.get("request_id"),
        traceparent=current_traceparent() or ctx.get("traceparent"),
    )


@dataclass(frozen=True)
class Notification:
    """A plain-text message for people (an e-mail or SMS subscription), not a CloudEvent.

    ``attributes`` become SNS string message attributes, so subscriptions can filter on them.
    """

    subject: str
    message: str
    attributes: Mapping[str, str] = field(default_factory=dict)


class _PartialPublishError(RetryableError):
    """SNS refused some entries of a batch: publish those again."""

    def __init__(self, failed: list[BatchResultErrorEntryTypeDef]):
        super().__init__(f"{len(failed)} entries failed")
        self.failed = failed


class EventPublisher:
    """Publishes events to one SNS topic in batches of up to 10.

    For a FIFO topic the message group is the event's ``partitionkey`` (else its subject) and
    the deduplication id is derived from the event id, so a retried publish is dropped by SNS.
    """

    def __init__(self, sns: SNSClient, topic_arn: str, *, attempts: int = 4) -> None:
        self.sns = sns
        self.topic_arn = topic_arn
        self.fifo = topic_arn.endswith(".fifo")
        self.attempts = attempts

    def _entry(self, index: int, event: CloudEvent) -> PublishBatchRequestEntryTypeDef:
        entry: PublishBatchRequestEntryTypeDef = {
            "Id": str(index),
            "Message": event.to_json(),
            "MessageAttributes": {"type": {"DataType": "String", "StringValue": event.type}},
        }
        if self.fifo:
            entry["MessageGroupId"] = event.partitionkey or event.subject or "default"
            entry["MessageDeduplicationId"] = event.dedup_id()
        return entry

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish every event or raise PublishError; partial failures are retried."""
        for start in range(0, len(events), SNS_BATCH_SIZE):
            chunk = events[start : start + SNS_BATCH_SIZE]
            await self._publish_chunk([self._entry(i, e) for i, e in enumerate(chunk)])

    async def notify(self, notifications: Sequence[Notification]) -> None:
        """Publish plain-text notifications (standard topics only; e-mail cannot subscribe
        to FIFO topics); PublishError as for `publish`."""
        if self.fifo:
            raise ValueError("notifications go to standard topics, not FIFO ones")
        for start in range(0, len(notifications), SNS_BATCH_SIZE):
            chunk = notifications[start : start + SNS_BATCH_SIZE]
            await self._publish_chunk([
                {
                    "Id": str(i),
                    "Subject": n.subject,
                    "Message": n.message,
                    "MessageAttributes": {
                        name: {"DataType": "String", "StringValue": value}
                        for name, value in n.attributes.items()
                    },
                }
                for i, n in enumerate(chunk)
            ])

    async def _publish_chunk(self, entries: list[PublishBatchRequestEntryTypeDef]) -> None:
        pending = entries
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.attempts),
                wait=wait_random_exponential(multiplier=0.05, max=2),
                retry=retry_if_exception_type(_PartialPublishError),
                reraise=True,
            ):
                with attempt:
                    response = await self.sns.publish_batch(
                        TopicArn=self.topic_arn, PublishBatchRequestEntries=pending
                    )
                    failed_ids = {f["Id"] for f in response.get("Failed", [])}
                    if failed_ids:
                        pending = [e for e in pending if e["Id"] in failed_ids]
                        raise _PartialPublishError(response["Failed"])
        except _PartialPublishError as exc:
            raise PublishError(f"SNS rejected {len(exc.failed)} events: {exc.failed}") from None


def parse_event(body: str | bytes) -> CloudEvent:
    """A CloudEvent from a raw SQS body, or from an SNS envelope if raw delivery is off."""
    document = orjson.loads(body)
    if isinstance(document, dict) and document.get("Type") == "Notification":
        document = orjson.loads(document["Message"])
    return CloudEvent.model_validate(document)
