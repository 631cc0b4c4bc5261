"""The outbox relay: publishes a service's committed outbox messages to SNS, then retires them.

One relay runs in each service's worker process. Several may run (one per worker task): a
lease item in the outbox table lets exactly one of them publish at a time, and another takes
over within ``lease_seconds`` of the holder dying. Each turn the holder reads a page of every
shard in commit order (a consistent Query), splits the page into lanes (an aggregate's
messages all in one lane, in commit order; one lane per ten messages, up to
``publish_concurrency``), publishes the lanes side by side (PublishBatch, ten a call, a lane's
calls one after the other) and retires what SNS accepted::

    query shard -> lanes: (publish 10 -> [fault point outbox.relay.published])... -> delete

A relay that dies between publishing and deleting publishes those messages again when it (or
its successor) next runs: at least once. Events are deleted once the page is done (one
BatchWriteItem per 25), so up to a page of events may repeat; event ids do not change, so FIFO
topics drop the second copy within five minutes and idempotent consumers skip it. Plain-text
alerts (e-mail) cannot be deduplicated: each call's alerts are deleted before that lane's next
call, which keeps their window to one PublishBatch call.

AWS failures never stop the relay: it logs them, backs off exponentially with jitter (up to
``max_backoff``) and tries again; the messages wait in the table meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import Mapping
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from shared.aws import CALL_ERRORS
from shared.dynamo import batch_write, condition_failed
from shared.errors import AwsUnavailableError, PublishError
from shared.events import SNS_BATCH_SIZE, EventPublisher
from shared.faults import fault_point
from shared.health import liveness_file, touch
from shared.logging import get_logger
from shared.outbox import OutboxMessage, outbox_table
from shared.stats import percentile

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from shared.aws import AwsClients
    from shared.topology import Resources

log = get_logger("shared.relay")

LEASE_KEY = {"shard": {"S": "#lease"}, "seq": {"S": "#lease"}}
_RETRYABLE: tuple[type[Exception], ...] = (*CALL_ERRORS, PublishError, AwsUnavailableError)


def lanes(messages: list[OutboxMessage], most: int) -> list[list[OutboxMessage]]:
    """A shard's page split into up to ``most`` lanes that may be published side by side:
    one lane per ten messages, each aggregate's messages all in one lane, each lane in seq
    order. One lane (the page as read) if any message does not name its aggregate."""
    count = min(most, -(-len(messages) // SNS_BATCH_SIZE))
    if count <= 1 or any(m.aggregate is None for m in messages):
        return [messages]
    groups: dict[str | None, list[OutboxMessage]] = {}
    for message in messages:
        groups.setdefault(message.aggregate, []).append(message)
    split: list[list[OutboxMessage]] = [[] for _ in range(count)]
    for group in sorted(groups.values(), key=len, reverse=True):
        min(split, key=len).extend(group)
    return [sorted(lane, key=lambda m: m.seq) for lane in split if lane]


class OutboxRelay:
    """Publishes one outbox table's messages to their topics until ``stop()``."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        publishers: Mapping[str, EventPublisher],
        table: str,
        *,
        shards: int = 1,
        batch: int = 100,
        publish_concurrency: int = 4,
        poll_seconds: float = 0.1,
        idle_poll_seconds: float = 0.5,
        busy_seconds: float = 2.0,
        lease_seconds: float = 15.0,
        max_backoff: float = 10.0,
        stats_path: str | None = None,
        liveness_file: str | None = None,
        name: str = "relay",
    ) -> None:
        self.dynamodb = dynamodb
        self.publishers = dict(publishers)
        self.table = table
        self.shards = [str(s) for s in range(shards)]
        self.batch = batch
        self.publish_concurrency = publish_concurrency
        self.poll_seconds = poll_seconds
        self.idle_poll_seconds = idle_poll_seconds
        self.busy_seconds = busy_seconds
        self.lease_seconds = lease_seconds
        self.max_backoff = max_backoff
        self.stats_path = stats_path
        self.liveness_file = liveness_file
        self.name = name
        self.owner = uuid.uuid4().hex
        self.published = 0
        self.lags_ms: list[float] = []
        self.committed_ms: list[int] = []  # when each message of lags_ms was committed
        self._lease_until = 0.0
        self._stopping = asyncio.Event()
        self._rng = random.Random()
        self._last_found = float("-inf")
        # Published events whose deletion is under way beside the next turns (their seqs),
        # so a turn's query skips them instead of publishing them again.
        self._retiring: set[str] = set()
        self._full = False  # a query of this turn filled its page: more may wait behind it
        self._retirements: set[asyncio.Task[None]] = set()
        self._renewal: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """Finish the current turn, give up the lease and return from ``run``."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """Relay until stopped; AWS failures are retried with backoff, never raised."""
        log.info("relay.started", relay=self.name, table=self.table)
        failures = 0
        pause = self.poll_seconds
        while not self.stopping:
            try:
                if not await self._hold_lease():
                    self._alive()  # a standby is healthy: it asked and was told to wait
                    await self._sleep(self.lease_seconds / 3)
                    continue
                self._full = False
                found = await self.turn()
                failures = 0
                self._alive()
                if self._full and not found:
                    # A page of events still being deleted: more may be right behind them.
                    # Once the deletions are done, look again at once rather than idling.
                    await self.retired()
                    continue
            except _RETRYABLE as exc:
                failures += 1
                delay = self._rng.uniform(0, min(self.max_backoff, 0.2 * 2**failures))
                log.warning("relay.failed", relay=self.name, error=type(exc).__name__,
                            detail=str(exc)[:200], retry_in=round(delay, 2))
                await self._sleep(delay)
                continue
            pause = self.next_pause(found, pause, time.monotonic(), full=self._full)
            if pause:
                await self._sleep(pause)
        await self.retired()
        await self._release_lease()
        self._write_stats()
        log.info("relay.stopped", relay=self.name, published=self.published,
                 **self.lag_summary())

    def next_pause(self, found: int, pause: float, now: float, *, full: bool = False) -> float:
        """Seconds to wait after a turn that found ``found`` messages (``pause``: the last
        wait; ``now``: time.monotonic(); ``full``: a query filled its page). A full page:
        none, a backlog waits behind it. Messages found, or quiet for less than
        ``busy_seconds``: ``poll_seconds``, since a busy service commits in bursts and slowing
        down between them would add the idle pace to the next burst's lag (a turn that
        emptied the table looks again only then: at once, it would find the events it just
        published, still being deleted, and nothing behind them). Then 1.5 times longer
        each empty turn, up to ``idle_poll_seconds``."""
        if found:
            self._last_found = now
        if full:
            return 0.0
        if found:
            return self.poll_seconds
        if now - self._last_found < self.busy_seconds:
            return self.poll_seconds
        return min(self.idle_poll_seconds, max(self.poll_seconds, pause * 1.5))

    async def drain_once(self) -> int:
        """Publish and retire up to ``batch`` messages of every shard; how many it published.

        Shards are drained side by side: an aggregate's messages all live in one shard, so
        each shard's order is all that must hold, and a busy service relays several
        aggregates at once (``OUTBOX_SHARDS``).
        """
        try:
            return await self.turn()
        finally:
            await self.retired()

    async def turn(self) -> int:
        """One turn of ``run``: like ``drain_once``, but the deletion of the events it
        published goes on beside the next turn, which does not wait for it (a DynamoDB round
        trip off every event's commit-to-publish lag) and skips them."""
        return sum(await asyncio.gather(*(self._drain_shard(s) for s in self.shards)))

    async def _drain_shard(self, shard: str) -> int:
        # Skip what was being deleted when the query started: the query may still see it
        # although the deletion has finished by the time the answer arrives.
        # They are the shard's oldest messages: the page reaches past them, so a turn still
        # finds up to ``batch`` new ones behind them.
        retiring = set(self._retiring)
        response = await self.dynamodb.query(
            TableName=self.table,
            KeyConditionExpression="#shard = :shard",
            ExpressionAttributeNames={"#shard": "shard"},
            ExpressionAttributeValues={":shard": {"S": shard}},
            ConsistentRead=True,
            Limit=self.batch + len(retiring),
        )
        found = list(map(OutboxMessage.from_item, response["Items"]))
        messages = [m for m in found if m.seq not in retiring][: self.batch]
        self._full |= len(found) >= self.batch + len(retiring)
        if messages:
            await self._publish(messages)
        return len(messages)

    async def _publish(self, messages: list[OutboxMessage]) -> None:
        # Lanes (one aggregate's messages all in one lane, in seq order) are published side by
        # side; within a lane, runs of one topic and kind go ten a call, one call after the
        # other. Events SNS accepted are retired together once the page is done, even when a
        # lane failed: a crash before that repeats at most the page's events, which FIFO
        # topics and consumers drop by event id. Plain-text notifications cannot be
        # deduplicated: each call's are retired before that lane's next call.
        accepted: list[OutboxMessage] = []
        try:
            outcomes = await asyncio.gather(
                *(self._publish_lane(lane, accepted)
                  for lane in lanes(messages, self.publish_concurrency)),
                return_exceptions=True)
        finally:
            if accepted:
                self._retire_later(accepted)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        log.info("relay.published", relay=self.name, count=len(messages),
                 lag_ms=round(time.time() * 1000 - messages[0].committed_ms, 1))

    async def _publish_lane(self, lane: list[OutboxMessage],
                            accepted: list[OutboxMessage]) -> None:
        for (topic, is_event), run in groupby(lane, key=lambda m: (m.topic, m.is_event)):
            publisher = self.publishers[topic]
            ordered = list(run)
            for start in range(0, len(ordered), SNS_BATCH_SIZE):
                chunk = ordered[start : start + SNS_BATCH_SIZE]
                if is_event:
                    await publisher.publish([m.to_event() for m in chunk])
                else:
                    await publisher.notify([m.to_notification() for m in chunk])
                fault_point("outbox.relay.published")
                now_ms = time.time() * 1000
                self.lags_ms += [now_ms - m.committed_ms for m in chunk]
                self.committed_ms += [m.committed_ms for m in chunk]
                del self.lags_ms[:-100_000], self.committed_ms[:-100_000]
                self.published += len(chunk)
                if is_event:
                    accepted += chunk
                else:
                    await self._retire(chunk)

    def _retire_later(self, messages: list[OutboxMessage]) -> None:
        """Delete published events beside the next turn. Until then the turns skip them; if
        the deletion fails they are published again (at least once: FIFO topics and
        consumers drop the copy by event id)."""
        seqs = {m.seq for m in messages}
        self._retiring |= seqs

        async def retire() -> None:
            try:
                await self._retire(messages)
            except _RETRYABLE as exc:
                log.warning("relay.retire_failed", relay=self.name, error=type(exc).__name__,
                            count=len(messages))
            finally:
                self._retiring -= seqs

        task = asyncio.create_task(retire())
        self._retirements.add(task)
        task.add_done_callback(self._retirements.discard)

    async def retired(self) -> None:
        """Wait for the deletions under way."""
        while self._retirements:
            await asyncio.gather(*self._retirements)

    async def _retire(self, messages: list[OutboxMessage]) -> None:
        await batch_write(self.dynamodb, {self.table: [
            {"DeleteRequest": {"Key": m.key()}} for m in messages]})

    async def _hold_lease(self) -> bool:
        now = time.time()
        if now < self._lease_until - self.lease_seconds * 2 / 3:
            return True  # renewed less than a third of a lease ago
        if now < self._lease_until - self.lease_seconds / 3:
            # Held for a third of a lease or more still: renew beside this turn rather than
            # before it (a DynamoDB round trip off the lag of the events it publishes).
            if self._renewal is None or self._renewal.done():
                self._renewal = asyncio.create_task(self._renew_lease())
            return True
        return await self._take_lease()

    async def _renew_lease(self) -> None:
        try:
            await self._take_lease()
        except _RETRYABLE as exc:  # the next turns try again, in line once time runs short
            log.warning("relay.renew_failed", relay=self.name, error=type(exc).__name__)

    async def _take_lease(self) -> bool:
        now = time.time()
        try:
            await self.dynamodb.put_item(
                TableName=self.table,
                Item={**LEASE_KEY, "owner": {"S": self.owner},
                      "expires": {"N": f"{now + self.lease_seconds:.3f}"}},
                ConditionExpression="attribute_not_exists(#owner) OR #owner = :me"
                                    " OR expires < :now",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": self.owner},
                                           ":now": {"N": f"{now:.3f}"}},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            if self._lease_until:
                log.info("relay.lease_lost", relay=self.name)
            self._lease_until = 0.0
            return False
        if not self._lease_until:
            log.info("relay.lease_taken", relay=self.name)
        self._lease_until = now + self.lease_seconds
        return True

    async def _release_lease(self) -> None:
        if self._renewal is not None:
            await self._renewal
        if not self._lease_until:
            return
        try:
            await self.dynamodb.delete_item(
                TableName=self.table, Key=LEASE_KEY, ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": self.owner}})
        except _RETRYABLE as exc:  # the lease expires by itself
            log.warning("relay.release_failed", relay=self.name, error=type(exc).__name__)
        self._lease_until = 0.0

    def _alive(self) -> None:
        if self.liveness_file:
            with contextlib.suppress(OSError):  # the health check reports a stale file
                touch(self.liveness_file)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def lag_summary(self) -> dict[str, float]:
        """Commit-to-publish lag of the messages relayed so far: p50, p99 and max in ms."""
        lags = self.lags_ms
        return {"lag_p50_ms": round(percentile(lags, 0.5), 1),
                "lag_p99_ms": round(percentile(lags, 0.99), 1),
                "lag_max_ms": round(max(lags, default=0.0), 1)}

    def _write_stats(self) -> None:
        if not self.stats_path:
            return
        path = Path(self.stats_path)
        document = {"published": self.published, **self.lag_summary(),
                    "lags_ms": [round(x, 1) for x in self.lags_ms],
                    "committed_ms": self.committed_ms}
        partial = path.with_name(f".{path.name}.tmp")
        partial.write_text(json.dumps(document))
        partial.replace(path)


async def outbox_relay(aws: AwsClients, resources: Resources, service: str) -> OutboxRelay:
    """The relay of ``service``'s outbox, publishing to the topics the service owns."""
    sns = await aws.client("sns")
    settings = aws.settings
    publishers = {topic: EventPublisher(sns, resources.topic_arn(topic))
                  for topic in resources.topology.owned_by(service)["topics"]}
    return OutboxRelay(
        await aws.client("dynamodb"), publishers, resources.table(outbox_table(service)),
        shards=settings.outbox_shards, poll_seconds=settings.outbox_poll_seconds,
        idle_poll_seconds=settings.outbox_idle_poll_seconds,
        stats_path=settings.outbox_stats_path, name=f"{service}-relay",
        liveness_file=str(liveness_file(settings.worker_liveness_dir, outbox_table(service))))
