"""The transactional outbox: an event leaves only with its committed change.

A service never publishes to SNS itself. It commits its change and the events that change
implies in one DynamoDB transaction, the events as items of its own outbox table; the outbox
relay (`shared.relay`, running in the service's worker process) publishes committed items to
SNS and then deletes them::

    API / worker                         outbox table                  relay
    ------------                         ------------                  -----
    TransactWriteItems([change...,  ->   shard "0", seq <time>-<id>    Query shard in seq order
                        outbox put...])   (nothing published yet)      PublishBatch (10 a call)
    answer the client                                                  BatchWrite delete

A process killed after the commit loses nothing: the items wait for the relay. A relay killed
between publishing and deleting publishes those items again on its next turn (at least once;
consumers are idempotent by event id and FIFO topics drop the same deduplication id).

Every service declares its events once, as an `EventSource` in its ``events`` module, builds
each event with that source's `EventSource.event` and opens its `Outbox` with it::

    RECIPE_EVENTS = EventSource(service="recipes", topic="recipes-events")  # events.py
    outbox = await open_outbox(aws, resources, RECIPE_EVENTS)
    await outbox.commit([put_recipe],
                        [RECIPE_EVENTS.event("recipe.created", recipe, subject=recipe.id)])
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from shared.events import CloudEvent, Notification, derived_event_id, event_type, new_event
from shared.faults import fault_point

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import TransactWriteItemTypeDef

    from shared.aws import AwsClients
    from shared.topology import Resources

TRANSACTION_LIMIT = 100  # TransactWriteItems' item limit


@dataclass(frozen=True)
class EventSource:
    """A service's events: its CloudEvents ``source``, type prefix and the topic they go to."""

    service: str
    topic: str
    alerts_topic: str | None = None

    @property
    def source(self) -> str:
        return f"regatta/{self.service}"

    def type_of(self, name: str) -> str:
        """The full event type of ``name``, e.g. ``dev.regatta.recipes.recipe.created.v1``."""
        return event_type(self.service, name)

    def fact_id(self, *parts: str) -> str:
        """The id of the event that stands for the fact ``parts`` (see `derived_event_id`)."""
        return derived_event_id(self.source, *parts)

    def event(self, name: str, data: Any, *, subject: str, partitionkey: str | None = None,
              fact: Sequence[str] = ()) -> CloudEvent:
        """A new event ``name`` of this source about ``subject`` (the current correlation id
        rides along). A pydantic model as ``data`` travels as its JSON dump. With ``fact``,
        the id is `fact_id(*fact)`, so announcing the same fact twice yields the same event
        id (dropped by FIFO deduplication and idempotent consumers); else it is random."""
        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json")
        return new_event(self.source, self.type_of(name), data, subject=subject,
                         partitionkey=partitionkey,
                         event_id=self.fact_id(*fact) if fact else None)


@dataclass(frozen=True)
class OutboxMessage:
    """One committed message waiting for the relay, as stored in the outbox table."""

    shard: str
    seq: str
    topic: str
    body: str
    committed_ms: int
    event_type: str | None = None
    subject: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    # The aggregate the message is about (its ordering group); None on items written before
    # the attribute existed, which the relay then publishes strictly in seq order.
    aggregate: str | None = None

    @property
    def is_event(self) -> bool:
        return self.event_type is not None

    def key(self) -> dict[str, Any]:
        return {"shard": {"S": self.shard}, "seq": {"S": self.seq}}

    def item(self) -> dict[str, Any]:
        item: dict[str, Any] = {**self.key(), "topic": {"S": self.topic},
                                "body": {"S": self.body},
                                "committed_ms": {"N": str(self.committed_ms)}}
        for name, value in (("event_type", self.event_type), ("subject", self.subject),
                            ("aggregate", self.aggregate)):
            if value is not None:
                item[name] = {"S": value}
        if self.attributes:
            item["attributes"] = {"M": {k: {"S": v} for k, v in self.attributes.items()}}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> OutboxMessage:
        def text(name: str) -> str | None:
            return item[name]["S"] if name in item else None

        return cls(
            shard=item["shard"]["S"], seq=item["seq"]["S"], topic=item["topic"]["S"],
            body=item["body"]["S"], committed_ms=int(item["committed_ms"]["N"]),
            event_type=text("event_type"), subject=text("subject"), aggregate=text("aggregate"),
            attributes={k: v["S"] for k, v in item.get("attributes", {}).get("M", {}).items()},
        )

    def to_event(self) -> CloudEvent:
        return CloudEvent.model_validate_json(self.body)

    def to_notification(self) -> Notification:
        return Notification(subject=self.subject or "", message=self.body,
                            attributes=dict(self.attributes))


def outbox_table(service: str) -> str:
    """The logical name of a service's outbox table in the topology."""
    return f"{service}-outbox"


def shard_of(aggregate: str, shards: int) -> str:
    """The outbox shard of an aggregate: all its messages share one, so they stay in order."""
    if shards == 1:
        return "0"
    digest = hashlib.blake2b(aggregate.encode(), digest_size=4).digest()
    return str(int.from_bytes(digest, "big") % shards)


class Outbox:
    """Commits a change with the events it implies, in one DynamoDB transaction.

    ``shards`` spreads the outbox over that many partitions (DynamoDB writes about 1,000 items
    a second to one partition); an aggregate's messages always share a shard, in commit order.
    """

    def __init__(self, dynamodb: DynamoDBClient, table: str, source: EventSource, *,
                 shards: int = 1) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.source = source
        self.shards = shards
        self._last_ns = 0

    def _seq(self, suffix: str) -> tuple[str, int]:
        # Strictly increasing within the process, so one commit's messages keep their order.
        now = max(time.time_ns(), self._last_ns + 1)
        self._last_ns = now
        return f"{now:020d}-{suffix}", now // 1_000_000

    def message(self, event: CloudEvent) -> OutboxMessage:
        """The outbox message publishing ``event`` to the source's topic."""
        aggregate = event.partitionkey or event.subject or event.id
        seq, committed_ms = self._seq(event.id)
        return OutboxMessage(
            shard=shard_of(aggregate, self.shards), seq=seq, topic=self.source.topic,
            body=event.to_json(), committed_ms=committed_ms, event_type=event.type,
            aggregate=aggregate)

    def alert(self, notification: Notification, *, aggregate: str) -> OutboxMessage:
        """The outbox message sending a plain-text ``notification`` to the alerts topic."""
        if self.source.alerts_topic is None:
            raise ValueError(f"{self.source.service} declares no alerts topic")
        digest = hashlib.sha256(notification.message.encode()).hexdigest()[:16]
        seq, committed_ms = self._seq(digest)
        return OutboxMessage(
            shard=shard_of(aggregate, self.shards), seq=seq, topic=self.source.alerts_topic,
            body=notification.message, committed_ms=committed_ms,
            subject=notification.subject, attributes=dict(notification.attributes),
            aggregate=aggregate)

    def puts(self, messages: Sequence[OutboxMessage]) -> list[TransactWriteItemTypeDef]:
        """TransactWriteItems entries that put ``messages`` into the outbox."""
        return [{"Put": {"TableName": self.table, "Item": m.item()}} for m in messages]

    async def commit(self, writes: Sequence[TransactWriteItemTypeDef],
                     events: Sequence[CloudEvent] = (), *,
                     alerts: Sequence[tuple[Notification, str]] = (),
                     fault: str | None = None) -> None:
        """Apply ``writes`` (TransactWriteItems entries) and queue ``events`` atomically.

        ``alerts`` are (notification, aggregate) pairs for the source's alerts topic. The
        outbox entries follow ``writes``, so a TransactionCanceledException's reasons keep the
        indexes of ``writes``. ``fault`` names the fault point reached right after the commit.
        """
        messages = [self.message(e) for e in events]
        messages += [self.alert(n, aggregate=a) for n, a in alerts]
        items: list[TransactWriteItemTypeDef] = [*writes, *self.puts(messages)]
        if len(items) > TRANSACTION_LIMIT:
            raise ValueError(f"a transaction holds at most {TRANSACTION_LIMIT} items, "
                             f"not {len(items)}")
        if len(items) == 1 and "Put" in items[0] and not writes:
            await self.dynamodb.put_item(**items[0]["Put"])
        else:
            await self.dynamodb.transact_write_items(TransactItems=items)
        if fault:
            fault_point(fault)


async def open_outbox(aws: AwsClients, resources: Resources, source: EventSource) -> Outbox:
    """The outbox of ``source``'s service, in its own table (``<service>-outbox``)."""
    return Outbox(await aws.client("dynamodb"), resources.table(outbox_table(source.service)),
                  source, shards=aws.settings.outbox_shards)
