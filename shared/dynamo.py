"""DynamoDB attribute values <-> plain Python, and opaque pagination cursors."""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from typing import Any

import orjson
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class CursorError(ValueError):
    """A pagination cursor was not produced by this service."""


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


def to_value(value: Any) -> dict[str, Any]:
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


def start_key(position: dict[str, Any] | None, key_names: set[str]) -> dict[str, Any] | None:
    """A decoded cursor as an ExclusiveStartKey, checked against the index's key names."""
    if position is None:
        return None
    if set(position) != key_names or not all(_is_key_value(v) for v in position.values()):
        raise CursorError("cursor is not valid for this listing")
    return position


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
