"""Tick validation: every field's rules, batch shapes, per-tick rejection and stable ids."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from services.stock_ingest.models import (
    MAX_BATCH,
    EmptyTickBatchError,
    MalformedTickBodyError,
    Tick,
    TickBatchCreate,
    TickBatchTooLargeError,
    TickBodyError,
    TickCreate,
    validate_ticks,
)

NOW = datetime(2024, 6, 3, 14, 30, tzinfo=UTC)


def tick(**fields) -> dict:
    """A valid tick body with ``fields`` replaced (None removes a field)."""
    body = {
        "symbol": "AAPL",
        "timestamp": "2024-06-03T14:29:00Z",
        "price": 193.12,
        "open": 192.9,
        "high": 194.0,
        "low": 192.5,
        "previous_close": 192.25,
        "change": 0.87,
        "change_percent": 0.45,
        "volume": 1200,
        "exchange": "NASDAQ",
        "data_source": "mock",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def errors_of(body: dict) -> list[dict]:
    """The field errors of a single-tick body (asserting it was rejected)."""
    batch = validate_ticks(body, now=NOW)
    assert batch.ticks == [], f"accepted: {batch.ticks}"
    (rejected,) = batch.rejected
    assert rejected.index == 0
    return [e.model_dump() for e in rejected.errors]


def locs(body: dict) -> list[list]:
    return [e["loc"] for e in errors_of(body)]


def accepted(body: dict) -> Tick:
    batch = validate_ticks(body, now=NOW)
    assert batch.rejected == [], batch.rejected
    (one,) = batch.ticks
    return one


def test_a_complete_tick_is_accepted_as_is() -> None:
    """The original producer's fields pass through; timestamp becomes aware UTC."""
    t = accepted(tick())
    assert t.symbol == "AAPL" and t.price == 193.12 and t.volume == 1200
    assert t.timestamp == datetime(2024, 6, 3, 14, 29, tzinfo=UTC)
    assert t.timestamp.utcoffset() == timedelta(0)


def test_minimal_tick_needs_only_symbol_timestamp_price() -> None:
    """Every other field is optional."""
    t = accepted({"symbol": "MSFT", "timestamp": "2024-06-03T14:00:00Z", "price": 1})
    assert (t.volume, t.open, t.exchange, t.data_source) == (None, None, None, None)
    assert t.price == 1.0 and isinstance(t.price, float)


@pytest.mark.parametrize("missing", ["symbol", "timestamp", "price"])
def test_required_fields(missing: str) -> None:
    """symbol, timestamp and price are required."""
    body = tick()
    del body[missing]
    assert errors_of(body) == [{"loc": [missing], "msg": "Field required"}]


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("aapl", "AAPL"),
        ("brk.b", "BRK.B"),
        ("^gspc", "^GSPC"),
        ("BF-B", "BF-B"),
        ("7203", "7203"),
        ("a", "A"),
        ("abcdefghij", "ABCDEFGHIJ"),
    ],
)
def test_symbols_are_upper_cased(raw: str, normalised: str) -> None:
    """Lower-case symbols are accepted and normalised; . ^ - and digits are allowed."""
    assert accepted(tick(symbol=raw)).symbol == normalised


@pytest.mark.parametrize("bad", ["", "ABCDEFGHIJK", "AA PL", "AAPL\n", "AAPL$", "ÄPPL", 42, True])
def test_bad_symbols_are_rejected(bad) -> None:
    """Empty, too long, spaces, other punctuation, non-ASCII and non-strings are refused."""
    assert locs(tick(symbol=bad)) == [["symbol"]]


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), float("-inf"), 0, 0.0, -1.5, True, False, "193.12", 1e10]
)
def test_bad_prices_are_rejected(bad) -> None:
    """Price must be a finite positive JSON number: no NaN/inf, no bools, no strings."""
    assert locs(tick(price=bad)) == [["price"]]


def test_nan_written_in_json_is_rejected() -> None:
    """Python's json accepts the NaN literal; the tick does not."""
    body = json.loads('{"symbol": "X", "timestamp": "2024-06-03T14:00:00Z", "price": NaN}')
    assert errors_of(body) == [{"loc": ["price"], "msg": "Input should be a finite number"}]


@pytest.mark.parametrize("field", ["open", "high", "low", "previous_close"])
@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_optional_prices_must_be_positive_and_finite(field: str, bad) -> None:
    """open/high/low/previous_close follow the price rules when present."""
    assert locs(tick(**{field: bad})) == [[field]]


@pytest.mark.parametrize("field", ["change", "change_percent"])
def test_change_fields_may_be_negative_but_finite(field: str) -> None:
    """change and change_percent are any finite number."""
    assert getattr(accepted(tick(**{field: -3.5})), field) == -3.5
    for bad in (float("nan"), float("inf"), True, "1.0"):
        assert locs(tick(**{field: bad})) == [[field]]


@pytest.mark.parametrize("good, value", [(0, 0), (1200, 1200), (1200.0, 1200), (10**15, 10**15)])
def test_volumes_are_whole_numbers(good, value) -> None:
    """Volume is an int >= 0; a float without fraction is taken as that int."""
    t = accepted(tick(volume=good))
    assert t.volume == value and type(t.volume) is int


@pytest.mark.parametrize(
    "bad", [True, False, 1200.5, -1, "1200", float("nan"), float("inf"), 10**15 + 1]
)
def test_bad_volumes_are_rejected(bad) -> None:
    """No bools, no fractions, no negatives, no strings, no NaN/inf, no absurd sizes."""
    assert locs(tick(volume=bad)) == [["volume"]]


def test_volume_fraction_message_is_clear() -> None:
    """A fractional volume says why."""
    assert errors_of(tick(volume=1.5)) == [
        {
            "loc": ["volume"],
            "msg": "Input should be a valid integer, got a number with a fractional part",
        }
    ]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2024-06-03T14:29:00Z", datetime(2024, 6, 3, 14, 29, tzinfo=UTC)),
        ("2024-06-03T14:29:00", datetime(2024, 6, 3, 14, 29, tzinfo=UTC)),  # naive = UTC
        ("2024-06-03 14:29:00.250+00:00", datetime(2024, 6, 3, 14, 29, 0, 250000, tzinfo=UTC)),
        ("2024-06-03T16:29:00+02:00", datetime(2024, 6, 3, 14, 29, tzinfo=UTC)),
        ("2024-06-03T09:29:00-05:00", datetime(2024, 6, 3, 14, 29, tzinfo=UTC)),
    ],
)
def test_timestamps_are_normalised_to_utc(raw: str, expected: datetime) -> None:
    """ISO-8601 with any offset becomes UTC; a naive timestamp is read as UTC."""
    t = accepted(tick(timestamp=raw))
    assert t.timestamp == expected and t.timestamp.tzinfo is UTC


@pytest.mark.parametrize(
    "bad", ["yesterday", "2024-06-03", "2024-13-01T00:00:00Z", 1717425000, 1717425000.5, True, ""]
)
def test_bad_timestamps_are_rejected(bad) -> None:
    """Only ISO-8601 date-times: no words, bare dates, impossible dates or epoch numbers."""
    assert locs(tick(timestamp=bad)) == [["timestamp"]]


def test_future_timestamps_up_to_five_minutes_are_tolerated() -> None:
    """Clock skew: now + 5 min passes, a microsecond later does not."""
    edge = NOW + timedelta(minutes=5)
    assert accepted(tick(timestamp=edge.isoformat())).timestamp == edge
    assert errors_of(tick(timestamp=(edge + timedelta(microseconds=1)).isoformat())) == [
        {"loc": ["timestamp"], "msg": "Timestamp is more than 5 minutes in the future"}
    ]
    assert locs(tick(timestamp="2099-01-01T00:00:00Z")) == [["timestamp"]]


def test_future_check_uses_the_validation_context_clock() -> None:
    """TickCreate takes ``now`` from the validation context, so tests control the clock."""
    body = tick(timestamp="2030-01-01T00:00:00Z")
    later = {"now": datetime(2030, 1, 1, tzinfo=UTC)}
    assert TickCreate.model_validate(body, context=later).timestamp.year == 2030
    with pytest.raises(ValueError, match="future"):
        TickCreate.model_validate(body, context={"now": NOW})


@pytest.mark.parametrize("field", ["exchange", "data_source"])
def test_short_strings(field: str) -> None:
    """exchange and data_source: 1..32 characters after trimming, strings only."""
    assert getattr(accepted(tick(**{field: " NYSE "})), field) == "NYSE"
    for bad in ("", "   ", "x" * 33, 7):
        assert locs(tick(**{field: bad})) == [[field]]


def test_unknown_fields_are_rejected() -> None:
    """A typo such as ``Price`` is reported rather than silently dropped."""
    assert errors_of(tick(Price=1.0)) == [
        {"loc": ["Price"], "msg": "Extra inputs are not permitted"}
    ]


def test_client_ids_are_kept_and_checked() -> None:
    """A client id of 1..64 of [A-Za-z0-9_.:-] is the tick id."""
    assert accepted(tick(id="batch-7:tick_1.a")).id == "batch-7:tick_1.a"
    for bad in ("", "x" * 65, "has space", "ümlaut", 12):
        assert locs(tick(id=bad)) == [["id"]]


def test_derived_ids_are_stable_and_content_based() -> None:
    """Same content gives the same id, whatever the spelling; any keyed field changes it."""
    base = accepted(tick()).id
    assert len(base) == 32
    assert accepted(tick(symbol="aapl", timestamp="2024-06-03T16:29:00+02:00")).id == base
    assert accepted(tick(price=193.120, volume=1200.0, high=999.0, exchange="NYSE")).id == base
    for changed in (
        {"symbol": "MSFT"},
        {"timestamp": "2024-06-03T14:29:00.000001Z"},
        {"price": 193.13},
        {"volume": 1201},
        {"volume": None},
        {"data_source": "csv"},
    ):
        assert accepted(tick(**changed)).id != base, changed


def test_derived_id_is_fixed_across_processes() -> None:
    """The id is a SHA-256 of canonical content, not Python's salted hash()."""
    t = accepted({"symbol": "aapl", "timestamp": "2024-01-01T01:00:00+01:00", "price": 100.50})
    canonical = '["AAPL","2024-01-01T00:00:00Z","100.5",null,null]'
    assert t.id == hashlib.sha256(canonical.encode()).hexdigest()[:32]


def test_tick_serialises_with_z_timestamps() -> None:
    """The accepted tick's JSON has a Z timestamp (microseconds only when present)."""
    data = json.loads(accepted(tick(timestamp="2024-06-03T16:29:00+02:00")).model_dump_json())
    assert data["timestamp"] == "2024-06-03T14:29:00Z"
    assert set(data) == set(tick()) | {"id"}
    data = json.loads(accepted(tick(timestamp="2024-06-03T14:29:00.5Z")).model_dump_json())
    assert data["timestamp"] == "2024-06-03T14:29:00.500000Z"


def test_batch_accepts_good_ticks_and_reports_bad_ones_by_index() -> None:
    """One bad tick never sinks its neighbours; errors name the index and the fields."""
    body = {"ticks": [tick(), tick(price=-1, volume=True), tick(symbol="msft"), {"price": 1}]}
    batch = validate_ticks(body, now=NOW)
    assert [t.symbol for t in batch.ticks] == ["AAPL", "MSFT"]
    assert [(r.index, [e.loc for e in r.errors]) for r in batch.rejected] == [
        (1, [["price"], ["volume"]]),
        (3, [["symbol"], ["timestamp"]]),
    ]
    assert batch.duplicates == 0


def test_duplicates_within_a_batch_are_dropped_and_counted() -> None:
    """Same derived id, or same client id, twice in one request: kept once, counted."""
    body = {"ticks": [tick(), tick(symbol="aapl"), tick(id="k1"), tick(id="k1", price=1.0)]}
    batch = validate_ticks(body, now=NOW)
    assert len(batch.ticks) == 2 and batch.duplicates == 2
    assert batch.ticks[1].price == 193.12  # the first of a client id wins


def test_a_retried_batch_yields_the_same_ids() -> None:
    """Validating the same body again gives identical ticks, ids included."""
    body = {"ticks": [tick(), tick(symbol="MSFT", price=411.0)]}
    assert validate_ticks(body, now=NOW) == validate_ticks(body, now=NOW + timedelta(seconds=3))


def test_batch_of_500_is_accepted_and_501_refused() -> None:
    """At most MAX_BATCH (500) ticks per request."""
    ticks = [tick(price=1 + i / 100) for i in range(MAX_BATCH)]
    assert len(validate_ticks({"ticks": ticks}, now=NOW).ticks) == MAX_BATCH
    with pytest.raises(TickBatchTooLargeError, match="at most 500"):
        validate_ticks({"ticks": [*ticks, tick()]}, now=NOW)


def test_empty_batch_is_refused() -> None:
    """``{"ticks": []}`` is an error of the whole body."""
    with pytest.raises(EmptyTickBatchError):
        validate_ticks({"ticks": []}, now=NOW)


@pytest.mark.parametrize(
    "body",
    [[tick()], "AAPL", None, 3, {"ticks": tick()}, {"ticks": [tick()], "extra": 1}],
)
def test_malformed_bodies_are_refused(body) -> None:
    """Neither a tick object nor {"ticks": [...]}: MalformedTickBodyError, a TickBodyError."""
    with pytest.raises(MalformedTickBodyError):
        validate_ticks(body, now=NOW)
    assert issubclass(MalformedTickBodyError, TickBodyError)


def test_non_object_items_of_a_batch_are_rejected_per_tick() -> None:
    """A batch item that is not an object is a rejected tick, not a broken body."""
    batch = validate_ticks({"ticks": [tick(), "oops", 5]}, now=NOW)
    assert len(batch.ticks) == 1
    assert [r.index for r in batch.rejected] == [1, 2]


def test_batch_schema_model_limits() -> None:
    """TickBatchCreate (the API schema) enforces 1..500 ticks too."""
    with pytest.raises(ValueError):
        TickBatchCreate.model_validate({"ticks": []}, context={"now": NOW})
    ok = TickBatchCreate.model_validate({"ticks": [tick()]}, context={"now": NOW})
    assert ok.ticks[0].symbol == "AAPL"
