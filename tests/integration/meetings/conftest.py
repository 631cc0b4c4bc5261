"""One meetings API and one meetings worker for the whole session, against the emulator.

Every meetings integration test talks to these two processes over HTTP with real Cognito
tokens; mail is read back from the emulator's SES. Nothing runs in-process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from devkit.testing import LocalStack, ServiceProcess, auth_header


@pytest.fixture(scope="session")
def meetings_api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a meetings API process; a meetings worker sends the mail meanwhile."""
    logs = tmp_path_factory.mktemp("meetings")
    with (
        ServiceProcess.api("services.meetings.main:app", stack.env,
                           log_path=logs / "api.log") as api,
        # The suite books far more than 20 meetings an hour and its tests expect each
        # request's own e-mail: the cap is lifted here; test_meetings_admin_mail_cap runs
        # a capped deployment of its own.
        ServiceProcess.worker("services.meetings.worker",
                              {**stack.env, "MEETINGS_ADMIN_MAIL_CAP": "1000000"},
                              log_path=logs / "worker.log"),
    ):
        yield api.url


@pytest_asyncio.fixture(scope="session")
async def client(meetings_api: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the meetings API."""
    async with httpx.AsyncClient(
        base_url=meetings_api, timeout=60, limits=httpx.Limits(max_connections=32)
    ) as http:
        yield http


@pytest_asyncio.fixture(scope="session")
async def other_client(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory,
                       ) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second meetings API process: behind the load balancer the messages of
    one conversation may land on either task, and each remembers only what it saved."""
    logs = tmp_path_factory.mktemp("meetings-other")
    with ServiceProcess.api("services.meetings.main:app", stack.env,
                            log_path=logs / "api.log") as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
            yield http


@pytest.fixture(scope="session")
def headers(tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    """Authorization headers by caller: alice and bob (users), admin (admins); anonymous."""
    return {"anonymous": {}, **{name: auth_header(token) for name, token in tokens.items()}}
