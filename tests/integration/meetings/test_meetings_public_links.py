"""Calendar links behind CloudFront: the URL a link hands out starts with the configured
public base URL (PUBLIC_BASE_URL), not with the host and scheme the request carries (the
internal ALB's, over http); and a feed key never reaches a log line.

The API runs from infra/services.yaml's container command (uvicorn's own access log off, as
in ECS), with FORWARDED_ALLOW_IPS as the task definition sets it."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import yaml

from devkit.emulator import free_port
from devkit.testing import LocalStack, ServiceProcess, auth_header, eventually

ROOT = Path(__file__).resolve().parents[3]
PUBLIC = "https://regatta.example.com"


def container_command(port: int) -> list[str]:
    """services.yaml's meetings API command, on this machine's interpreter and a free port."""
    services = yaml.safe_load((ROOT / "infra" / "services.yaml").read_text())["services"]
    command = list(services["meetings"]["api"]["command"])
    assert command[0] == "uvicorn" and "--no-access-log" in command
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    return [sys.executable, "-m", *command]


@pytest.fixture(scope="module")
def public_api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[str, Path]]:
    """A meetings API configured as Terraform configures it behind CloudFront."""
    log = tmp_path_factory.mktemp("meetings-public") / "api.log"
    port = free_port()
    env = {**stack.env, "PUBLIC_BASE_URL": f"{PUBLIC}/", "LOG_FORMAT": "json",
           "FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with ServiceProcess(container_command(port), env, port=port, log_path=log) as api:
        yield api.url, log


@pytest_asyncio.fixture(scope="module")
async def public_client(public_api: tuple[str, Path]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=public_api[0], timeout=60) as http:
        yield http


async def test_a_calendar_link_uses_the_public_base_url_and_its_key_is_never_logged(
    public_client: httpx.AsyncClient, public_api: tuple[str, Path], tokens: dict[str, str]
) -> None:
    """Called as the ALB calls it (Host: the ALB's name, X-Forwarded-Proto: http), the API
    still hands out https://<public host>/meetings/calendar.ics?key=...; that URL's path and
    query open the feed; the request log has a line for that request, by path only, and no
    line anywhere holds the key or its secret part."""
    admin = auth_header(tokens["admin"])
    behind_the_alb = {"Host": "internal-regatta-dev-123.us-east-1.elb.amazonaws.com",
                      "X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.9, 10.0.11.7"}

    created = await public_client.post("/meetings/calendar/links",
                                       headers={**admin, **behind_the_alb})

    assert created.status_code == 201, created.text
    link = created.json()
    url = httpx.URL(link["url"])
    assert link["url"].startswith(f"{PUBLIC}/meetings/calendar.ics?")
    assert url.params["key"] == link["key"]
    feed = await public_client.get(url.path, params=dict(url.params))
    assert feed.status_code == 200, feed.text
    assert feed.text.startswith("BEGIN:VCALENDAR")

    _, log = public_api

    async def feed_logged() -> list[str]:
        # The request line is written once the response has gone out: wait for it.
        lines = log.read_text().splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        served = [r for r in records if r.get("event") == "request"
                  and r.get("path") == "/meetings/calendar.ics" and r.get("status") == 200]
        assert served, "no request line for the feed: the log was not captured"
        return lines

    lines = await eventually(feed_logged, timeout=10)
    secret = link["key"].partition(".")[2]
    assert len(secret) >= 16
    for line in lines:
        assert link["key"] not in line and secret not in line, line
    # uvicorn's access log (which would print the query string) stays off.
    assert not [line for line in lines if '"GET /meetings/calendar.ics' in line]
