"""The local gateway (devkit/gateway.py) on its own: routing like the ALB, the Cognito and
upload relays, config.json and the single page. No browser, no emulator: the network behind
the gateway is an httpx mock transport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from devkit.gateway import GatewaySettings, Upstream, build_app, load_upstreams

SEEN: list[httpx.Request] = []


def upstream_network(request: httpx.Request) -> httpx.Response:
    """Stand-in for the services, the emulator and Cognito: echo what arrived."""
    SEEN.append(request)
    if request.url.port == 9999:
        raise httpx.ConnectError("connection refused", request=request)
    body = json.dumps({"host": request.url.host, "port": request.url.port,
                       "path": request.url.raw_path.decode(),
                       "auth": request.headers.get("authorization"),
                       "target": request.headers.get("x-amz-target")}).encode()

    async def streamed() -> AsyncIterator[bytes]:
        yield body  # a streamed body, as a real server's

    return httpx.Response(200, content=streamed(),
                          headers={"ETag": '"abc"', "Content-Type": "application/json"})


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Regatta</title>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log('hi')")
    return tmp_path


@pytest_asyncio.fixture
async def gateway(dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    SEEN.clear()
    settings = GatewaySettings(gateway_web_dist=dist, aws_endpoint_url="http://127.0.0.1:4566",
                               cognito_client_id="client-1")
    upstreams = [Upstream("recipes", "/recipes", "http://127.0.0.1:8001"),
                 Upstream("media-jobs", "/media", "http://127.0.0.1:8005"),
                 Upstream("trend", "/trends", "http://127.0.0.1:9999")]
    app = build_app(settings, upstreams, transport=httpx.MockTransport(upstream_network))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://gateway") as client:
        yield client


def test_upstreams_come_from_services_yaml_with_port_overrides() -> None:
    """Every service of infra/services.yaml is routed; <NAME>_PORT moves it, as `regatta up`."""
    routes = {u.prefix: u.url for u in load_upstreams({"STOCK_INGEST_PORT": "18003"})}
    assert routes == {"/recipes": "http://127.0.0.1:8001", "/meetings": "http://127.0.0.1:8002",
                      "/stocks": "http://127.0.0.1:18003", "/trends": "http://127.0.0.1:8004",
                      "/media": "http://127.0.0.1:8005", "/insights": "http://127.0.0.1:8006"}


async def test_api_prefixes_are_relayed_with_path_query_and_headers(
    gateway: httpx.AsyncClient
) -> None:
    """`/recipes*` reaches the recipes port unchanged (encoded path, query, Authorization)."""
    response = await gateway.get("/recipes/a%2Fb?q=soup&limit=2",
                                 headers={"Authorization": "Bearer t"})
    assert response.status_code == 200
    assert response.json() == {"host": "127.0.0.1", "port": 8001,
                               "path": "/recipes/a%2Fb?q=soup&limit=2", "auth": "Bearer t",
                               "target": None}
    assert response.headers["etag"] == '"abc"'
    assert SEEN[-1].headers["x-forwarded-host"] == "gateway"


async def test_an_unreachable_service_is_a_503_problem(gateway: httpx.AsyncClient) -> None:
    """A service that does not answer gives 503 problem+json with Retry-After, never a 500."""
    response = await gateway.get("/trends")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"


async def test_only_sign_in_and_sign_out_reach_cognito(gateway: httpx.AsyncClient) -> None:
    """InitiateAuth and GlobalSignOut are forwarded to the emulator; any other target is 403."""
    target = "AWSCognitoIdentityProviderService.InitiateAuth"
    response = await gateway.post("/auth/cognito", content=b"{}", headers={"X-Amz-Target": target})
    assert response.status_code == 200
    assert (response.json()["port"], response.json()["target"]) == (4566, target)
    refused = await gateway.post("/auth/cognito", content=b"{}", headers={
        "X-Amz-Target": "AWSCognitoIdentityProviderService.AdminCreateUser"})
    assert refused.status_code == 403


async def test_config_names_cognito_and_the_upload_relay(gateway: httpx.AsyncClient) -> None:
    """config.json points the app at /auth/cognito and rewrites emulator upload URLs."""
    config = (await gateway.get("/config.json")).json()
    assert config["cognito"] == {"endpoint": "/auth/cognito", "clientId": "client-1",
                                 "region": "us-east-1"}
    assert config["uploads"]["rewrite"] == {"from": "http://127.0.0.1:4566/",
                                            "to": "/_emulator/s3/"}


async def test_only_presigned_uploads_are_relayed_to_s3(gateway: httpx.AsyncClient) -> None:
    """A presigned PUT reaches the emulator's S3 path; unsigned or GET requests do not."""
    ok = await gateway.put("/_emulator/s3/bucket/uploads/a%20b.mp4?Signature=x&Expires=1",
                           content=b"video")
    assert ok.status_code == 200
    assert ok.json()["path"] == "/bucket/uploads/a%20b.mp4?Signature=x&Expires=1"
    assert (await gateway.put("/_emulator/s3/bucket/key", content=b"x")).status_code == 403
    assert (await gateway.get("/_emulator/s3/bucket/key?Signature=x")).status_code == 405


async def test_the_single_page_and_its_files(gateway: httpx.AsyncClient) -> None:
    """Files as they are (hashed assets cached for good), any other path the page with a
    CSP; a missing file with an extension is a 404."""
    page = await gateway.get("/some/deep/link")
    assert page.status_code == 200 and "<title>Regatta" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    asset = await gateway.get("/assets/app-1234.js")
    assert "immutable" in asset.headers["cache-control"]
    assert (await gateway.get("/missing.png")).status_code == 404
    assert json.loads((await gateway.get("/readyz")).text) == {"status": "ready"}
