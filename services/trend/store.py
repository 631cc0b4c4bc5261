"""DynamoDB access for per-symbol indicator state, signals and applied event ids."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from botocore.exceptions import ClientError

from services.trend import logic
from services.trend.indicators import IndicatorEngine, IndicatorState
from services.trend.models import SignalPublic, TrendSummary
from services.trend.signals import Signal
from shared.dynamo import (
    all_items,
    batch_get,
    batch_write,
    condition_failed,
    from_item,
    query_page,
    start_key,
    to_item,
    to_value,
)
from shared.faults import fault_point
from shared.outbox import Outbox

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef

SIGNAL_KEYS = {"symbol": "S", "signal_key": "S"}
SUMMARY_FIELDS = ("symbol", "trend", "as_of", "price", "ticks_seen")
STATE_FIELDS = ("symbol", "version", "state", "last_events", "partial", "alerting")


@dataclass(frozen=True)
class PartialEvent:
    """An event a state write applied only in part: its key and how many of its ticks, in
    (timestamp, id) order, the state holds."""

    key: str
    ticks: int


@dataclass(frozen=True)
class StoredState:
    """A symbol's state document as stored, with the version a write must still find."""

    symbol: str
    version: int
    document: dict[str, Any]
    last_events: tuple[str, ...] = ()
    """Keys of the events the last write had applied in full (of its batch)."""
    partial: PartialEvent | None = None
    """The event the last write stopped inside, if it did."""
    alerting: str | None = None
    """The alert throttle's memory (`logic.AlertThrottle` as JSON)."""


@dataclass(frozen=True)
class Loaded:
    """What a batch needs to know before it applies its events."""

    states: dict[str, StoredState]
    applied: set[str]
    """Keys of the batch's events that were applied before: skip them."""
    unrecorded: set[str]
    """Of those, the ones whose idempotency record is missing (written by the next commit)."""


def _stored(item: dict[str, Any]) -> StoredState:
    partial = from_item(item["partial"]["M"]) if "partial" in item else None
    return StoredState(
        item["symbol"]["S"], int(item["version"]["N"]), orjson.loads(item["state"]["S"]),
        tuple(v["S"] for v in item.get("last_events", {}).get("L", [])),
        PartialEvent(partial["key"], int(partial["ticks"])) if partial else None,
        item["alerting"]["S"] if "alerting" in item else None,
    )


@dataclass(frozen=True)
class StateWrite:
    """One transaction of a symbol: its state after some of a batch's ticks, and the signals
    those ticks completed (rows, ``trend.signal.detected`` events and alert texts).

    ``version`` is the version this write stores; the table must still hold ``version - 1``
    (none at all for 1). ``applied`` are the keys of the batch's events applied in full up to
    this write; ``partial`` the event it stops inside, if any.
    """

    symbol: str
    version: int
    summary: TrendSummary
    state: str
    applied: tuple[str, ...]
    partial: PartialEvent | None = None
    signals: tuple[Signal, ...] = ()
    alerts: tuple[Signal, ...] = ()
    """The signals that are e-mailed (the throttle holds back the others' alerts)."""
    alerting: str | None = None
    """The alert throttle's memory after this write."""


class TrendStates(Protocol):
    """What the worker's `TrendUpdater` needs of the stored trend state: `TrendStore`, or a
    test's in-memory double."""

    async def load(self, symbols: Sequence[str], event_keys: Sequence[str]) -> Loaded: ...

    async def commit(self, writes: Mapping[str, Sequence[StateWrite]], *,
                     unrecorded: Iterable[str]) -> set[str]: ...


class TrendStore:
    """Indicator state, signals and applied event ids, in the service's tables.

    One item per symbol holds its whole engine state (a JSON string: floats round-trip
    exactly, no Decimal) and a version; every write is conditional on the version read, so
    a worker that lost a symbol to another (after a visibility timeout) cannot overwrite the
    newer state. A write that completes signals commits them, their events and their alerts
    (the outbox) in the same transaction. Applied event ids are remembered
    (``trend-idempotency``) so that a redelivered event is recognised and skipped. ``outbox``
    is needed only to commit (the API reads).
    """

    def __init__(self, dynamodb: DynamoDBClient, *, state_table: str, signals_table: str,
                 idempotency_table: str, outbox: Outbox | None = None,
                 remember_seconds: int = 7 * 24 * 3600) -> None:
        self.dynamodb = dynamodb
        self.state_table = state_table
        self.signals_table = signals_table
        self.idempotency_table = idempotency_table
        self.outbox = outbox
        self.remember_seconds = remember_seconds

    async def load(self, symbols: Sequence[str], event_keys: Sequence[str]) -> Loaded:
        """The symbols' stored states and which of the event keys were applied (one read).

        An event the last state write applied counts as applied even if its idempotency
        record was never written (a crash between the two): pass ``unrecorded`` to `commit`.
        """
        found = await batch_get(self.dynamodb, {
            self.state_table: [{"symbol": {"S": s}} for s in symbols],
            self.idempotency_table: [{"id": {"S": k}} for k in event_keys],
        }, consistent=True, attributes={
            self.state_table: STATE_FIELDS,
            self.idempotency_table: ("id", "status", "expires_at"),
        })
        states = {item["symbol"]["S"]: _stored(item) for item in found[self.state_table]}
        now = time.time()
        applied = {
            item["id"]["S"] for item in found[self.idempotency_table]
            if item.get("status", {}).get("S") == "COMPLETED"
            # TTL deletes lazily (up to ~48 h late): expiry is checked here too.
            and float(item.get("expires_at", {}).get("N", "inf")) > now
        }
        unrecorded = {k for state in states.values() for k in state.last_events
                      } & set(event_keys) - applied
        return Loaded(states, applied | unrecorded, unrecorded)

    async def get(self, symbol: str) -> StoredState | None:
        """A symbol's stored state, or None."""
        response = await self.dynamodb.get_item(TableName=self.state_table,
                                                Key={"symbol": {"S": symbol}})
        return _stored(response["Item"]) if "Item" in response else None

    async def commit(self, writes: Mapping[str, Sequence[StateWrite]], *,
                     unrecorded: Iterable[str] = ()) -> set[str]:
        """Store a batch's state writes (by symbol); the keys of the events now applied.

            1. each symbol's writes, in order   one transaction each (see `_write`)
               [fault point trend.batch.committed]
            2. idempotency records of the applied events   BatchWriteItem

        A crash after 1 leaves the events marked in the state itself (``last_events``, and
        ``partial`` for an event applied in part), so their redelivery is still recognised;
        a crash before 1 leaves nothing applied. A symbol whose version moved (another worker
        took it over after a visibility timeout) stops at that write: the events it did not
        apply in full are left out of the result, so they fail and come back.
        """
        done = await asyncio.gather(*(self._write_all(w) for w in writes.values() if w))
        applied = {key for keys in done for key in keys}
        if applied:
            fault_point("trend.batch.committed")
        now = int(time.time())
        records = [
            {"PutRequest": {"Item": {"id": {"S": key}, "status": {"S": "COMPLETED"},
                                     "in_progress_expiry": {"N": str(now)},
                                     "expires_at": {"N": str(now + self.remember_seconds)}}}}
            for key in sorted(applied | set(unrecorded))
        ]
        if records:
            await batch_write(self.dynamodb, {self.idempotency_table: records})
        return applied

    async def _write_all(self, writes: Sequence[StateWrite]) -> tuple[str, ...]:
        applied: tuple[str, ...] = ()
        for write in writes:
            if not await self._write(write):
                break
            applied = write.applied
        return applied

    async def _write(self, write: StateWrite) -> bool:
        """One state write: a conditional PutItem, or with signals a transaction::

            [0]        state        version := v, IF version = v - 1 (absent for v = 1)
            [1..n]     signals      one row each (keys follow from the ticks)
            [n+1..]    outbox       trend.signal.detected of each, and the alert texts the
                                    throttle lets through

        False if the state moved since it was read.
        """
        document: dict[str, Any] = {
            **write.summary.model_dump(mode="json"),
            "version": write.version,
            "state": write.state,
            "last_events": list(write.applied),
            "updated_at": time.time(),
        }
        if write.partial:
            document["partial"] = {"key": write.partial.key, "ticks": write.partial.ticks}
        if write.alerting:
            document["alerting"] = write.alerting
        put: PutTypeDef = {"TableName": self.state_table, "Item": to_item(document)}
        if write.version > 1:
            put["ConditionExpression"] = "version = :version"
            put["ExpressionAttributeValues"] = {":version": to_value(write.version - 1)}
        else:
            put["ConditionExpression"] = "attribute_not_exists(symbol)"
        try:
            if not write.signals:
                await self.dynamodb.put_item(**put)
                return True
            if self.outbox is None:
                raise RuntimeError("this TrendStore has no outbox to commit signals with")
            signals: list[TransactWriteItemTypeDef] = [
                {"Put": {"TableName": self.signals_table, "Item": self._signal_item(s)}}
                for s in write.signals]
            await self.outbox.commit(
                [{"Put": put}, *signals],
                [logic.signal_event(s) for s in write.signals],
                alerts=[(logic.alert(s), write.symbol) for s in write.alerts])
        except ClientError as exc:
            if condition_failed(exc, 0):
                return False
            raise
        return True

    def _signal_item(self, signal: Signal) -> dict[str, Any]:
        return to_item({
            **signal.model_dump(mode="json"),
            "signal_key": logic.signal_key(signal),
        })

    async def summaries(self) -> list[TrendSummary]:
        """Every symbol's latest trend, alphabetically (a small table, read whole)."""
        names = {f"#{f}": f for f in SUMMARY_FIELDS}
        request: dict[str, Any] = {"TableName": self.state_table,
                                   "ProjectionExpression": ", ".join(names),
                                   "ExpressionAttributeNames": names}
        items = [TrendSummary.model_validate(from_item(i))
                 for i in await all_items(self.dynamodb.scan, request)]
        return sorted(items, key=lambda s: s.symbol)

    async def signals_page(
        self, symbol: str, *, limit: int, after: dict[str, Any] | None
    ) -> tuple[list[SignalPublic], dict[str, Any] | None]:
        """One page of a symbol's signals, newest first."""
        request: dict[str, Any] = {
            "TableName": self.signals_table,
            "KeyConditionExpression": "symbol = :symbol",
            "ExpressionAttributeValues": {":symbol": {"S": symbol}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        key = start_key(after, SIGNAL_KEYS, partition={"symbol": symbol})
        items, last_key = await query_page(self.dynamodb, request, key)
        return [SignalPublic.model_validate(from_item(i)) for i in items], last_key


def engine_of(stored: StoredState) -> IndicatorEngine:
    """The engine a stored state describes (with its own periods, for display)."""
    return IndicatorEngine.from_state(IndicatorState.from_dict(stored.document))
