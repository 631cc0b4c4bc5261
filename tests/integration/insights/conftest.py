"""The lake against the emulator: a bucket and a state table of its own per session (the
topology's insights resources come with the core branch), a generated clickstream."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from devkit.testing import LocalStack
from services.insights.lake.reference import write_geo_reference
from shared.aws import AwsClients
from tests.support.insights_lake import Lake


@pytest_asyncio.fixture(scope="session")
async def lake(stack: LocalStack, aws: AwsClients) -> AsyncIterator[Lake]:
    suffix = uuid.uuid4().hex[:8]
    bucket = f"{stack.settings.regatta_name_prefix}insights-lake-{suffix}"
    table = f"{stack.settings.regatta_name_prefix}insights-state-{suffix}"
    s3 = await aws.client("s3")
    await s3.create_bucket(Bucket=bucket)
    dynamodb = await aws.client("dynamodb")
    await dynamodb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}])
    await write_geo_reference(s3, bucket)
    yield Lake(bucket, table, aws)


@pytest.fixture(scope="session")
def lake_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("insights-lake")
