"""Anonymous chat is rate-limited per client address, as the API runs behind the load balancer.

Each test starts its own meetings API with the limits on (the suite's other APIs run with
RATE_LIMITS_ENABLED=false) and a small burst, and sends real requests over HTTP. The client
address is what uvicorn makes of the connection and X-Forwarded-For, trusting only the proxies
in FORWARDED_ALLOW_IPS, as in ECS.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devkit.testing import LocalStack, ServiceProcess
from shared.http import PROBLEM_JSON

BURST = 5


def limited_api(stack: LocalStack, log_dir, *, forwarded_allow_ips: str) -> ServiceProcess:
    env = {**stack.env, "RATE_LIMITS_ENABLED": "true",
           "RATE_LIMIT_ANONYMOUS_BURST": str(BURST),
           # One token a minute: none comes back while a test runs.
           "RATE_LIMIT_ANONYMOUS_PER_MINUTE": "1",
           "FORWARDED_ALLOW_IPS": forwarded_allow_ips}
    return ServiceProcess.api("services.meetings.main:app", env, log_path=log_dir / "api.log")


@pytest.fixture
def behind_a_trusted_proxy(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
                           ) -> Iterator[str]:
    """An API that believes X-Forwarded-For from 127.0.0.1 (where the test client is), as the
    API tasks believe the ALB."""
    with limited_api(stack, tmp_path_factory.mktemp("limits-proxy"),
                     forwarded_allow_ips="127.0.0.1") as api:
        yield api.url


@pytest.fixture
def reached_directly(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[str]:
    """An API that trusts no proxy at 127.0.0.1: a caller there is just a client."""
    with limited_api(stack, tmp_path_factory.mktemp("limits-direct"),
                     forwarded_allow_ips="192.0.2.1") as api:
        yield api.url


async def chat(http: httpx.AsyncClient, client_ip: str, **extra_headers: str) -> httpx.Response:
    # As the ALB forwards it: the viewer's address, then the hop in front (CloudFront's VPC
    # origin, inside the VPC), both appended by the proxies.
    return await http.post("/meetings/chat", json={"text": "Hi Meety"},
                           headers={"X-Forwarded-For": f"{client_ip}, 127.0.0.1",
                                    **extra_headers})


async def test_the_request_after_the_burst_is_429_and_other_clients_go_on(
    behind_a_trusted_proxy: str, tokens: dict[str, str]
) -> None:
    """BURST chats from one client pass, the next is 429 problem+json with Retry-After; a
    second client is unaffected; a bearer token does not lift the anonymous limit."""
    async with httpx.AsyncClient(base_url=behind_a_trusted_proxy, timeout=60) as http:
        passed = [await chat(http, "203.0.113.10") for _ in range(BURST)]
        assert [r.status_code for r in passed] == [200] * BURST, passed[-1].text

        refused = await chat(http, "203.0.113.10")
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == PROBLEM_JSON
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 60  # a token a minute
        body = refused.json()
        assert (body["status"], body["title"], body["retry_after"]) == (
            429, "Too Many Requests", retry_after)
        assert refused.headers["x-request-id"]

        other = await chat(http, "198.51.100.20")
        assert other.status_code == 200, other.text
        assert other.json()["session_id"]

        with_token = await chat(http, "203.0.113.10",
                                Authorization=f"Bearer {tokens['alice']}")
        assert with_token.status_code == 429


async def test_a_client_cannot_choose_its_address_when_no_proxy_is_trusted(
    reached_directly: str,
) -> None:
    """X-Forwarded-For from an address outside FORWARDED_ALLOW_IPS is ignored: changing it
    on every request does not get past the limit of the connection's own address."""
    async with httpx.AsyncClient(base_url=reached_directly, timeout=60) as http:
        statuses = [(await chat(http, f"203.0.113.{n}")).status_code for n in range(BURST + 1)]

    assert statuses == [200] * BURST + [429]
