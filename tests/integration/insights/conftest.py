"""One insights API and one insights worker for the whole session, against the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from devkit.testing import LocalStack, ServiceProcess
from tests.support.insights import BROWSER, ORIGIN


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
