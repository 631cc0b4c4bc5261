"""``Idempotency-Key`` for POST requests that create something (IETF httpapi draft, Stripe's rules).

A client that retries a create after a timeout sends the same key again and gets the first
answer back instead of a second resource::

    first request            record INPROGRESS (fingerprint = method, path, body)
                             handler runs -> 201 {...}, Location
                             record COMPLETED with status, body and Location, kept 24 h
    same key, same request   -> the stored 201 again (``Idempotent-Replayed: true``)
    same key, other request  -> 422 (a key names one request)
    same key while in flight -> 409 with Retry-After (the first has not answered yet)

Keys belong to the caller: the token's ``sub`` (or the client address when anonymous), so
one user's key never replays another user's answer. The table holds neither the key nor the
answer in the clear: the record is named by a SHA-256 of caller and key, and the answer is
sealed (AES-GCM) with a second digest of them, so only a request carrying the key opens it
(a calendar link's secret, say, stays unreadable at rest). A handler that fails (an exception or a
5xx) frees its key, so the retry runs it again; an in-flight record left by a killed process
frees itself after ``in_progress_seconds``.

A route opts in by declaring the header, which also documents it in OpenAPI::

    router = APIRouter(prefix="/recipes", route_class=IdempotentRoute)

    @router.post("")
    async def create_recipe(body: RecipeCreate, ..., _: IdempotencyKey = None) -> Recipe:

A process killed after its write commits and before the answer is stored leaves the key in
progress; once that expires, the client's retry runs the handler again. `NewId` closes that
gap for creates: it is a UUID derived from the caller's key, so the retry names the very
resource the first run created, and the store's "create if absent" finds it instead of making
a second one.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Depends, Header, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from shared.auth import TokenVerifier, bearer_token
from shared.aws import CALL_ERRORS
from shared.dynamo import condition_failed, failed_item
from shared.errors import AuthError, ConflictError, ProblemError, UnprocessableError
from shared.logging import get_logger

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = get_logger("shared.idempotency_keys")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Printable ASCII without spaces, as Stripe allows (up to 255 characters).
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")
# Response headers a replay repeats.
_KEPT_HEADERS = ("content-type", "location", "etag")
# Answers not worth remembering: the caller may fix them and retry with the same key.
_NOT_STORED = {401, 403, 408, 409, 429}

IdempotencyKey = Annotated[str | None, Header(
    alias=HEADER,
    description="A unique key per create (e.g. a UUID): retrying with the same key and body "
                "returns the first answer instead of creating twice; kept 24 h. The same key "
                "with another body is 422; while the first request runs, 409.",
    max_length=255,
)]


async def _new_id(request: Request, _: IdempotencyKey = None) -> str:
    record_id = getattr(request.state, "idempotency_record", None)
    return str(uuid.uuid5(uuid.NAMESPACE_URL, record_id) if record_id else uuid.uuid4())


# The id of what a create makes: derived from the caller's Idempotency-Key when one is given
# (the same on every retry), a random UUID otherwise. Declaring it also declares the header.
NewId = Annotated[str, Depends(_new_id)]


# OpenAPI responses of a route that takes an Idempotency-Key.
IDEMPOTENT_CREATE: dict[int | str, dict[str, Any]] = {
    409: {"description": f"A request with this {HEADER} is still in progress"},
    422: {"description": f"This {HEADER} was used with another request"},
}


class IdempotencyKeyError(ProblemError):
    """The Idempotency-Key header is malformed."""


@dataclass(frozen=True)
class StoredResponse:
    """The first answer to a request, as kept for replays."""

    status: int
    body: bytes
    headers: dict[str, str]

    def to_response(self) -> Response:
        return Response(content=self.body, status_code=self.status,
                        headers={**self.headers, REPLAYED_HEADER: "true"})


class RequestKeys:
    """Idempotency-Key records of one service, in its idempotency table."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, *, keep_seconds: int = 24 * 3600,
                 in_progress_seconds: int = 60) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.keep_seconds = keep_seconds
        self.in_progress_seconds = in_progress_seconds

    @staticmethod
    def record_id(scope: str, key: str) -> str:
        return "request#" + hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()

    @staticmethod
    def sealing_key(scope: str, key: str) -> bytes:
        """The AES key that seals the stored answer: derivable from the Idempotency-Key, not
        from the record's name."""
        return hashlib.sha256(f"answer\0{scope}\0{key}".encode()).digest()

    async def begin(self, record_id: str, fingerprint: str,
                    sealing_key: bytes) -> StoredResponse | None:
        """Claim the key (None: run the handler) or return the stored answer to replay.

        UnprocessableError if the key was used for another request; ConflictError if that
        request is still running.
        """
        now = int(time.time())
        try:
            await self.dynamodb.put_item(
                TableName=self.table,
                Item={"id": {"S": record_id}, "status": {"S": "INPROGRESS"},
                      "fingerprint": {"S": fingerprint},
                      "in_progress_expiry": {"N": str(now + self.in_progress_seconds)},
                      "expires_at": {"N": str(now + self.keep_seconds)}},
                ConditionExpression="attribute_not_exists(id) OR expires_at < :now"
                                    " OR (#status = :in_progress AND in_progress_expiry < :now)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":now": {"N": str(now)},
                                           ":in_progress": {"S": "INPROGRESS"}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            old = failed_item(exc) or await self._read(record_id)
            if not old:  # freed between the two calls: claim it again
                return await self.begin(record_id, fingerprint, sealing_key)
            return self._replay(old, fingerprint, sealing_key)
        return None

    @staticmethod
    def _replay(old: dict[str, Any], fingerprint: str, sealing_key: bytes) -> StoredResponse:
        if old["fingerprint"]["S"] != fingerprint:
            raise UnprocessableError(
                f"this {HEADER} was used for a different request; use a new key")
        if old["status"]["S"] == "INPROGRESS":
            raise ConflictError(f"a request with this {HEADER} is still in progress",
                                headers={"Retry-After": "1"})
        sealed = old["response"]["B"]
        document = orjson.loads(AESGCM(sealing_key).decrypt(sealed[:12], sealed[12:], None))
        return StoredResponse(status=document["status"], body=document["body"].encode("latin-1"),
                              headers=document["headers"])

    async def _read(self, record_id: str) -> dict[str, Any]:
        response = await self.dynamodb.get_item(TableName=self.table,
                                                Key={"id": {"S": record_id}},
                                                ConsistentRead=True)
        return dict(response.get("Item") or {})

    async def complete(self, record_id: str, fingerprint: str, sealing_key: bytes,
                       response: Response) -> None:
        """Keep ``response``, sealed, as the answer to replay for the key's lifetime."""
        headers = {k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers}
        document = orjson.dumps({"status": response.status_code, "headers": headers,
                                 "body": bytes(response.body).decode("latin-1")})
        nonce = os.urandom(12)
        await self.dynamodb.put_item(
            TableName=self.table,
            Item={"id": {"S": record_id}, "status": {"S": "COMPLETED"},
                  "fingerprint": {"S": fingerprint},
                  "response": {"B": nonce + AESGCM(sealing_key).encrypt(nonce, document, None)},
                  "expires_at": {"N": str(int(time.time()) + self.keep_seconds)}},
        )

    async def release(self, record_id: str) -> None:
        """Forget a request that failed, so a retry with the same key runs again."""
        await self.dynamodb.delete_item(TableName=self.table, Key={"id": {"S": record_id}})


async def _caller(request: Request) -> str | None:
    """Whom the key belongs to: the token's subject, or the client address; None when the
    token is invalid (the route refuses the request anyway)."""
    try:
        token = bearer_token(request)
        if token is None:
            return f"anonymous:{request.client.host if request.client else '-'}"
        verifier: TokenVerifier = request.app.state.verifier
        return f"user:{(await verifier.verify(token)).id}"
    except AuthError:
        return None


async def _release_quietly(keys: RequestKeys, record_id: str) -> None:
    # The request's own failure is what the client must see; a record left behind frees
    # itself after `in_progress_seconds`.
    try:
        await keys.release(record_id)
    except CALL_ERRORS as exc:
        log.warning("idempotency_key.release_failed", error=type(exc).__name__)


def _fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(),
                 request.url.query.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _declares_key(dependant: Dependant) -> bool:
    return any(p.alias == HEADER for p in dependant.header_params) or any(
        _declares_key(d) for d in dependant.dependencies)


class IdempotentRoute(APIRoute):
    """A route that honours ``Idempotency-Key`` when its endpoint declares the header.

    The records live in ``app.state.request_keys`` (a `RequestKeys`, set up by the kit's
    app factory from ``ServiceSpec.idempotency_table``).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not _declares_key(self.dependant):
            return handler

        async def idempotent(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if key is None:
                return await handler(request)
            if not _VALID_KEY.fullmatch(key):
                raise IdempotencyKeyError(
                    f"{HEADER} must be 1 to 255 printable ASCII characters without spaces")
            scope = await _caller(request)
            if scope is None:
                return await handler(request)
            keys: RequestKeys = request.app.state.request_keys
            record_id = keys.record_id(scope, key)
            sealing_key = keys.sealing_key(scope, key)
            request.state.idempotency_record = record_id
            fingerprint = _fingerprint(request, await request.body())
            stored = await keys.begin(record_id, fingerprint, sealing_key)
            if stored is not None:
                return stored.to_response()
            try:
                response = await handler(request)
            except BaseException:
                await _release_quietly(keys, record_id)
                raise
            if response.status_code >= 500 or response.status_code in _NOT_STORED:
                await _release_quietly(keys, record_id)
            else:
                await keys.complete(record_id, fingerprint, sealing_key, response)
            return response

        return idempotent
