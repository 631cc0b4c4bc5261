"""The visitor counter (table ``insights-hits``): views per path and daily unique visitors,
without a scan and without an address.

Items of one path (``pk`` = ``path#<path>``):

- ``sk`` = ``views``: ``views``, the path's views, by an atomic ``ADD``;
- ``sk`` = ``day#<YYYY-MM-DD>``: ``visitors``, that day's unique visitors, by an ``ADD`` in
  one transaction with the visitor's marker, so made only when the marker was new;
- ``sk`` = ``visitor#<YYYY-MM-DD>#<visitor hash>``: the marker, created by a conditional put,
  deleted by its TTL after the day (the hash is useless by then: its salt is gone).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from services.insights.models import HitCount
from services.insights.store.salts import end_of_day
from shared.dynamo import condition_failed

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


def _pk(path: str) -> dict[str, str]:
    return {"S": f"path#{path}"}


class HitCounter:
    """Counts views and daily visitors per path."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, *,
                 marker_keep: timedelta = timedelta(hours=24)) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.marker_keep = marker_keep

    async def hit(self, path: str, day: date, visitor: str | None) -> HitCount:
        """One view of ``path``; a visitor (None: not counted as one) seen for the first time
        ``day`` adds one to its visitors."""
        views, visitors = await asyncio.gather(self._add_view(path),
                                               self._add_visitor(path, day, visitor))
        return HitCount(path=path, views=views, visitors_today=visitors)

    async def read(self, path: str, day: date) -> HitCount:
        """The counts without counting."""
        views, visitors = await asyncio.gather(self._get(path, "views", "views"),
                                               self._get(path, f"day#{day}", "visitors"))
        return HitCount(path=path, views=views, visitors_today=visitors)

    async def _add_view(self, path: str) -> int:
        answer = await self.dynamodb.update_item(
            TableName=self.table, Key={"pk": _pk(path), "sk": {"S": "views"}},
            UpdateExpression="ADD #views :one", ExpressionAttributeNames={"#views": "views"},
            ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_NEW")
        return int(answer["Attributes"]["views"]["N"])

    async def _add_visitor(self, path: str, day: date, visitor: str | None) -> int:
        if visitor is None:
            return await self._get(path, f"day#{day}", "visitors")
        expires = int((end_of_day(day) + self.marker_keep).timestamp())
        # The marker's conditional put and the day's ADD commit together or not at all: the
        # ADD happens only when the marker is new, and a count read after a marker exists
        # includes it (no visitor is lost to a crash between the two, none counted twice).
        try:
            await self.dynamodb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table,
                         "Item": {"pk": _pk(path), "sk": {"S": f"visitor#{day}#{visitor}"},
                                  "expires_at": {"N": str(expires)}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {"TableName": self.table,
                            "Key": {"pk": _pk(path), "sk": {"S": f"day#{day}"}},
                            "UpdateExpression": "ADD visitors :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            ])
        except ClientError as exc:
            if not condition_failed(exc, 0):
                raise
        return await self._get(path, f"day#{day}", "visitors")

    async def _get(self, path: str, sk: str, attribute: str) -> int:
        found = await self.dynamodb.get_item(
            TableName=self.table, Key={"pk": _pk(path), "sk": {"S": sk}}, ConsistentRead=True,
            ProjectionExpression="#a", ExpressionAttributeNames={"#a": attribute})
        item = found.get("Item")
        return int(item[attribute]["N"]) if item and attribute in item else 0
