"""The local gateway: one origin for the web app and every API, standing in for CloudFront + ALB.

In AWS one CloudFront distribution serves the web app from its S3 bucket and forwards the API
path patterns (``/recipes*``, ``/meetings*``, ...) to the ALB, which routes each prefix to its
service (infra/terraform/modules/edge and modules/alb). Locally this small ASGI app plays both
parts on ``http://127.0.0.1:$GATEWAY_PORT`` (8000)::

    uvicorn devkit.gateway:app --port 8000

* ``/<prefix>*`` of every service in ``infra/services.yaml`` (the list the ALB's rules come
  from) is proxied, streaming both ways, to ``http://127.0.0.1:$<SERVICE>_PORT`` (the ports
  ``regatta up`` uses: RECIPES_PORT, MEETINGS_PORT, ...). An unreachable service answers 503
  problem+json with ``Retry-After``, as the platform's APIs do.
* ``/auth/cognito`` forwards the browser's Cognito calls (the AWS JSON protocol, unchanged) to
  the emulator: ``InitiateAuth`` (USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH) and ``GlobalSignOut``
  only. In AWS the web app sends the very same requests to Cognito's public endpoint directly;
  ``/config.json`` tells it where (here this route, there the file Terraform writes).
* ``/_emulator/s3/...`` relays the browser's presigned S3 uploads (PUT, and POST/DELETE to
  complete or abort a multipart upload) to the emulator, from the app's own origin. Only
  locally: moto checks the presigned signature on the CORS preflight (``OPTIONS``), which S3
  does not, so a cross-origin PUT to the emulator can never pass. ``/config.json`` tells the
  web app to rewrite the emulator's upload URLs to this route; in AWS it PUTs to S3 directly.
* Everything else is the built web app (``web/dist``): files as they are, any other path the
  single page (``index.html``), so a reload never 404s.

The gateway holds no state and no credentials: it only relays what the browser sends.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from devkit.catalog import GATEWAY_PORT, LOCAL_HOST, ROOT, SERVICES_FILE, load_services
from shared.http import RETRY_AFTER_SECONDS, problem
from shared.logging import configure_logging, get_logger
from shared.settings import PlatformSettings

log = get_logger("devkit.gateway")
# Cognito operations the web app may make; nothing else reaches the emulator through here.
COGNITO_TARGETS = {
    "AWSCognitoIdentityProviderService.InitiateAuth",
    "AWSCognitoIdentityProviderService.GlobalSignOut",
}
COGNITO_MAX_BODY = 16 * 1024
UPLOAD_ROUTE = "/_emulator/s3/"
UPLOAD_METHODS = {"PUT", "POST", "DELETE"}
# Query parameters that make a URL presigned (SigV2 and SigV4).
PRESIGNED = ("Signature", "X-Amz-Signature")
# Hop-by-hop headers (RFC 9110 7.6.1) never cross a proxy.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "host"}
# What CloudFront's response headers policy adds to the web app's files in AWS.
WEB_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}


def content_security_policy(upload_origins: list[str]) -> str:
    """The web app's CSP: its own origin only, plus where browsers PUT uploads (S3 in AWS;
    locally they go through this origin). hls.js runs its demuxer in a blob: worker and plays
    through MediaSource blob: URLs. Terraform's response headers policy sets the same in AWS."""
    connect = " ".join(["'self'", *upload_origins])
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data: blob:; media-src 'self' blob:; "
            f"connect-src {connect}; worker-src 'self' blob:; object-src 'none'; "
            "base-uri 'self'; frame-ancestors 'none'; form-action 'self'")


class GatewaySettings(PlatformSettings):
    """Environment of the gateway; the service ports are those ``regatta up`` exports."""

    gateway_port: int = GATEWAY_PORT
    gateway_web_dist: Path = Field(default=ROOT / "web" / "dist")
    # Per-request budget towards a service (a candle query over a month can take a while).
    gateway_upstream_timeout: float = 120.0


@dataclass(frozen=True)
class Upstream:
    """One service as the ALB sees it: its path prefix and where it listens locally."""

    name: str
    prefix: str
    url: str

    def serves(self, path: str) -> bool:
        """The ALB's ``<prefix>*`` path pattern."""
        return path.startswith(self.prefix)


def load_upstreams(env: dict[str, str] | None = None,
                   services_file: Path = SERVICES_FILE) -> list[Upstream]:
    """Every service of infra/services.yaml at ``127.0.0.1:$<NAME>_PORT`` (default: its
    declared container port, which is also its local default)."""
    env = dict(os.environ) if env is None else env
    upstreams = [Upstream(name, service.prefix, f"http://{LOCAL_HOST}:{service.local_port(env)}")
                 for name, service in load_services(services_file).items()]
    # Longest prefix first, so a prefix that extends another one still wins.
    return sorted(upstreams, key=lambda u: len(u.prefix), reverse=True)


def _unavailable(detail: str) -> JSONResponse:
    return problem(503, "Service Unavailable", detail,
                   headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _forward_headers(request: Request) -> dict[str, str]:
    """The headers the service receives, as the ALB sends them: the caller's (``traceparent``
    among them) without hop-by-hop ones, the X-Forwarded-* trio, and the ALB's
    ``X-Amzn-Trace-Id`` (a new ``Root`` unless the caller sent one)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    client = request.client.host if request.client else ""
    prior = request.headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{prior}, {client}" if prior else client
    headers["x-forwarded-proto"] = request.url.scheme
    headers["x-forwarded-host"] = request.headers.get("host", "")
    if "x-amzn-trace-id" not in headers:
        headers["x-amzn-trace-id"] = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return headers


def _raw_path(request: Request) -> str:
    """The path as the client encoded it (some ASGI servers append the query: dropped)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    return raw.decode("latin-1").split("?", 1)[0]


def _has_body(request: Request) -> bool:
    return "content-length" in request.headers or "transfer-encoding" in request.headers


class Gateway:
    """The ASGI app's behaviour; ``build_app`` wires it into Starlette."""

    def __init__(self, settings: GatewaySettings, upstreams: list[Upstream],
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.upstreams = upstreams
        self.dist = settings.gateway_web_dist.resolve()
        self.cognito_url = settings.aws_endpoint_url or (
            f"https://cognito-idp.{settings.aws_region}.amazonaws.com/")
        # Uploads reach the emulator through this origin (see upload()), so 'self' is enough.
        self.headers = {**WEB_HEADERS, "Content-Security-Policy": content_security_policy([])}
        self.http = httpx.AsyncClient(
            transport=transport, follow_redirects=False,
            timeout=httpx.Timeout(settings.gateway_upstream_timeout, connect=5.0))

    async def close(self) -> None:
        await self.http.aclose()

    async def dispatch(self, request: Request) -> Response:
        """Every request: an API prefix, the Cognito route, the config, or the web app."""
        path = request.url.path
        for upstream in self.upstreams:
            if upstream.serves(path):
                return await self.proxy(request, upstream)
        if path == "/auth/cognito":
            return await self.cognito(request)
        if path.startswith(UPLOAD_ROUTE):
            return await self.upload(request)
        if path == "/config.json":
            return self.config()
        if path == "/healthz":
            return JSONResponse({"status": "ok"})
        if path == "/readyz":
            if not (self.dist / "index.html").is_file():
                return _unavailable(f"the web app is not built ({self.dist} has no index.html)")
            return JSONResponse({"status": "ready"})
        return self.web(path)

    async def proxy(self, request: Request, upstream: Upstream,
                    path: str | None = None) -> Response:
        """Relay the request to the service and stream its answer back unchanged."""
        # The raw path, so percent-encoded keys (media outputs) reach the service unchanged.
        if path is None:
            path = _raw_path(request)
        query = request.url.query
        url = upstream.url + path + (f"?{query}" if query else "")
        outgoing = self.http.build_request(
            request.method, url, headers=_forward_headers(request),
            content=request.stream() if _has_body(request) else None)
        try:
            answer = await self.http.send(outgoing, stream=True)
        except httpx.TransportError as exc:
            log.warning("gateway.upstream_unreachable", service=upstream.name, error=str(exc))
            return _unavailable(f"the {upstream.name} service is not reachable right now")
        headers = {k: v for k, v in answer.headers.multi_items()
                   if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(answer.aiter_raw(), status_code=answer.status_code,
                                 headers=headers, background=BackgroundTask(answer.aclose))

    async def upload(self, request: Request) -> Response:
        """Relay a presigned upload request to the emulator's S3 (local stacks only)."""
        endpoint = self.settings.aws_endpoint_url
        if not endpoint:
            return problem(404, "Not Found", "uploads go to S3 directly outside the local stack")
        if request.method not in UPLOAD_METHODS:
            return problem(405, "Method Not Allowed", "only presigned uploads are relayed")
        if not any(key in request.query_params for key in PRESIGNED):
            return problem(403, "Forbidden", "only presigned S3 URLs are relayed")
        target = _raw_path(request).removeprefix(UPLOAD_ROUTE.rstrip("/"))
        upstream = Upstream("s3", UPLOAD_ROUTE, endpoint.rstrip("/"))
        return await self.proxy(request, upstream, path=target)

    async def cognito(self, request: Request) -> Response:
        """Forward one allowed Cognito call (JSON protocol) to the emulator or Cognito."""
        if request.method != "POST":
            return problem(405, "Method Not Allowed", "POST a Cognito JSON request")
        target = request.headers.get("x-amz-target", "")
        if target not in COGNITO_TARGETS:
            return problem(403, "Forbidden", f"{target or 'no X-Amz-Target'} is not forwarded")
        body = await request.body()
        if len(body) > COGNITO_MAX_BODY:
            return problem(413, "Content Too Large", "a sign-in request is a few hundred bytes")
        try:
            answer = await self.http.post(self.cognito_url, content=body, headers={
                "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
        except httpx.TransportError as exc:
            log.warning("gateway.cognito_unreachable", error=str(exc))
            return _unavailable("Cognito is not reachable right now")
        return Response(answer.content, status_code=answer.status_code,
                        media_type=answer.headers.get("content-type", "application/json"),
                        headers={"Cache-Control": "no-store"})

    def config(self) -> Response:
        """What the web app needs to know about this deployment (Terraform writes the AWS one)."""
        document: dict[str, Any] = {
            "cognito": {"endpoint": "/auth/cognito", "clientId": self.settings.cognito_client_id,
                        "region": self.settings.aws_region},
            "environment": "local",
        }
        if self.settings.aws_endpoint_url:
            document["uploads"] = {"rewrite": {
                "from": self.settings.aws_endpoint_url.rstrip("/") + "/", "to": UPLOAD_ROUTE}}
        return Response(json.dumps(document), media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    def web(self, path: str) -> Response:
        """A file of the built web app, or its single page for any other path."""
        index = self.dist / "index.html"
        if not index.is_file():
            return Response(
                "The web app is not built. Run: cd web && npm ci && npm run build\n",
                status_code=503, media_type="text/plain", headers={"Retry-After": "5"})
        candidate = (self.dist / path.lstrip("/")).resolve()
        inside = candidate.is_relative_to(self.dist)
        if inside and candidate.is_file() and candidate != index:
            # Vite puts content-hashed files under assets/: they never change.
            cache = ("public, max-age=31536000, immutable" if path.startswith("/assets/")
                     else "no-cache")
            return FileResponse(candidate, headers={**self.headers, "Cache-Control": cache})
        if Path(path).suffix and path != "/index.html":
            return problem(404, "Not Found", f"no file {path}")
        return FileResponse(index, headers={**self.headers, "Cache-Control": "no-cache"})


def build_app(settings: GatewaySettings | None = None,
              upstreams: list[Upstream] | None = None,
              transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The gateway as an ASGI app (``transport`` lets tests swap the network)."""
    settings = settings or GatewaySettings.load()
    configure_logging(settings.log_level, settings.log_format, service="gateway")
    gateway = Gateway(settings, upstreams if upstreams is not None else load_upstreams(),
                      transport)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        log.info("gateway.ready", web=str(gateway.dist),
                 routes={u.prefix: u.url for u in gateway.upstreams})
        yield
        await gateway.close()

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(routes=[Route("/{path:path}", gateway.dispatch, methods=methods)],
                    lifespan=lifespan)
    app.state.gateway = gateway
    return app


def __getattr__(name: str) -> Any:
    # `uvicorn devkit.gateway:app` builds the app on first access, so importing this module
    # (tests, tools) reads no settings.
    if name == "app":
        return build_app()
    raise AttributeError(name)
