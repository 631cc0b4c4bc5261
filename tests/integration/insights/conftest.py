"""One insights API and one insights worker for the whole session, against the emulator; and
for the lake's tests, a bucket and a state table of their own per session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from devkit.testing import LocalStack, ServiceProcess, create_table
from services.insights.lake.reference import write_geo_reference
from shared.aws import AwsClients
from tests.support.insights import BROWSER, ORIGIN
from tests.support.insights_lake import Lake


@pytest.fixture(scope="session")
def insights_env(stack: LocalStack) -> dict[str, str]:
    return {**stack.env, "INSIGHTS_CORS_ORIGINS": ORIGIN, "INSIGHTS_COMMIT_WINDOW_MS": "20"}


@pytest.fixture(scope="session")
def insights_api(insights_env: dict[str, str],
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an insights API process; an insights worker lands platform events."""
    logs = tmp_path_factory.mktemp("insights")
    with (
        ServiceProcess.api("services.insights.main:app", insights_env,
                           log_path=logs / "api.log") as api,
        ServiceProcess.worker("services.insights.worker", insights_env,
                              log_path=logs / "worker.log"),
    ):
        yield api.url


@pytest_asyncio.fixture
async def client(insights_api: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=insights_api, timeout=30, headers={"User-Agent": BROWSER},
        limits=httpx.Limits(max_connections=64),
    ) as http:
        yield http


@pytest_asyncio.fixture(scope="session")
async def lake(stack: LocalStack, aws: AwsClients) -> AsyncIterator[Lake]:
    suffix = uuid.uuid4().hex[:8]
    bucket = f"{stack.settings.regatta_name_prefix}insights-lake-{suffix}"
    table = f"{stack.settings.regatta_name_prefix}insights-state-{suffix}"
    s3 = await aws.client("s3")
    await s3.create_bucket(Bucket=bucket)
    await create_table(aws, table, "pk", "sk")
    await write_geo_reference(s3, bucket)
    yield Lake(bucket, table, aws)


@pytest.fixture(scope="session")
def lake_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("insights-lake")
