"""problem+json rendering and request context of the kit's HTTP layer, on a bare FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from fastapi import FastAPI, Query
from pydantic import BaseModel, Field
from structlog.testing import capture_logs

from shared.aws import client_config, worst_case_call_seconds
from shared.dynamo import CursorError
from shared.errors import (
    AuthError,
    AwsUnavailableError,
    ConflictError,
    ForbiddenError,
    InvalidTokenError,
    NotFoundError,
    PreconditionFailedError,
    PublishError,
)
from shared.http import PROBLEM_JSON, RequestContextMiddleware, install_problem_handlers
from shared.settings import PlatformSettings

MAX_BODY = 1024
SECRET = "s3cr3t-internal-detail"


class DishCreate(BaseModel):
    name: str = Field(min_length=1)
    servings: int = Field(ge=1)


def _client_error(code: str, status: int = 400, reasons: list[str] | None = None) -> ClientError:
    response: dict = {"Error": {"Code": code, "Message": SECRET},
                      "ResponseMetadata": {"HTTPStatusCode": status}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, "PutItem")


RAISERS: dict[str, Exception] = {
    "not-found": NotFoundError("dish 42 does not exist"),
    "conflict": ConflictError("dish 42 already exists", current_version=3),
    "precondition": PreconditionFailedError("dish 42 changed since version 3"),
    "auth": AuthError("this route needs a bearer token"),
    "invalid-token": InvalidTokenError("token has expired"),
    "forbidden": ForbiddenError("this route is for admins"),
    "cursor": CursorError("cursor is not valid"),
    "aws-down": AwsUnavailableError(f"cannot fetch JWKS: {SECRET}"),
    "endpoint": EndpointConnectionError(endpoint_url=f"http://{SECRET}:4566"),
    "throttled": _client_error("Throttling"),
    "dynamo-throttled": _client_error("ProvisionedThroughputExceededException"),
    "aws-validation": _client_error("ValidationException"),
    "aws-5xx": _client_error("SomethingNew", status=502),
    "read-timeout": ReadTimeoutError(endpoint_url=f"http://{SECRET}:4566"),
    "connection-reset": ConnectionResetError(104, "Connection reset by peer"),
    "connection-closed": ConnectionClosedError(endpoint_url=f"http://{SECRET}:4566"),
    "publish": PublishError(f"SNS rejected 2 events: {SECRET}"),
    "partial-batch": AwsUnavailableError("DynamoDB left 3 batch writes unprocessed"),
    "transaction-throttled": _client_error("TransactionCanceledException",
                                           reasons=["None", "ThrottlingError"]),
    "transaction-conflict": _client_error("TransactionCanceledException",
                                          reasons=["TransactionConflict", "None"]),
    "transaction-condition": _client_error("TransactionCanceledException",
                                           reasons=["ConditionalCheckFailed", "None"]),
    "bug": RuntimeError(SECRET),
}


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=MAX_BODY)

    @app.get("/raise/{kind}")
    async def raise_(kind: str) -> None:
        raise RAISERS[kind]

    @app.post("/dishes", status_code=201)
    async def create_dish(dish: DishCreate) -> DishCreate:
        return dish

    @app.get("/dishes")
    async def list_dishes(limit: int = Query(20, ge=1, le=100)) -> dict[str, int]:
        return {"limit": limit}

    return app


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    """Keep the server-side error logs (rendered tracebacks are slow) out of the test output."""
    with capture_logs():
        yield


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: a server logs what escapes the app; the client gets the reply.
    transport = httpx.ASGITransport(build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def assert_problem(response: httpx.Response, status: int, title: str) -> dict:
    """Common shape of every error body: RFC 9457 keys, no traceback, request id echoed."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert body["title"] == title
    assert body["type"] == "about:blank"
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    assert response.headers.get("x-request-id"), "request id must be echoed on errors too"
    return body


@pytest.mark.parametrize(
    ("kind", "status", "title"),
    [
        ("not-found", 404, "Not Found"),
        ("conflict", 409, "Conflict"),
        ("precondition", 412, "Precondition Failed"),
        ("forbidden", 403, "Forbidden"),
        ("cursor", 400, "Bad Request"),
    ],
)
async def test_domain_errors_become_problems(
    client: httpx.AsyncClient, kind: str, status: int, title: str
) -> None:
    """Each kit error a route raises maps to its status, with the error's message as detail."""
    response = await client.get(f"/raise/{kind}")

    body = assert_problem(response, status, title)
    assert body["detail"] == str(RAISERS[kind])


async def test_problem_extra_members_are_rendered(client: httpx.AsyncClient) -> None:
    """Extension members passed to a ProblemError appear in the body."""
    body = assert_problem(await client.get("/raise/conflict"), 409, "Conflict")

    assert body["current_version"] == 3


@pytest.mark.parametrize("kind", ["auth", "invalid-token"])
async def test_auth_errors_are_401_with_www_authenticate(
    client: httpx.AsyncClient, kind: str
) -> None:
    """Missing or bad credentials give 401 with a Bearer challenge."""
    response = await client.get(f"/raise/{kind}")

    assert_problem(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("kind", [
    "aws-down", "endpoint", "throttled", "dynamo-throttled", "aws-5xx", "read-timeout",
    "connection-reset", "connection-closed", "publish", "partial-batch",
    "transaction-throttled", "transaction-conflict"])
async def test_unreachable_or_busy_backend_is_503_with_retry_after(
    client: httpx.AsyncClient, kind: str
) -> None:
    """Every transient AWS failure (unreachable, timeouts, resets, throttling, 5xx, partial
    batches, SNS refusals, throttled or conflicting transactions) gives 503 + Retry-After."""
    response = await client.get(f"/raise/{kind}")

    assert_problem(response, 503, "Service Unavailable")
    assert int(response.headers["retry-after"]) > 0


@pytest.mark.parametrize("kind", ["bug", "aws-validation", "transaction-condition"])
async def test_unexpected_errors_are_500_without_details(
    client: httpx.AsyncClient, kind: str
) -> None:
    """A bug or an unexpected AWS refusal is a generic 500 that leaks nothing."""
    response = await client.get(f"/raise/{kind}")

    body = assert_problem(response, 500, "Internal Server Error")
    assert SECRET not in response.text
    assert "RuntimeError" not in response.text
    assert body["detail"] == "an unexpected error occurred"


async def test_unreachable_endpoint_url_is_not_leaked(client: httpx.AsyncClient) -> None:
    """The 503 for an unreachable endpoint does not reveal internal host names."""
    response = await client.get("/raise/endpoint")

    assert SECRET not in response.text


async def test_validation_error_lists_fields(client: httpx.AsyncClient) -> None:
    """A body that fails validation is 422 with one errors[] entry per bad field."""
    response = await client.post("/dishes", json={"name": "", "servings": 0})

    body = assert_problem(response, 422, "Unprocessable Content")
    assert {e["field"] for e in body["errors"]} == {"name", "servings"}
    assert all(e["in"] == "body" and e["message"] and e["type"] for e in body["errors"])
    assert "name" in body["detail"] and "servings" in body["detail"]


async def test_missing_body_field_is_named(client: httpx.AsyncClient) -> None:
    """A missing required field is reported by name."""
    response = await client.post("/dishes", json={"name": "soup"})

    body = assert_problem(response, 422, "Unprocessable Content")
    assert [(e["field"], e["type"]) for e in body["errors"]] == [("servings", "missing")]


async def test_query_validation_error_names_the_parameter(client: httpx.AsyncClient) -> None:
    """A bad query parameter is 422 naming it, located in the query."""
    response = await client.get("/dishes", params={"limit": "many"})

    body = assert_problem(response, 422, "Unprocessable Content")
    assert [(e["field"], e["in"]) for e in body["errors"]] == [("limit", "query")]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    """A body that is not JSON at all is a 400, not a 422 about fields."""
    response = await client.post("/dishes", content=b'{"name": "soup", ',
                                 headers={"content-type": "application/json"})

    body = assert_problem(response, 400, "Bad Request")
    assert "JSON" in body["detail"]
    assert "errors" not in body


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    """Routing misses are problems too."""
    assert_problem(await client.get("/no/such/route"), 404, "Not Found")


async def test_wrong_method_is_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    """A known path with the wrong method is 405 and says which methods are allowed."""
    response = await client.delete("/dishes")

    assert_problem(response, 405, "Method Not Allowed")
    # Starlette names the methods of the first route matching the path.
    assert "POST" in response.headers["allow"]


async def test_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    """A Content-Length above the limit is refused before the body is read."""
    response = await client.post("/dishes", content=b"x" * (MAX_BODY + 1),
                                 headers={"content-type": "application/json"})

    assert "content-length" in response.request.headers
    assert_problem(response, 413, "Content Too Large")


async def test_chunked_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    """A body without Content-Length is cut off as soon as it passes the limit."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(MAX_BODY // 100 + 1):
            yield b"y" * 100
        yield b'", "servings": 2}'

    response = await client.post("/dishes", content=chunks(),
                                 headers={"content-type": "application/json"})

    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "Content Too Large")


async def test_body_within_limit_is_accepted(client: httpx.AsyncClient) -> None:
    """The size limit does not touch ordinary requests (chunked or not)."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "soup",'
        yield b' "servings": 2}'

    plain = await client.post("/dishes", json={"name": "soup", "servings": 2})
    chunked = await client.post("/dishes", content=chunks(),
                                headers={"content-type": "application/json"})

    assert plain.status_code == chunked.status_code == 201
    assert chunked.json() == {"name": "soup", "servings": 2}


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    """A caller's X-Request-Id comes back on the response."""
    response = await client.get("/dishes", headers={"x-request-id": "req-abc-123"})

    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-abc-123"


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    """Without a caller id, each response gets a fresh one."""
    first = await client.get("/dishes")
    second = await client.get("/dishes")

    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/raise/bug", {}),
        ("GET", "/raise/endpoint", {}),
        ("GET", "/raise/not-found", {}),
        ("POST", "/dishes", {"content": b"x" * (MAX_BODY + 1)}),
    ],
)
async def test_request_id_is_echoed_on_every_error(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict
) -> None:
    """The caller's request id comes back on errors (handled, unexpected and refused bodies)."""
    response = await client.request(method, path, headers={"x-request-id": "req-err-1"},
                                    **kwargs)

    assert response.status_code >= 400
    assert response.headers.get("x-request-id") == "req-err-1"


def test_one_aws_call_gives_up_inside_the_edge_timeout() -> None:
    """With the default timeouts and attempts, an AWS call (retries included) gives up well
    before the load balancer's 60 s origin timeout, so the client gets our 503, not a 504."""
    settings = PlatformSettings()
    assert worst_case_call_seconds(settings) < 45
    sqs = client_config(settings, service="sqs")
    assert sqs.read_timeout > settings.worker_wait_time_seconds  # a long poll is no timeout
    dynamodb = client_config(settings, service="dynamodb")
    assert dynamodb.read_timeout == settings.aws_read_timeout
    assert dynamodb.retries["max_attempts"] == settings.aws_max_attempts
