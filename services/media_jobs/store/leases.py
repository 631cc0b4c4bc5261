"""Job leases: one workflow run per job at a time, in the service's idempotency table."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, TypedDict

from botocore.exceptions import ClientError

from shared.dynamo import condition_failed

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef


class _Held(TypedDict):
    """The condition that holds while an owner's run holds the lease."""

    ConditionExpression: str
    ExpressionAttributeNames: dict[str, str]
    ExpressionAttributeValues: dict[str, AttributeValueTypeDef]


class JobLeases:
    """One workflow run per job at a time, in the service's idempotency table.

    A lease belongs to the SQS message that runs the job and lasts ``seconds`` unless renewed;
    each acquisition is a new run with a token of its own. The same message, redelivered after
    its worker died, takes its lease back at once; another message (a duplicate notification)
    waits until the lease has expired. Whoever takes the lease over makes the previous run's
    renewals fail: that run stops (`Workflow`) and its commits, fenced by its token, fail::

        acquire   put if  no lease | lease expired | owner = this message   -> new run token
        renew     owner = this message and run = this run  -> lease_until := now + seconds
        fence     the same condition, as a ConditionCheck in a commit's transaction
        release   delete if owner = this message and run = this run
    """

    def __init__(self, dynamodb: DynamoDBClient, table: str, *, seconds: int) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.seconds = seconds

    @staticmethod
    def _id(guid: str) -> dict[str, Any]:
        return {"S": f"media-job-lease:{guid}"}

    @staticmethod
    def _held(owner: str, run: str) -> _Held:
        return {"ConditionExpression": "#owner = :owner AND #run = :run",
                "ExpressionAttributeNames": {"#owner": "owner", "#run": "run"},
                "ExpressionAttributeValues": {":owner": {"S": owner}, ":run": {"S": run}}}

    async def acquire(self, guid: str, owner: str) -> str | None:
        """Take the job's lease for ``owner``: the new run's token, or None while another
        owner holds it."""
        now, run = int(time.time()), uuid.uuid4().hex
        try:
            await self.dynamodb.put_item(
                TableName=self.table,
                Item={"id": self._id(guid), "owner": {"S": owner}, "run": {"S": run},
                      "lease_until": {"N": str(now + self.seconds)},
                      "expires_at": {"N": str(now + 7 * 24 * 3600)}},
                ConditionExpression="attribute_not_exists(id) OR lease_until < :now"
                                    " OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":owner": {"S": owner}},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        return run

    async def renew(self, guid: str, owner: str, run: str) -> bool:
        """Extend the lease of ``owner``'s ``run``; False if it is no longer theirs."""
        held = self._held(owner, run)
        try:
            await self.dynamodb.update_item(
                TableName=self.table, Key={"id": self._id(guid)},
                UpdateExpression="SET lease_until = :until", **held | {
                    "ExpressionAttributeValues": held["ExpressionAttributeValues"] | {
                        ":until": {"N": str(int(time.time()) + self.seconds)}}})
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def fence(self, guid: str, owner: str, run: str) -> TransactWriteItemTypeDef:
        """A TransactWriteItems entry that holds only while ``run`` holds the lease."""
        held = self._held(owner, run)
        return {"ConditionCheck": {
            "TableName": self.table, "Key": {"id": self._id(guid)},
            "ConditionExpression": held["ConditionExpression"],
            "ExpressionAttributeNames": held["ExpressionAttributeNames"],
            "ExpressionAttributeValues": held["ExpressionAttributeValues"]}}

    async def release(self, guid: str, owner: str, run: str) -> None:
        """Give the lease up (if it is still ``owner``'s ``run``'s)."""
        try:
            await self.dynamodb.delete_item(
                TableName=self.table, Key={"id": self._id(guid)}, **self._held(owner, run))
        except ClientError as exc:
            if not condition_failed(exc):
                raise
