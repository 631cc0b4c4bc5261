"""DynamoDB attribute values <-> plain Python, pagination cursors, batch reads and writes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import random
import uuid
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shared.errors import AwsUnavailableError, BadRequestError, NotFoundError

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class CursorError(BadRequestError):
    """A pagination cursor was not produced by this service (or not for this listing)."""


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        # The shortest repr round-trips exactly; Decimal(float) would keep binary noise.
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return sorted(_from_dynamo(v) for v in value)
    return value


def to_item(document: dict[str, Any]) -> dict[str, Any]:
    """A JSON-like dict as a DynamoDB item (None values are dropped, floats become numbers)."""
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in document.items() if v is not None}


def to_value(value: Any) -> AttributeValueTypeDef:
    """One Python value as a DynamoDB attribute value."""
    return _serializer.serialize(_to_dynamo(value))


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as a JSON-like dict (integral numbers become int, others float)."""
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def encode_cursor(position: dict[str, Any] | None) -> str | None:
    """An opaque, URL-safe cursor for a position (None at the end of the list)."""
    if not position:
        return None
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """The position a cursor stands for; CursorError if it is not one of ours."""
    if not cursor:
        return None
    try:
        position = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise CursorError("cursor is not valid") from exc
    if not isinstance(position, dict):
        raise CursorError("cursor is not valid")
    return position


def start_key(position: dict[str, Any] | None, keys: Collection[str] | Mapping[str, str], *,
              partition: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """A decoded cursor as an ExclusiveStartKey, checked against the index it pages.

    ``keys`` names the index's key attributes; as a mapping (name -> "S" or "N") it fixes
    their types too. ``partition`` (name -> string) holds the values the listing reads, so a
    cursor of another partition (another symbol, status, owner) does not continue this one.
    CursorError for a cursor that does not fit: DynamoDB would answer ValidationException (a
    500) or, worse, page on from somewhere else.
    """
    if position is None:
        return None
    if set(position) != set(keys) or not all(_is_key_value(v) for v in position.values()):
        raise CursorError("cursor is not valid for this listing")
    types = keys if isinstance(keys, Mapping) else {}
    if any(set(position[name]) != {kind} for name, kind in types.items()) or any(
            position[name] != {"S": value} for name, value in (partition or {}).items()):
        raise CursorError("cursor is not valid for this listing")
    return position


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID in canonical form (what server-assigned ids always are)."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def id_key(value: str, what: str) -> dict[str, Any]:
    """The ``{"id": ...}`` key of a server-assigned UUID id; NotFoundError naming ``what``
    for anything else: it names nothing, and some strings (over 2 KB, for one) are not even
    valid DynamoDB keys, which would be a 500 rather than a 404."""
    if not is_uuid(value):
        raise NotFoundError(f"{what} {value[:64]} does not exist")
    return {"id": {"S": value}}


def _is_key_value(value: Any) -> bool:
    # Checked here because DynamoDB answers a malformed start key with ValidationException,
    # which would surface as a 500 rather than the client's 400.
    if not (isinstance(value, dict) and len(value) == 1):
        return False
    ((kind, raw),) = value.items()
    if kind not in {"S", "N"} or not isinstance(raw, str):
        return False
    if kind == "N":
        try:
            return Decimal(raw).is_finite()
        except ArithmeticError:
            return False
    return True


BATCH_WRITE_SIZE = 25  # BatchWriteItem's limit
BATCH_GET_SIZE = 100  # BatchGetItem's limit


async def _backoff(attempt: int) -> None:
    # Full jitter, as AWS recommends for unprocessed batch items (throttled partitions).
    await asyncio.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))


async def batch_write(
    dynamodb: DynamoDBClient, requests: Mapping[str, Sequence[dict[str, Any]]], *,
    concurrency: int = 4, attempts: int = 8,
) -> None:
    """Apply ``PutRequest``/``DeleteRequest`` entries (table -> entries) with BatchWriteItem.

    Entries of several tables share calls (25 per call); up to ``concurrency`` calls run at
    once. Unprocessed items are retried with jittered backoff; AwsUnavailableError if some
    are still unprocessed after ``attempts`` calls.
    """
    semaphore = asyncio.Semaphore(concurrency)
    flat = [(table, entry) for table, entries in requests.items() for entry in entries]

    async def write(chunk: Sequence[tuple[str, dict[str, Any]]]) -> None:
        pending: dict[str, Any] = {}
        for table, entry in chunk:
            pending.setdefault(table, []).append(entry)
        async with semaphore:
            for attempt in range(attempts):
                response = await dynamodb.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    return
                await _backoff(attempt)
        left = sum(len(entries) for entries in pending.values())
        raise AwsUnavailableError(f"DynamoDB left {left} batch writes unprocessed")

    await asyncio.gather(*(write(flat[start : start + BATCH_WRITE_SIZE])
                           for start in range(0, len(flat), BATCH_WRITE_SIZE)))


async def batch_get(
    dynamodb: DynamoDBClient, keys: Mapping[str, Sequence[dict[str, Any]]], *,
    consistent: bool = False, attributes: Mapping[str, Sequence[str]] | None = None,
    attempts: int = 8,
) -> dict[str, list[dict[str, Any]]]:
    """The items found for ``keys`` (table -> keys), by table, with BatchGetItem.

    Keys of several tables share calls (100 keys per call); ``attributes`` (table -> names)
    limits what is read. Unprocessed keys are retried with jittered backoff
    (AwsUnavailableError after ``attempts`` calls). Items come in no order.
    """
    projections = {
        table: {"ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(names))),
                "ExpressionAttributeNames": {f"#a{i}": n for i, n in enumerate(names)}}
        for table, names in (attributes or {}).items()
    }
    found: dict[str, list[dict[str, Any]]] = {table: [] for table in keys}
    flat = [(table, key) for table, table_keys in keys.items() for key in table_keys]
    for start in range(0, len(flat), BATCH_GET_SIZE):
        pending: dict[str, Any] = {}
        for table, key in flat[start : start + BATCH_GET_SIZE]:
            request = pending.setdefault(
                table, {"Keys": [], "ConsistentRead": consistent, **projections.get(table, {})})
            request["Keys"].append(key)
        for attempt in range(attempts):
            response = await dynamodb.batch_get_item(RequestItems=pending)
            for table, items in response.get("Responses", {}).items():
                found[table] += items
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            await _backoff(attempt)
        else:
            raise AwsUnavailableError("DynamoDB left keys of a BatchGetItem unprocessed")
    return found


async def query_page(
    dynamodb: DynamoDBClient, request: dict[str, Any], start: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One Query page from ``start`` (raw items and the next start key, None at the end).

    DynamoDB checks a start key against the index and the key condition; a key it refuses
    came from a client's cursor, so it is a CursorError (400), not a server error.
    """
    if start:
        request = {**request, "ExclusiveStartKey": start}
    try:
        response = await dynamodb.query(**request)
    except ClientError as exc:
        if start and exc.response["Error"]["Code"] == "ValidationException":
            raise CursorError("cursor is not valid for this listing") from None
        raise
    return response["Items"], response.get("LastEvaluatedKey")


async def all_items(operation: Any, request: dict[str, Any], *,
                    cap: int | None = None) -> list[dict[str, Any]]:
    """Every item a Query or Scan returns (``operation``: a client's bound ``query`` or
    ``scan``), page after page, as DynamoDB items. With ``cap``, no page is read once that
    many items are in (the last page read may bring more)."""
    items: list[dict[str, Any]] = []
    while cap is None or len(items) < cap:
        response = await operation(**request)
        items += response["Items"]
        if "LastEvaluatedKey" not in response:
            break
        request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}
    return items


def condition_failed(exc: ClientError, item: int | None = None) -> bool:
    """Whether a write failed because a ConditionExpression did not hold.

    A single write (PutItem, UpdateItem, DeleteItem) fails with
    ConditionalCheckFailedException and counts as item 0. A cancelled TransactWriteItems
    names a reason per item: ``item`` asks about that one (its index in the transaction),
    None about any of them.
    """
    if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
        return item in (None, 0)
    reasons = cancellation_reasons(exc) or []
    if item is None:
        return "ConditionalCheckFailed" in reasons
    return item < len(reasons) and reasons[item] == "ConditionalCheckFailed"


def failed_item(exc: ClientError) -> dict[str, Any] | None:
    """The item a single write found when its condition failed, if it asked for it with
    ``ReturnValuesOnConditionCheckFailure="ALL_OLD"`` (None otherwise).

    DynamoDB puts it in the error response beside ``Error``, a key the ClientError stubs do
    not declare.
    """
    response: Mapping[str, Any] = exc.response
    item = response.get("Item")
    return dict(item) if item else None


def cancellation_reasons(exc: ClientError) -> list[str | None] | None:
    """Per-item reason codes of a cancelled TransactWriteItems (None for any other error).

    The list follows the transaction's items; an item that did not cause the cancellation
    has ``None`` (DynamoDB says "None").
    """
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        return None
    return [None if r.get("Code") in (None, "None") else r["Code"]
            for r in exc.response.get("CancellationReasons", [])]
