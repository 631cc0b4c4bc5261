"""FastAPI app factory: health routes, problem+json errors, request logs, body limits.

Every service builds its app the same way::

    app = create_app(ServiceSpec(name="recipes", prefix="/recipes", ...), settings)
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from shared.auth import JwksCache, TokenVerifier
from shared.aws import CALL_ERRORS, UNREACHABLE_ERRORS, AwsClients, Service
from shared.dynamo import cancellation_reasons
from shared.errors import (
    AuthError,
    AwsUnavailableError,
    ForbiddenError,
    ProblemError,
    PublishError,
)
from shared.idempotency_keys import RequestKeys
from shared.logging import configure_logging, get_logger, uses_json
from shared.ratelimit import RateLimits
from shared.settings import PlatformSettings
from shared.telemetry import (
    instrument_app,
    record_request,
    served,
    serving,
    shutdown_telemetry,
)
from shared.topology import Resources

log = get_logger("shared.http")

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5
# A caller's X-Request-Id becomes the correlation id of every event the request publishes and
# of every log line it writes, so only a short, plain token is kept as it is.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# AWS answers that mean "try again later" rather than "you asked for something wrong".
# SQS, SNS and STS say "Throttling", DynamoDB "ThrottlingException", S3 "SlowDown" (botocore's
# standard retry mode lists the same throttling codes).
RETRYABLE_AWS_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "ServiceUnavailable",
    "InternalServerError",
    "InternalFailure",
}

# Why a transaction was cancelled, when trying again later may succeed.
TRANSIENT_CANCELLATION_CODES = {"ThrottlingError", "TransactionConflict",
                                "ProvisionedThroughputExceeded", "RequestLimitExceeded"}


def aws_error_is_transient(exc: ClientError) -> bool:
    """Whether an AWS error means "try again later" (503) rather than a bug (500).

    Throttling and busy codes, any 5xx from AWS, and a transaction cancelled only by
    throttling or a conflicting transaction are transient.
    """
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if code in RETRYABLE_AWS_CODES or status >= 500:
        return True
    reasons = cancellation_reasons(exc)
    if not reasons:
        return False
    return all(r is None or r in TRANSIENT_CANCELLATION_CODES for r in reasons) and any(reasons)


BuildContainer = Callable[[AwsClients, Resources], Awaitable[object]]
"""Builds a service's container (its stores) once per process, from the kit's AWS clients."""
ReadyCheck = Callable[[FastAPI], Awaitable[None]]


def problem(status: int, title: str, detail: str | None = None, *,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _unavailable(detail: str) -> JSONResponse:
    return problem(503, "Service Unavailable", detail,
                   headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            # Drop FastAPI's "body"/"query" root so the pointer names the field itself.
            "field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
            "in": str(err["loc"][0]) if err["loc"] else "body",
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors()
    ]


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error as application/problem+json; no stack trace ever leaves."""

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra)

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        return problem(401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(ForbiddenError)
    async def _forbidden(_: Request, exc: ForbiddenError) -> JSONResponse:
        return problem(403, "Forbidden", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(400, "Bad Request", "request body is not valid JSON")
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem(422, "Unprocessable Content", f"invalid fields: {fields}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large"}.get(
            exc.status_code, "Error")
        return problem(exc.status_code, title, str(exc.detail) if exc.detail else None,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(AwsUnavailableError)
    async def _aws_down(_: Request, exc: AwsUnavailableError) -> JSONResponse:
        return _unavailable(str(exc))

    @app.exception_handler(PublishError)
    async def _publish_failed(_: Request, exc: PublishError) -> JSONResponse:
        return _unavailable(str(exc))

    @app.exception_handler(ClientError)
    async def _aws_error(_: Request, exc: ClientError) -> JSONResponse:
        code = exc.response.get("Error", {}).get("Code", "")
        if aws_error_is_transient(exc):
            log.warning("aws.unavailable", code=code)
            return _unavailable(f"AWS is busy ({code})")
        log.error("aws.error", code=code, exc_info=exc)
        return problem(500, "Internal Server Error", "an unexpected error occurred")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Starlette answers these from its outermost middleware, outside RequestContextMiddleware,
        # so the request id bound there is added here.
        if isinstance(exc, UNREACHABLE_ERRORS):
            response = _unavailable("a backing AWS service cannot be reached")
        else:
            log.error("request.failed", exc_info=exc)
            response = problem(500, "Internal Server Error", "an unexpected error occurred")
        if request_id := get_contextvars().get("request_id"):
            response.headers["x-request-id"] = request_id
        return response


def request_id_of(header: bytes | None) -> str:
    """The request id to use for a caller's ``X-Request-Id`` header value: the value itself
    when it is 1..64 characters of ``A-Z a-z 0-9 . _ -``, otherwise a fresh id (a replaced
    value is logged, escaped and cut short)."""
    if header is None:
        return uuid.uuid4().hex
    received = header.decode("latin-1")
    if REQUEST_ID.fullmatch(received):
        return received
    request_id = uuid.uuid4().hex
    log.warning("request.id_replaced", received=repr(received[:80]), length=len(received),
                request_id=request_id)
    return request_id


class RequestContextMiddleware:
    """Binds a request id into the log context, logs one line per request, caps body size."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        clear_contextvars()
        request_id = request_id_of(headers.get(b"x-request-id"))
        bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send, request_id)
            record_request(scope, 413, time.perf_counter() - started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # FastAPI re-raises its own HTTPException from body parsing.
                    raise HTTPException(413, "request body is too large")
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        with serving(scope, headers) as span:
            try:
                await self.app(scope, limited_receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                served(span, scope, status)
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                )
                record_request(scope, status, seconds)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send,
                         request_id: str) -> None:
        response = problem(413, "Content Too Large",
                           f"request body exceeds {self.max_body_bytes} bytes",
                           headers={"x-request-id": request_id})
        await response(scope, receive, send)
        log.info("request", method=scope["method"], path=scope["path"], status=413)


@dataclass(frozen=True)
class ServiceSpec:
    """What makes one service's app: its name, URL prefix, routers and start-up hook."""

    name: str
    prefix: str
    routers: Sequence[APIRouter]
    # Built at start-up into ``app.state.container``; routes reach it through `from_container`.
    container: BuildContainer
    ready_check: ReadyCheck
    clients: tuple[Service, ...] = ("dynamodb", "sns")
    description: str = ""
    version: str = "1.0.0"
    max_body_bytes: int = 64 * 1024
    tags: list[dict[str, Any]] = field(default_factory=list)
    # Where Idempotency-Key records live (shared.idempotency_keys), for routes that take one.
    idempotency_table: str | None = None


T = TypeVar("T")
C = TypeVar("C")
S = TypeVar("S", bound=PlatformSettings)

Responses = dict[int | str, dict[str, Any]]
"""A route's documented answers beside its own (``responses=`` of a FastAPI route)."""


def state_of(request: Request, kind: type[T], name: str) -> T:
    """``app.state.<name>``, set by the kit, as the ``kind`` it must be (TypeError if it is
    not): the typed way for a dependency to reach it (`from_container`, `settings_of`)."""
    value = getattr(request.app.state, name)
    if not isinstance(value, kind):
        raise TypeError(f"app.state.{name} is a {type(value).__name__}, not a {kind.__name__}")
    return value


def from_container(kind: type[C], part: Callable[[C], T]) -> Callable[[Request], Awaitable[T]]:
    """A FastAPI dependency giving one part of the service's container, checked by mypy
    (``part`` takes the ``kind`` that `ServiceSpec.container` built, and its result is what
    the route receives)::

        Store = Annotated[RecipeStore, Depends(from_container(RecipesContainer,
                                                              lambda c: c.store))]
    """

    async def dependency(request: Request) -> T:  # async: FastAPI runs a plain def in a thread
        return part(state_of(request, kind, "container"))

    return dependency


def settings_of(kind: type[S]) -> Callable[[Request], Awaitable[S]]:
    """A FastAPI dependency giving the app's settings as the service's own class::

        Settings = Annotated[RecipesSettings, Depends(settings_of(RecipesSettings))]
    """

    async def dependency(request: Request) -> S:
        return state_of(request, kind, "settings")

    return dependency


def table_ready(logical_table: str) -> ReadyCheck:
    """A readiness check: the service's table answers DescribeTable."""

    async def check(app: FastAPI) -> None:
        dynamodb = await app.state.aws.client("dynamodb")
        await dynamodb.describe_table(TableName=app.state.resources.table(logical_table))

    return check


async def wait_for_aws(aws: AwsClients, timeout: float = 60.0) -> Resources:
    """Resolve resources, retrying while AWS (or the emulator) is not reachable yet."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.5),
        retry=retry_if_exception_type(UNREACHABLE_ERRORS),
        reraise=True,
    ):
        with attempt:
            return await Resources.discover(aws)
    raise AwsUnavailableError("AWS did not become reachable")  # pragma: no cover


def create_app(spec: ServiceSpec, settings: PlatformSettings) -> FastAPI:
    """A FastAPI app serving ``spec.prefix`` with the platform's conventions."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_format, service=spec.name)
        async with AwsClients(settings) as aws:
            await aws.open(*spec.clients)
            app.state.aws = aws
            app.state.resources = await wait_for_aws(aws)
            app.state.verifier = TokenVerifier(
                issuer=settings.cognito_issuer,
                client_id=settings.cognito_client_id,
                machine_client_ids=settings.cognito_machine_client_ids,
                jwks=JwksCache(settings.cognito_jwks_url, ttl=settings.cognito_jwks_ttl_seconds,
                               min_refresh_interval=settings.cognito_jwks_min_refresh_seconds),
            )
            if spec.idempotency_table:
                app.state.request_keys = RequestKeys(
                    await aws.client("dynamodb"), app.state.resources.table(spec.idempotency_table),
                    keep_seconds=settings.request_keys_keep_seconds,
                    in_progress_seconds=settings.request_keys_in_progress_seconds)
            app.state.container = await spec.container(aws, app.state.resources)
            log.info("service.started", prefix=spec.prefix)
            yield
        # uvicorn raises SIGTERM again once the app has stopped, so the process dies of it
        # and no atexit hook runs: the last metrics window and queued spans are written here.
        shutdown_telemetry()

    # Now, not only at startup: uvicorn logs before the lifespan starts (shared.logging).
    configure_logging(settings.log_level, settings.log_format, service=spec.name)
    app = FastAPI(
        title=f"Regatta {spec.name}",
        description=spec.description,
        version=spec.version,
        lifespan=lifespan,
        docs_url=f"{spec.prefix}/docs",
        redoc_url=None,
        openapi_url=f"{spec.prefix}/openapi.json",
        openapi_tags=spec.tags or None,
    )
    app.state.settings = settings
    app.state.rate_limits = RateLimits.from_settings(settings)
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=spec.max_body_bytes)
    instrument_app(app, spec.name, metrics=uses_json(settings.log_format))

    @app.get("/healthz", tags=["health"], summary="Liveness (no I/O)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness: backing services reachable",
             responses={503: {"description": "A dependency is unreachable"}})
    async def readyz(request: Request) -> Any:
        try:
            await spec.ready_check(request.app)
        except CALL_ERRORS as exc:
            return _unavailable(f"not ready: {type(exc).__name__}")
        return {"status": "ready"}

    for router in spec.routers:
        app.include_router(router)
    return app
