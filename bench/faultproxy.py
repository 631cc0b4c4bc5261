"""A fault-injecting HTTP reverse proxy between the services and the AWS endpoint (tooling).

The chaos harness (bench/chaos.py) points every service's ``AWS_ENDPOINT_URL`` at this proxy,
which forwards each request to the emulator unless a fault is due. The harness drives it::

    proxy = FaultProxy(upstream=emulator.url, seed=7)
    await proxy.start()                    # proxy.url -> give it to the services
    proxy.rates = FaultRates(throttle=0.02, reset_before=0.01, reset_after=0.005, unavailable=0.01)
    await proxy.blackout(5.0, "refuse")    # nothing answers for 5 s (or "hang")
    proxy.counts                           # what was injected, by kind

Faults, all as a real AWS endpoint (or the network in front of it) would produce them:

- ``throttle``: the protocol's own throttling error, which botocore's standard retry mode
  recognises and retries: DynamoDB (and other JSON services) HTTP 400
  ``{"__type": "...#ThrottlingException"}``; SQS (JSON protocol, query-compatible) HTTP 400
  with ``x-amzn-query-error: RequestThrottled;Sender``; SNS, SES, STS (query/XML protocol)
  HTTP 400 ``<ErrorResponse><Error><Code>Throttling</Code>``; S3 HTTP 503 ``SlowDown``.
  The request never reaches the emulator.
- ``unavailable``: HTTP 503 with an empty body (a transient status botocore retries).
- ``reset_before``: the connection is torn down before the request is forwarded.
- ``reset_after``: the request *is* forwarded and applied, then the connection is torn down
  before the answer: the caller cannot tell whether its write happened (botocore retries it).
- blackouts: ``refuse`` stops listening (connection refused) and aborts every request that
  arrives on a kept-alive connection; ``hang`` accepts and holds every request without an
  answer until the blackout ends, then drops the connection.

The service of a request is read from its SigV4 credential scope (``.../<service>/aws4_request``);
unsigned requests (presigned URLs carry the scope in the query string) are classified the same
way, and anything else is forwarded untouched by rate faults.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import aiohttp
from aiohttp import web

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length"}
SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")
QUERY_SCOPE = re.compile(r"X-Amz-Credential=[^&]*%2F([a-z0-9-]+)%2Faws4_request", re.IGNORECASE)
JSON_SERVICES = {"dynamodb": "com.amazonaws.dynamodb.v20120810", "cognito-idp":
                 "com.amazonaws.cognitoidentityprovider"}
QUERY_SERVICES = {"sns", "ses", "sts"}


@dataclass
class FaultRates:
    """Probability per forwarded request of each fault (0 = never)."""

    throttle: float = 0.0
    unavailable: float = 0.0
    reset_before: float = 0.0
    reset_after: float = 0.0


def service_of(request: web.Request) -> str | None:
    """The AWS service a request is signed for, from its credential scope."""
    found = SCOPE.search(request.headers.get("Authorization", ""))
    if found is None:
        found = QUERY_SCOPE.search(request.query_string)
    return found.group(1) if found else None


def throttling_response(service: str | None) -> web.Response:
    """The throttling error ``service`` answers with, as botocore parses it."""
    request_id = str(uuid.uuid4())
    message = "Rate exceeded (injected by the fault proxy)"
    if service == "sqs":
        return web.Response(
            status=400, content_type="application/x-amz-json-1.0",
            headers={"x-amzn-query-error": "RequestThrottled;Sender",
                     "x-amzn-RequestId": request_id},
            text=f'{{"__type": "com.amazonaws.sqs#ThrottlingException", "message": "{message}"}}')
    if service in QUERY_SERVICES:
        return web.Response(
            status=400, content_type="text/xml",
            text=("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                  f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                  "</ErrorResponse>"))
    if service == "s3":
        return web.Response(
            status=503, content_type="application/xml",
            text=(f"<Error><Code>SlowDown</Code><Message>{message}</Message>"
                  f"<RequestId>{request_id}</RequestId></Error>"))
    prefix = JSON_SERVICES.get(service or "", "com.amazonaws")
    return web.Response(
        status=400, content_type="application/x-amz-json-1.0",
        headers={"x-amzn-RequestId": request_id},
        text=f'{{"__type": "{prefix}#ThrottlingException", "message": "{message}"}}')


class FaultProxy:
    """The proxy: an aiohttp server forwarding to ``upstream`` through one client session."""

    def __init__(self, upstream: str, *, seed: int = 0, port: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.rng = random.Random(seed)
        self.rates = FaultRates()
        self.counts: Counter[str] = Counter()
        self.by_service: Counter[str] = Counter()
        self.blackouts: list[tuple[str, float]] = []
        self._port = port
        self._blackout_until = 0.0
        self._blackout_mode = ""
        self._blackout_over = asyncio.Event()
        self._blackout_over.set()
        self._server: asyncio.AbstractServer | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> FaultProxy:
        # A dropped connection is the point, not news: aiohttp would log each one.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256), auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=90))
        if not self._port:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self._port = int(sock.getsockname()[1])
        await self._listen()
        return self

    async def _listen(self) -> None:
        assert self._runner is not None and self._runner.server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._runner.server, "127.0.0.1", self._port,
                                                reuse_address=True, backlog=512)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def blackout(self, seconds: float, mode: str = "refuse") -> None:
        """Make the endpoint unreachable for ``seconds`` (``refuse`` or ``hang``)."""
        assert mode in ("refuse", "hang")
        self.blackouts.append((mode, seconds))
        self.counts[f"blackout_{mode}"] += 1
        self._blackout_mode = mode
        self._blackout_until = time.monotonic() + seconds
        self._blackout_over.clear()
        if mode == "refuse" and self._server is not None:
            self._server.close()
            self._server = None
        try:
            await asyncio.sleep(seconds)
        finally:
            self._blackout_until = 0.0
            if self._server is None:
                await self._listen()
            self._blackout_over.set()

    def _draw(self) -> str | None:
        rates, roll = self.rates, self.rng.random()
        for kind in ("throttle", "unavailable", "reset_before", "reset_after"):
            chance = getattr(rates, kind)
            if roll < chance:
                return kind
            roll -= chance
        return None

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("dropped by the fault proxy")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        service = service_of(request)
        body = await request.read()
        if self._blackout_until > time.monotonic():
            self.counts[f"blackout_{self._blackout_mode}_requests"] += 1
            if self._blackout_mode == "hang":
                await self._blackout_over.wait()
            return self._drop(request)
        fault = self._draw() if service else None
        if fault:
            self.counts[fault] += 1
            self.by_service[f"{service}.{fault}"] += 1
        if fault == "throttle":
            return throttling_response(service)
        if fault == "unavailable":
            return web.Response(status=503, text="")
        if fault == "reset_before":
            return self._drop(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        assert self._session is not None
        try:
            async with self._session.request(
                    request.method, f"{self.upstream}{request.rel_url}", headers=headers,
                    data=body if body else None, allow_redirects=False,
                    skip_auto_headers=("Content-Type", "User-Agent", "Accept-Encoding",
                                       "Accept")) as upstream:
                payload = await upstream.read()
                status, upstream_headers = upstream.status, upstream.headers
        except (aiohttp.ClientError, OSError):
            self.counts["upstream_errors"] += 1
            return self._drop(request)
        if fault == "reset_after":
            return self._drop(request)
        response = web.Response(status=status, body=payload)
        for name, value in upstream_headers.items():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-type":
                response.headers.add(name, value)
        if "Content-Type" in upstream_headers:
            response.headers["Content-Type"] = upstream_headers["Content-Type"]
        return response
