"""An API process serving the lake's routes (``uvicorn tests.integration.insights.lake_app:app``)
with the service's own container, whose reader reads a bucket the test names
(``LAKE_TEST_BUCKET``) instead of the provisioned lake the collector tests write to."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from fastapi import FastAPI

from services.insights.api import reports_router as router
from services.insights.container import InsightsContainer, build_container
from services.insights.lake.cache import LakeCache
from services.insights.lake.reader import LakeReader
from services.insights.settings import InsightsSettings
from shared.aws import AwsClients
from shared.http import ServiceSpec, create_app
from shared.topology import Resources

settings = InsightsSettings.load()


async def build(aws: AwsClients, resources: Resources) -> InsightsContainer:
    return replace(await build_container(aws, resources), lake=LakeReader(
        await aws.client("s3"), os.environ["LAKE_TEST_BUCKET"],
        LakeCache(Path(settings.insights_lake_cache_dir)), settings))


async def ready(app: FastAPI) -> None:
    return None


app = create_app(ServiceSpec(name="insights", prefix="/insights", routers=[router],
                             container=build, ready_check=ready, clients=("s3", "dynamodb")),
                 settings)
