"""aiobotocore clients with one lifecycle per process, and an API call counter.

One ``AwsClients`` lives as long as the process (FastAPI lifespan or worker main)::

    async with AwsClients(settings) as aws:
        await aws.dynamodb.get_item(...)
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from aiobotocore.client import AioBaseClient
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from shared.settings import PlatformSettings
from shared.stats import percentile

if TYPE_CHECKING:  # the stubs are a dev dependency: the images hold none of them
    from types_aiobotocore_cognito_idp import CognitoIdentityProviderClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_ses import SESClient
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sts import STSClient

_STARTED = "regatta_call_started"  # where a call's start time waits in botocore's context
_KEPT_DURATIONS = 10_000

Service = Literal["dynamodb", "sqs", "sns", "s3", "sts", "ses", "cognito-idp"]
SERVICES: tuple[Service, ...] = ("dynamodb", "sqs", "sns", "s3", "sts", "ses", "cognito-idp")

# botocore errors that mean "AWS is unreachable right now", as opposed to "AWS said no".
UNREACHABLE_ERRORS: tuple[type[Exception], ...] = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ConnectionClosedError,
    ReadTimeoutError,
    OSError,  # ConnectionResetError, ConnectionRefusedError, TimeoutError...
)
# Any failed call: AWS unreachable, or AWS said no.
CALL_ERRORS: tuple[type[Exception], ...] = (*UNREACHABLE_ERRORS, ClientError)


class ApiCallCounter:
    """Counts AWS API calls by ``service.Operation`` through botocore's event hooks, and
    times them (from the request being built to the response parsed, retries included)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: dict[str, list[float]] = defaultdict(list)

    @staticmethod
    def _name(model: Any) -> str:
        return f"{model.service_model.service_name}.{model.name}"

    def _on_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        self.calls[self._name(model)] += 1
        context[_STARTED] = time.perf_counter()

    def _on_answer(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        started = context.get(_STARTED)
        if started is not None:
            durations = self.seconds[self._name(model)]
            durations.append(time.perf_counter() - started)
            del durations[:-_KEPT_DURATIONS]

    def attach(self, session: AioSession) -> None:
        """Count and time every call made by clients created from ``session`` from now on."""
        session.register("before-call", self._on_call)
        session.register("after-call", self._on_answer)

    def latency_ms(self) -> dict[str, dict[str, float]]:
        """p50 and p99 of each operation's calls, in ms (the last 10,000 of each)."""
        return {name: {"p50": round(1000 * percentile(durations, 0.5), 1),
                       "p99": round(1000 * percentile(durations, 0.99), 1)}
                for name, durations in sorted(self.seconds.items()) if durations}

    def total(self) -> int:
        """All calls counted so far."""
        return sum(self.calls.values())

    def write(self, path: str | Path) -> None:
        """Save the counts as JSON ``{"pid", "total", "calls": {"sqs.ReceiveMessage": n},
        "latency_ms": {"sqs.ReceiveMessage": {"p50": ms, "p99": ms}}}``.

        Written to a temporary file and renamed, so a reader never sees half a file.
        """
        path = Path(path)
        calls = dict(sorted(self.calls.items()))
        document = {"pid": os.getpid(), "total": self.total(), "calls": calls,
                    "latency_ms": self.latency_ms()}
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(document, indent=2) + "\n")
        partial.replace(path)


def client_config(settings: PlatformSettings, *, pool: int = 64,
                  service: str | None = None) -> AioConfig:
    """Retry and timeout policy shared by every client.

    A call gives up after ``aws_max_attempts`` tries of at most ``aws_connect_timeout`` +
    ``aws_read_timeout`` seconds each (`worst_case_call_seconds`), so an API request fails
    well inside the load balancer's 60 s origin timeout, with a 503 rather than a 504. SQS
    reads wait longer than the workers' long poll, which holds a response open by design.
    """
    read_timeout = settings.aws_read_timeout
    if service == "sqs":
        read_timeout = max(read_timeout, settings.worker_wait_time_seconds + 5)
    return AioConfig(
        region_name=settings.aws_region,
        retries={"mode": "standard", "max_attempts": settings.aws_max_attempts},
        connect_timeout=settings.aws_connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=pool,
        s3={"addressing_style": "path"},
        # botocore presigns S3 URLs with SigV2 unless told otherwise: SigV2 cannot sign a
        # Content-Length (media-jobs binds an upload's size with it) and newer regions
        # refuse it. Requests were SigV4 already.
        signature_version="s3v4" if service == "s3" else None,
    )


def worst_case_call_seconds(settings: PlatformSettings) -> float:
    """The longest one non-SQS AWS call can take, retries included.

    botocore's standard mode waits at most ``min(20, 2 ** (attempt - 1))`` seconds before
    each retry (full jitter).
    """
    attempts = settings.aws_max_attempts
    backoff = sum(min(20, 1 << retry) for retry in range(attempts - 1))
    return attempts * (settings.aws_connect_timeout + settings.aws_read_timeout) + backoff


class AwsClients:
    """Lazily created aiobotocore clients that close together.

    With ``settings.aws_call_counts_path`` set (and no ``counter`` given), every call is
    counted and the counts are written to that file when the clients close.
    """

    def __init__(
        self,
        settings: PlatformSettings,
        *,
        session: AioSession | None = None,
        counter: ApiCallCounter | None = None,
    ) -> None:
        self.settings = settings
        self.session = session or get_session()
        if counter is None and settings.aws_call_counts_path:
            counter = ApiCallCounter()
        self.counter = counter
        if counter is not None:
            counter.attach(self.session)
        self._stack = AsyncExitStack()
        self._clients: dict[Service, AioBaseClient] = {}

    async def __aenter__(self) -> AwsClients:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self._clients.clear()
        try:
            await self._stack.__aexit__(kind, error, trace)
        finally:
            if self.counter is not None and self.settings.aws_call_counts_path:
                self.counter.write(self.settings.aws_call_counts_path)

    @overload
    async def client(self, service: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    async def client(self, service: Literal["sqs"]) -> SQSClient: ...
    @overload
    async def client(self, service: Literal["sns"]) -> SNSClient: ...
    @overload
    async def client(self, service: Literal["s3"]) -> S3Client: ...
    @overload
    async def client(self, service: Literal["sts"]) -> STSClient: ...
    @overload
    async def client(self, service: Literal["ses"]) -> SESClient: ...
    @overload
    async def client(self, service: Literal["cognito-idp"]) -> CognitoIdentityProviderClient: ...
    @overload
    async def client(self, service: Service) -> AioBaseClient: ...
    async def client(self, service: Service) -> AioBaseClient:
        """The process-wide client for ``service``, created on first use (typed by the
        service's name: ``client("dynamodb")`` is a ``DynamoDBClient``)."""
        if service not in self._clients:
            creator = self.session.create_client(
                service,
                region_name=self.settings.aws_region,
                endpoint_url=self.settings.aws_endpoint_url,
                config=client_config(self.settings, service=service),
            )
            self._clients[service] = await self._stack.enter_async_context(creator)
        return self._clients[service]

    async def open(self, *services: Service) -> None:
        """Create the named clients now, so the first request does not pay for it."""
        for service in services:
            await self.client(service)

    async def account_id(self) -> str:
        """The AWS account the credentials belong to (needs no IAM permission)."""
        sts = await self.client("sts")
        identity = await sts.get_caller_identity()
        return str(identity["Account"])
