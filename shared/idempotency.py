"""Exactly-once effects for at-least-once consumers, recorded in a DynamoDB table.

Semantics follow AWS Powertools' idempotency utility::

    begin(key)   conditional put INPROGRESS
                 ── fails: COMPLETED and unexpired -> AlreadyProcessed (skip the handler)
                           INPROGRESS and unexpired -> IdempotencyInProgressError (retry later)
    handler()
    complete(key)    status := COMPLETED            (handler succeeded)
    release(key)     delete the record              (handler failed: a retry may run it again)

DynamoDB TTL deletes lazily (up to ~48 h late), so expiry is always checked in code too.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.dynamo import condition_failed, failed_item
from shared.errors import IdempotencyInProgressError

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


class Claim(StrEnum):
    """What ``begin`` found."""

    NEW = "new"
    ALREADY_PROCESSED = "already_processed"


class IdempotencyStore:
    """Idempotency records of one consumer in its service's idempotency table."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        expires_after: int = 7 * 24 * 3600,
        in_progress_timeout: int = 300,
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.expires_after = expires_after
        self.in_progress_timeout = in_progress_timeout

    async def begin(self, key: str) -> Claim:
        """Claim ``key`` for this execution, or say it is done or taken."""
        now = int(time.time())
        try:
            await self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "id": {"S": key},
                    "status": {"S": "INPROGRESS"},
                    "in_progress_expiry": {"N": str(now + self.in_progress_timeout)},
                    "expires_at": {"N": str(now + self.expires_after)},
                },
                ConditionExpression=(
                    "attribute_not_exists(id) OR expires_at < :now"
                    " OR (#status = :in_progress AND in_progress_expiry < :now)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":in_progress": {"S": "INPROGRESS"},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            old = failed_item(exc) or await self._read(key)
            if old.get("status", {}).get("S") == "COMPLETED":
                return Claim.ALREADY_PROCESSED
            raise IdempotencyInProgressError(f"{key} is being processed elsewhere") from None
        return Claim.NEW

    async def _read(self, key: str) -> dict[str, Any]:
        response = await self.dynamodb.get_item(
            TableName=self.table, Key={"id": {"S": key}}, ConsistentRead=True
        )
        return dict(response.get("Item") or {})

    async def complete(self, key: str) -> None:
        """Record that the effect of ``key`` has happened."""
        await self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "id": {"S": key},
                "status": {"S": "COMPLETED"},
                "expires_at": {"N": str(int(time.time()) + self.expires_after)},
            },
        )

    async def extend(self, key: str) -> None:
        """Push back the expiry of an in-progress claim (the handler is still running)."""
        now = int(time.time())
        try:
            await self.dynamodb.update_item(
                TableName=self.table,
                Key={"id": {"S": key}},
                UpdateExpression="SET in_progress_expiry = :expiry",
                ConditionExpression="#status = :in_progress",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":expiry": {"N": str(now + self.in_progress_timeout)},
                    ":in_progress": {"S": "INPROGRESS"},
                },
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    async def release(self, key: str) -> None:
        """Forget a failed execution so the next delivery runs the handler again."""
        await self.dynamodb.delete_item(TableName=self.table, Key={"id": {"S": key}})
