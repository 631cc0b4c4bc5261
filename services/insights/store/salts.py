"""The daily salt of the visitor hash (table ``insights-salts``, one item per UTC day).

The first process that needs a day's salt creates it (32 random bytes) with a conditional
put; every other process reads that one, so all of them hash a visitor the same way that day.
The item carries a TTL at the end of its day: DynamoDB deletes it then (within hours), and a
salt read after its day has ended is never used. Each process keeps the day's salt in memory
until the day ends.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from shared.dynamo import condition_failed

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

SALT_BYTES = 32


def end_of_day(day: date) -> datetime:
    """Midnight UTC after ``day``: when its salt stops being used (and its TTL)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


class DailySalts:
    """The salt of the current UTC day, created once across every process."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.clock = clock
        self._day: date | None = None
        self._salt = b""
        self._lock = asyncio.Lock()
        self.calls = 0  # DynamoDB calls made (tests read it)

    async def today(self) -> tuple[date, bytes]:
        """The current day and its salt (from memory once known)."""
        day = self.clock().astimezone(UTC).date()
        if day == self._day:
            return day, self._salt
        async with self._lock:
            if day != self._day:
                salt = await self._load(day)
                self._day, self._salt = day, salt
        return day, self._salt

    async def _load(self, day: date) -> bytes:
        key = {"day": {"S": day.isoformat()}}
        self.calls += 1
        found = await self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        item = found.get("Item")
        if item and "salt" in item:
            return bytes(item["salt"]["B"])
        salt = secrets.token_bytes(SALT_BYTES)
        try:
            self.calls += 1
            await self.dynamodb.put_item(
                TableName=self.table,
                Item={**key, "salt": {"B": salt},
                      "expires_at": {"N": str(int(end_of_day(day).timestamp()))}},
                ConditionExpression="attribute_not_exists(#day)",
                ExpressionAttributeNames={"#day": "day"})
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            # Another process created it first: use theirs.
            self.calls += 1
            found = await self.dynamodb.get_item(TableName=self.table, Key=key,
                                                 ConsistentRead=True)
            return bytes(found["Item"]["salt"]["B"])
        return salt
