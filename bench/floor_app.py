"""The benchmark's floor: the least a FastAPI app can do to serve one DynamoDB read.

No auth, no middleware, no models: one GetItem (or one index Query) per request against the
same emulator and table as the recipes service. ``uvicorn bench.floor_app:app``.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from fastapi import FastAPI, Response

TABLE = os.environ.get("REGATTA_NAME_PREFIX", "regatta-") + "recipes"


@asynccontextmanager
async def lifespan(app: FastAPI):
    session = get_session()
    config = AioConfig(max_pool_connections=64)
    async with session.create_client(
        "dynamodb",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        config=config,
    ) as client:
        app.state.dynamodb = client
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/floor/{recipe_id}")
async def get_item(recipe_id: str) -> Response:
    item = await app.state.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": recipe_id}})
    return Response(str(len(item.get("Item", {}))))


@app.get("/floor")
async def query() -> Response:
    page = await app.state.dynamodb.query(
        TableName=TABLE,
        IndexName="by-newest",
        KeyConditionExpression="listing = :l",
        ExpressionAttributeValues={":l": {"S": "recipe"}},
        ScanIndexForward=False,
        Limit=20,
    )
    return Response(str(len(page["Items"])))


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ready"}
