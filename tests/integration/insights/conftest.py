"""One insights API and one insights worker for the whole session, against the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from devkit.testing import LocalStack, ServiceProcess
from services.insights.store.lake import read_jsonl_gz
from shared.aws import AwsClients

ORIGIN = "https://about.example.com"
BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Safari/537.36")


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


async def lake_objects(aws: AwsClients, stack: LocalStack, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` of the insights lake, by key."""
    s3 = await aws.client("s3")
    bucket = stack.resources.bucket("insights-lake")
    found: dict[str, bytes] = {}
    paginator = s3.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = await s3.get_object(Bucket=bucket, Key=item["Key"])
            async with body["Body"] as stream:
                found[item["Key"]] = await stream.read()
    return found


async def lake_rows(aws: AwsClients, stack: LocalStack, zone: str) -> list[dict[str, Any]]:
    objects = await lake_objects(aws, stack, f"raw/{zone}/")
    return [row for body in objects.values() for row in read_jsonl_gz(body)]
