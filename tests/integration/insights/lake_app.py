"""An API process serving the lake's routes alone
(``uvicorn tests.integration.insights.lake_app:app``), over a bucket the test names
(``LAKE_TEST_BUCKET``): the service's own main.py comes with the core branch; these tests
need only the lake's router and reader."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from services.insights.lake.cache import LakeCache
from services.insights.lake.reader import LakeReader
from services.insights.reports_api import router
from services.insights.settings import InsightsSettings
from shared.aws import AwsClients
from shared.http import ServiceSpec, create_app
from shared.topology import Resources

settings = InsightsSettings.load()


@dataclass(frozen=True)
class LakeOnly:
    lake: LakeReader


async def build(aws: AwsClients, resources: Resources) -> LakeOnly:
    return LakeOnly(LakeReader(await aws.client("s3"), os.environ["LAKE_TEST_BUCKET"],
                               LakeCache(Path(settings.insights_lake_cache_dir)), settings))


async def ready(app: FastAPI) -> None:
    return None


app = create_app(ServiceSpec(name="insights", prefix="/insights", routers=[router],
                             container=build, ready_check=ready, clients=("s3",)),
                 settings)
