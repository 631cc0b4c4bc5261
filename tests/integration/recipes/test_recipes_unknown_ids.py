"""Unknown recipe ids are 404 on every route, and PUT never creates (no upsert)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from recipes_http import recipe_body

from devkit.testing import LocalStack
from shared.aws import AwsClients

UNKNOWN_IDS = {
    "random-uuid": str(uuid.uuid4()),
    "upper-case-uuid": str(uuid.uuid4()).upper(),
    "not-a-uuid": "tomato-soup",
    "3000-characters": "x" * 3000,  # over DynamoDB's 2 KB key limit
    "multibyte": "\u00e9" * 1100,  # 2200 bytes in UTF-8
}
CALLS = ["GET", "PUT", "DELETE", "POST likes", "DELETE likes"]


async def call(client: httpx.AsyncClient, what: str, rid: str,
               who: dict[str, str]) -> httpx.Response:
    if what == "GET":
        return await client.get(f"/recipes/{rid}")
    if what == "PUT":
        return await client.put(f"/recipes/{rid}", json=recipe_body(), headers=who)
    if what == "DELETE":
        return await client.delete(f"/recipes/{rid}", headers=who)
    method = what.split()[0]
    return await client.request(method, f"/recipes/{rid}/likes", headers=who)


@pytest.mark.parametrize("what", CALLS)
@pytest.mark.parametrize("rid", list(UNKNOWN_IDS.values()), ids=list(UNKNOWN_IDS))
async def test_unknown_ids_are_404(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], what: str, rid: str
) -> None:
    """GET, PUT, DELETE and (un)like on an id no recipe has: 404 problem+json."""
    for who in ("alice", "admin"):
        response = await call(client, what, rid, headers[who])
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404


async def test_put_on_an_unknown_id_creates_nothing(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], aws: AwsClients,
    stack: LocalStack,
) -> None:
    """PUT to an unknown id is 404 and leaves neither a recipe nor like rows behind."""
    rid = str(uuid.uuid4())

    put = await client.put(f"/recipes/{rid}", json=recipe_body(),
                           headers={**headers["alice"], "If-Match": "*"})
    liked = await client.post(f"/recipes/{rid}/likes", headers=headers["bob"])

    assert (put.status_code, liked.status_code) == (404, 404)
    assert (await client.get(f"/recipes/{rid}")).status_code == 404
    dynamodb = await aws.client("dynamodb")
    stored = await dynamodb.get_item(TableName=stack.resources.table("recipes"),
                                     Key={"id": {"S": rid}}, ConsistentRead=True)
    assert "Item" not in stored
    rows = await dynamodb.query(
        TableName=stack.resources.table("recipe-likes"),
        KeyConditionExpression="recipe_id = :id",
        ExpressionAttributeValues={":id": {"S": rid}},
    )
    assert rows["Items"] == []
