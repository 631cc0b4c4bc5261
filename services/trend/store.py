"""DynamoDB access for per-symbol indicator state, signals and applied event ids."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from botocore.exceptions import ClientError

from services.trend import logic
from services.trend.indicators import IndicatorEngine, IndicatorState
from services.trend.models import SignalPublic, TrendSummary
from services.trend.signals import Signal
from shared.dynamo import (
    CursorError,
    batch_get,
    batch_write,
    from_item,
    start_key,
    to_item,
    to_value,
)

SIGNAL_KEYS = {"symbol", "signal_key"}
SUMMARY_FIELDS = ("symbol", "trend", "as_of", "price", "ticks_seen")
STATE_FIELDS = ("symbol", "version", "state", "last_events")


@dataclass(frozen=True)
class StoredState:
    """A symbol's state document as stored, with the version a write must still find."""

    symbol: str
    version: int
    document: dict[str, Any]
    last_events: tuple[str, ...] = ()
    """Keys of the events the last write applied."""


@dataclass(frozen=True)
class Loaded:
    """What a batch needs to know before it applies its events."""

    states: dict[str, StoredState]
    applied: set[str]
    """Keys of the batch's events that were applied before: skip them."""
    unrecorded: set[str]
    """Of those, the ones whose idempotency record is missing (written by the next commit)."""


def _stored(item: dict[str, Any]) -> StoredState:
    return StoredState(
        item["symbol"]["S"], int(item["version"]["N"]), orjson.loads(item["state"]["S"]),
        tuple(v["S"] for v in item.get("last_events", {}).get("L", [])),
    )


@dataclass
class SymbolUpdate:
    """What one batch changes for one symbol: its new state, its applied events, its signals."""

    symbol: str
    expected_version: int  # 0: no state stored yet
    engine: IndicatorEngine
    event_keys: list[str] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)


class TrendStore:
    """Indicator state, signals and applied event ids, in the service's tables.

    One item per symbol holds its whole engine state (a JSON string: floats round-trip
    exactly, no Decimal) and a version; every write is conditional on the version read, so
    a worker that lost a symbol to another (after a visibility timeout) cannot overwrite the
    newer state. Applied event ids are remembered (``trend-idempotency``) so that a
    redelivered event is recognised and skipped.
    """

    def __init__(self, dynamodb: Any, *, state_table: str, signals_table: str,
                 idempotency_table: str, remember_seconds: int = 7 * 24 * 3600) -> None:
        self.dynamodb = dynamodb
        self.state_table = state_table
        self.signals_table = signals_table
        self.idempotency_table = idempotency_table
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

    async def save_signals(self, signals: Sequence[Signal]) -> None:
        """Store signals (idempotent: a signal's key and content follow from its ticks).

        Called before `commit`, so that no committed state lacks the signals it produced.
        """
        if signals:
            await batch_write(self.dynamodb, {self.signals_table: [
                {"PutRequest": {"Item": self._signal_item(s)}} for s in signals]})

    async def commit(self, updates: Sequence[SymbolUpdate], *,
                     unrecorded: Iterable[str] = ()) -> set[str]:
        """Store a batch's states and applied event ids; the symbols that lost a race.

            1. each symbol state  PutItem if its version is still the one read, with the keys
                                  of the events it applies (``last_events``)
            2. idempotency records of those events  BatchWriteItem

        A crash after 1 leaves the events marked in the state itself, so their redelivery is
        still recognised; a crash before 1 leaves nothing applied. A symbol whose version
        moved (another worker took it over after a visibility timeout) is not written: it is
        returned, and its events fail and come back.
        """
        updates = [u for u in updates if u.event_keys]
        written = await asyncio.gather(*(self._put_state(u) for u in updates))
        lost = {u.symbol for u, ok in zip(updates, written, strict=True) if not ok}
        now = int(time.time())
        keys = [k for u in updates if u.symbol not in lost for k in u.event_keys]
        keys += sorted(unrecorded)
        records = [
            {"PutRequest": {"Item": {"id": {"S": key}, "status": {"S": "COMPLETED"},
                                     "in_progress_expiry": {"N": str(now)},
                                     "expires_at": {"N": str(now + self.remember_seconds)}}}}
            for key in keys
        ]
        if records:
            await batch_write(self.dynamodb, {self.idempotency_table: records})
        return lost

    async def _put_state(self, update: SymbolUpdate) -> bool:
        engine = update.engine
        condition: dict[str, Any] = (
            {"ConditionExpression": "version = :version",
             "ExpressionAttributeValues": {":version": to_value(update.expected_version)}}
            if update.expected_version else
            {"ConditionExpression": "attribute_not_exists(symbol)"})
        try:
            await self.dynamodb.put_item(
                TableName=self.state_table,
                Item=to_item({
                    **logic.summary(engine).model_dump(mode="json"),
                    "version": update.expected_version + 1,
                    "state": orjson.dumps(engine.to_dict()).decode(),
                    "last_events": update.event_keys,
                    "updated_at": time.time(),
                }),
                **condition,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
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
        items: list[TrendSummary] = []
        while True:
            response = await self.dynamodb.scan(**request)
            items += [TrendSummary.model_validate(from_item(i)) for i in response["Items"]]
            if "LastEvaluatedKey" not in response:
                return sorted(items, key=lambda s: s.symbol)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

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
        key = start_key(after, SIGNAL_KEYS)
        if key is not None:
            if key["symbol"] != {"S": symbol} or "S" not in key["signal_key"]:
                raise CursorError("cursor is not valid for this listing")
            request["ExclusiveStartKey"] = key
        response = await self.dynamodb.query(**request)
        return ([SignalPublic.model_validate(from_item(i)) for i in response["Items"]],
                response.get("LastEvaluatedKey"))


def engine_of(stored: StoredState) -> IndicatorEngine:
    """The engine a stored state describes (with its own periods, for display)."""
    return IndicatorEngine.from_state(IndicatorState.from_dict(stored.document))
