"""One recipes API and one recipes worker for the whole session, against the emulator.

Every recipes integration test talks to these two processes over HTTP with real Cognito
tokens; nothing runs in-process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import pytest
import pytest_asyncio

from devkit.cognito import DemoUser, ensure_user, sign_in
from devkit.testing import LocalStack, ServiceProcess, auth_header
from shared.aws import AwsClients

LIKERS = 20

# The shared helpers assert too; let pytest explain their failures.
pytest.register_assert_rewrite("recipes_http")


@pytest.fixture(scope="session")
def recipes_api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a recipes API process; a recipes worker keeps the search index meanwhile."""
    logs = tmp_path_factory.mktemp("recipes")
    with (
        ServiceProcess.api("services.recipes.main:app", stack.env,
                           log_path=logs / "api.log") as api,
        ServiceProcess.worker("services.recipes.worker", stack.env,
                              log_path=logs / "worker.log"),
    ):
        yield api.url


@pytest_asyncio.fixture(scope="session")
async def client(recipes_api: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the recipes API (room for the concurrency tests' parallel calls)."""
    async with httpx.AsyncClient(
        base_url=recipes_api, timeout=60, limits=httpx.Limits(max_connections=64)
    ) as http:
        yield http


@pytest.fixture(scope="session")
def headers(tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    """Authorization headers by caller: alice (author), bob (someone else), admin; anonymous."""
    return {"anonymous": {}, **{name: auth_header(token) for name, token in tokens.items()}}


@pytest.fixture(scope="session")
def subs(tokens: dict[str, str]) -> dict[str, str]:
    """Cognito ``sub`` (the author id) by username."""
    return {
        name: jwt.decode(token, options={"verify_signature": False})["sub"]
        for name, token in tokens.items()
    }


@pytest_asyncio.fixture(scope="session")
async def liker_tokens(stack: LocalStack, aws: AwsClients) -> list[str]:
    """Access tokens of LIKERS extra users, for the concurrent-likes tests."""
    idp = await aws.client("cognito-idp")
    users = [
        DemoUser(username=f"liker-{i:02d}", password=f"Regatta-liker-{i:02d}",
                 email=f"liker-{i:02d}@example.com")
        for i in range(LIKERS)
    ]
    await asyncio.gather(
        *(ensure_user(idp, stack.settings.cognito_user_pool_id, u) for u in users)
    )
    results = await asyncio.gather(
        *(sign_in(aws, stack.settings.cognito_client_id, u.username, u.password) for u in users)
    )
    return [r["AccessToken"] for r in results]
