"""DynamoDB value conversion and opaque pagination cursors (``shared.dynamo``)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from shared.dynamo import (
    CursorError,
    all_items,
    condition_failed,
    decode_cursor,
    encode_cursor,
    from_item,
    start_key,
    to_item,
    to_value,
)

# DynamoDB numbers: 38 significant digits, magnitude 1e-130 .. 1e126.
finite_floats = st.floats(min_value=-1e100, max_value=1e100, allow_nan=False,
                          allow_infinity=False).filter(lambda x: x == 0 or abs(x) > 1e-100)
ints = st.integers(min_value=-(10**37), max_value=10**37)
scalars = st.none() | st.booleans() | ints | finite_floats | st.text(max_size=20)
documents = st.dictionaries(
    st.text(min_size=1, max_size=10),
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4),
        max_leaves=12,
    ),
    max_size=6,
)


def expected(value: Any) -> Any:
    """What a value reads back as: None dropped from maps (list slots stay)."""
    if isinstance(value, dict):
        return {k: expected(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [expected(v) for v in value]
    return value


def same(back: Any, want: Any) -> bool:
    """``back`` is what ``want`` should read back as, types included (1 != True)."""
    if isinstance(want, float):
        if want.is_integer():
            # DynamoDB has one number type: whole numbers come back as int (of the float's
            # shortest repr, so compare as floats above 2**53).
            return type(back) is int and float(back) == want
        return type(back) is float and back == want
    if type(back) is not type(want):
        return False
    if isinstance(want, dict):
        return back.keys() == want.keys() and all(same(back[k], want[k]) for k in want)
    if isinstance(want, list):
        return len(back) == len(want) and all(
            same(b, w) for b, w in zip(back, want, strict=True))
    return back == want


@given(documents)
def test_item_round_trip(document: dict[str, Any]) -> None:
    """to_item/from_item round-trips JSON-like documents: floats exact, None dropped."""
    back = from_item(to_item(document))

    assert same(back, expected(document)), back


fractional_floats = st.one_of(
    st.tuples(st.integers(-(10**12), 10**12),
              st.floats(min_value=1e-9, max_value=1, exclude_max=True))
    .map(sum),
    st.floats(min_value=1e-100, max_value=0.5),
).filter(lambda x: not x.is_integer())


@given(fractional_floats)
def test_fractional_float_is_exact(value: float) -> None:
    """A fractional float reads back as the very same float, not a nearby one."""
    back = from_item(to_item({"price": value}))["price"]

    assert type(back) is float
    assert back == value


def test_float_is_stored_as_its_shortest_decimal() -> None:
    """0.1 is stored as "0.1", not as the binary expansion 0.1000000000000000055..."""
    assert to_value(0.1) == {"N": "0.1"}
    assert to_item({"ratio": 1.25, "n": 3}) == {"ratio": {"N": "1.25"}, "n": {"N": "3"}}


def test_none_is_dropped_at_every_level_of_maps() -> None:
    """None attributes are not written, also inside nested maps; list slots stay."""
    item = to_item({"a": None, "b": {"c": None, "d": 1}, "e": [None, 2]})

    assert item == {"b": {"M": {"d": {"N": "1"}}}, "e": {"L": [{"NULL": True}, {"N": "2"}]}}
    assert from_item(item) == {"b": {"d": 1}, "e": [None, 2]}


def test_integers_and_nested_values_keep_their_types() -> None:
    """Ints stay ints, bools stay bools, nested lists and maps keep their shape."""
    document = {"id": "r-1", "likes": 12, "big": 10**30, "ok": True,
                "tags": ["soup", "quick"], "steps": [{"n": 1, "text": "boil"}]}

    back = from_item(to_item(document))

    assert back == document
    assert type(back["likes"]) is int and type(back["big"]) is int and back["ok"] is True


key_values = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=30)),
    st.builds(lambda n: {"N": str(n)}, st.integers(-(10**20), 10**20)),
)
positions = st.dictionaries(st.sampled_from(["id", "listing", "created_at", "likes"]),
                            key_values, min_size=1)


@given(positions)
def test_cursor_round_trip(position: dict[str, Any]) -> None:
    """A cursor decodes to the position it encodes, is URL-safe and passes start_key."""
    cursor = encode_cursor(position)

    assert cursor is not None
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor) == position
    assert start_key(decode_cursor(cursor), set(position)) == position


def test_end_of_list_has_no_cursor() -> None:
    """No position means no cursor, and no cursor means the first page."""
    assert encode_cursor(None) is None
    assert encode_cursor({}) is None
    assert decode_cursor(None) is None
    assert decode_cursor("") is None
    assert start_key(None, {"id"}) is None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "%%%%",
        "é",
        "a",
        _b64(b"not json"),
        _b64(b'["id", "r-1"]'),
        _b64(b'"r-1"'),
        _b64(b"42"),
        _b64(b'{"id": {"S": "r-1"}')[:-2],
    ],
)
def test_tampered_cursor_is_rejected(cursor: str) -> None:
    """A cursor this service did not produce is a CursorError (a 400), not a crash."""
    with pytest.raises(CursorError):
        decode_cursor(cursor)


def test_truncated_real_cursor_is_rejected() -> None:
    """Cutting a genuine cursor short is detected."""
    cursor = encode_cursor({"id": {"S": "recipe-123"}, "created_at": {"S": "2025-01-01"}})
    assert cursor is not None

    with pytest.raises(CursorError):
        decode_cursor(cursor[: len(cursor) // 2])


@pytest.mark.parametrize(
    "position",
    [
        {"id": {"S": "r-1"}},  # missing created_at
        {"id": {"S": "r-1"}, "created_at": {"S": "x"}, "extra": {"S": "y"}},
        {"user": {"S": "r-1"}, "created_at": {"S": "x"}},
        {"id": {"BOOL": True}, "created_at": {"S": "x"}},
        {"id": {"S": "r-1", "N": "1"}, "created_at": {"S": "x"}},
        {"id": "r-1", "created_at": {"S": "x"}},
        {"id": {"S": 1}, "created_at": {"S": "x"}},
        {"id": {"S": "r-1"}, "created_at": {"N": "not-a-number"}},
        {"id": {"S": "r-1"}, "created_at": {"S": ["x"]}},
    ],
)
def test_cursor_for_another_listing_is_rejected(position: dict[str, Any]) -> None:
    """A decodable cursor whose keys or values do not fit this index is a CursorError
    before DynamoDB sees it (DynamoDB would answer ValidationException, a 500)."""
    cursor = encode_cursor(position)

    with pytest.raises(CursorError):
        start_key(decode_cursor(cursor), {"id", "created_at"})


def test_numeric_key_cursor_is_accepted() -> None:
    """A number key (the by-likes index) passes start_key."""
    position = {"listing": {"S": "recipe"}, "likes": {"N": "17"}, "id": {"S": "r-9"}}

    assert start_key(decode_cursor(encode_cursor(position)), set(position)) == position


def test_cursor_json_is_compact() -> None:
    """Cursors carry the position and nothing else (no padding, no whitespace)."""
    position = {"id": {"S": "r-1"}}
    cursor = encode_cursor(position)

    assert cursor == _b64(orjson.dumps(position))
    assert not cursor.endswith("=")


def _aws_error(code: str, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "refused"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, "TransactWriteItems" if reasons is not None else "PutItem")


def test_condition_failed_of_a_single_write() -> None:
    """A single write's ConditionalCheckFailedException is a failed condition, as item 0."""
    exc = _aws_error("ConditionalCheckFailedException")

    assert condition_failed(exc) and condition_failed(exc, 0)
    assert not condition_failed(exc, 1)
    assert not condition_failed(_aws_error("ValidationException"))


def test_condition_failed_names_the_item_of_a_transaction() -> None:
    """In a cancelled transaction, only the items whose reason is ConditionalCheckFailed
    failed their condition; a conflict or throttling is not a failed condition."""
    exc = _aws_error("TransactionCanceledException", ["None", "ConditionalCheckFailed"])

    assert condition_failed(exc) and condition_failed(exc, 1)
    assert not condition_failed(exc, 0) and not condition_failed(exc, 5)
    conflict = _aws_error("TransactionCanceledException", ["TransactionConflict", "None"])
    assert not condition_failed(conflict) and not condition_failed(conflict, 0)


async def test_all_items_reads_page_after_page_up_to_the_cap() -> None:
    """all_items follows LastEvaluatedKey to the end, or stops once ``cap`` items are in."""
    pages = {None: ([1, 2], "a"), "a": ([3, 4], "b"), "b": ([5], None)}
    calls: list[Any] = []

    async def query(**request: Any) -> dict[str, Any]:
        calls.append(request.get("ExclusiveStartKey"))
        items, last = pages[request.get("ExclusiveStartKey")]
        return {"Items": items, **({"LastEvaluatedKey": last} if last else {})}

    assert await all_items(query, {"TableName": "t"}) == [1, 2, 3, 4, 5]
    assert calls == [None, "a", "b"]
    assert await all_items(query, {"TableName": "t"}, cap=3) == [1, 2, 3, 4]
    assert await all_items(query, {"TableName": "t"}, cap=0) == []


def test_start_key_checks_key_types_and_the_listing_partition() -> None:
    """With key types, a cursor whose key has another type is refused; with ``partition``,
    a cursor of another partition (another symbol) does not continue this listing."""
    keys = {"symbol": "S", "tick_key": "S"}
    position = {"symbol": {"S": "AAPL"}, "tick_key": {"S": "2026-01-01T00:00:00Z#t-1"}}

    assert start_key(position, keys, partition={"symbol": "AAPL"}) == position
    with pytest.raises(CursorError):
        start_key(position, keys, partition={"symbol": "MSFT"})
    with pytest.raises(CursorError):
        start_key({**position, "tick_key": {"N": "1"}}, keys)
    assert start_key({**position, "tick_key": {"N": "1"}}, set(keys)) is not None
