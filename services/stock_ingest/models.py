"""Ticks as clients send them, as the service accepts them, and batch validation.

A request body is one tick object or ``{"ticks": [...]}`` with 1..500 ticks. Each tick is
validated on its own: the good ones are accepted, the bad ones reported by index, so one bad
tick never sinks its neighbours (`validate_ticks`).

Numbers are strict: JSON ``true`` is not a price and ``"101.5"`` is not a number; a volume may
be written ``1000.0`` but not ``1000.5``; prices are at most `MAX_PRICE`. A timestamp without
an offset is UTC; one more than `MAX_CLOCK_SKEW` ahead of the server clock is rejected.

Every accepted tick has an id: the client's ``id`` if given, else a hash of its content
(symbol, timestamp, price, volume, data_source), so a retried batch yields the same ids and
deduplicates downstream.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from shared.errors import InvalidInputError

MAX_BATCH = 500
MAX_PRICE = 1e9
"""Upper bound on price fields: far above any quote, low enough that price * volume stays finite."""
MAX_VOLUME = 10**15
MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the server clock a tick timestamp may be."""

SYMBOL_PATTERN = r"^[A-Z0-9.^-]{1,10}\Z"
TICK_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}\Z"
_SYMBOL = re.compile(SYMBOL_PATTERN)
_TICK_ID = re.compile(TICK_ID_PATTERN)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class TickBodyError(InvalidInputError):
    """The request body as a whole is unusable (no tick is even looked at).

    Subclasses: `MalformedTickBodyError`, `EmptyTickBatchError`, `TickBatchTooLargeError`.
    """


class MalformedTickBodyError(TickBodyError):
    """The body is neither a tick object nor ``{"ticks": [...]}``."""


class EmptyTickBatchError(TickBodyError):
    """``{"ticks": []}``: a batch needs at least one tick."""


class TickBatchTooLargeError(TickBodyError):
    """More than `MAX_BATCH` ticks in one request."""


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _whole_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Input should be a valid integer, not a boolean")
    if isinstance(value, float) and math.isfinite(value):
        if not value.is_integer():
            raise ValueError("Input should be a valid integer, got a number with a fractional part")
        return int(value)
    return value


def _symbol(value: str) -> str:
    if not _SYMBOL.match(value):
        raise ValueError("Symbol should be 1-10 characters among A-Z 0-9 . ^ -")
    return value


def _tick_id(value: str) -> str:
    if not _TICK_ID.match(value):
        raise ValueError("Id should be 1-64 characters among A-Z a-z 0-9 _ . : -")
    return value


def _timestamp_input(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("Input should be an ISO-8601 timestamp string")
    if _DATE_ONLY.match(value):
        raise ValueError("Input should be a timestamp with a time of day, not a date")
    return value


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``, microseconds only when there are some."""
    value = _to_utc(value)
    return value.isoformat(timespec="microseconds" if value.microsecond else "seconds").replace(
        "+00:00", "Z"
    )


Symbol = Annotated[str, Field(strict=True), BeforeValidator(_upper), AfterValidator(_symbol)]
PositivePrice = Annotated[float, Field(strict=True, gt=0, le=MAX_PRICE, allow_inf_nan=False)]
FiniteNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Volume = Annotated[int, BeforeValidator(_whole_number), Field(strict=True, ge=0, le=MAX_VOLUME)]
ShortText = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=32)
]
TickId = Annotated[str, Field(strict=True), AfterValidator(_tick_id)]
Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp_input),
    AfterValidator(_to_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]


class TickCreate(BaseModel):
    """One tick as a client sends it (the original producer's fields, plus ``id``).

    Validate with ``context={"now": datetime}`` to fix the clock the future check uses.
    """

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    timestamp: Timestamp
    price: PositivePrice
    open: PositivePrice | None = None
    high: PositivePrice | None = None
    low: PositivePrice | None = None
    previous_close: PositivePrice | None = None
    change: FiniteNumber | None = None
    change_percent: FiniteNumber | None = None
    volume: Volume | None = None
    exchange: ShortText | None = None
    data_source: ShortText | None = None
    id: TickId | None = None
    """Client-chosen idempotency id; derived from the content when absent."""

    @field_validator("timestamp")
    @classmethod
    def _not_in_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        context = info.context if isinstance(info.context, Mapping) else {}
        now = context.get("now") or datetime.now(UTC)
        if value > _to_utc(now) + MAX_CLOCK_SKEW:
            raise ValueError(
                f"Timestamp is more than {MAX_CLOCK_SKEW.seconds // 60} minutes in the future"
            )
        return value


class Tick(TickCreate):
    """An accepted tick: UTC timestamp (serialised with ``Z``) and a stable ``id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: TickId


class TickBatchCreate(BaseModel):
    """``{"ticks": [...]}``: the batch form of the request body (for the API schema)."""

    model_config = ConfigDict(extra="forbid")

    ticks: list[TickCreate] = Field(min_length=1, max_length=MAX_BATCH)


class FieldError(BaseModel):
    """One validation problem of a tick, pydantic-style: where and what."""

    loc: list[str | int]
    msg: str


class RejectedTick(BaseModel):
    """A tick that failed validation, by its position in the request."""

    index: int
    errors: list[FieldError]


class TickBatch(BaseModel):
    """The outcome of validating one request body."""

    ticks: list[Tick]
    """Accepted ticks, in request order, without duplicates."""
    rejected: list[RejectedTick] = []
    duplicates: int = 0
    """Ticks dropped because an earlier tick of the same request had the same id."""


def tick_id(tick: TickCreate) -> str:
    """The tick's id: the client's, else a content hash stable across retries and processes."""
    if tick.id is not None:
        return tick.id
    content = [
        tick.symbol,
        format_timestamp(tick.timestamp),
        repr(tick.price),
        tick.volume,
        tick.data_source,
    ]
    digest = hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()
    return digest[:32]


def accept_tick(tick: TickCreate) -> Tick:
    """The accepted form of a validated tick (its id filled in)."""
    data = dict(tick)
    data["id"] = tick_id(tick)
    return Tick.model_construct(**data)


def tick_bodies(body: Any) -> list[Any]:
    """The raw tick objects of a JSON-decoded request body; `TickBodyError` if unusable."""
    if isinstance(body, Mapping) and "ticks" in body:
        if len(body) != 1:
            raise MalformedTickBodyError('A batch body has only the "ticks" key')
        ticks = body["ticks"]
        if not isinstance(ticks, list):
            raise MalformedTickBodyError('"ticks" should be a list of tick objects')
        if not ticks:
            raise EmptyTickBatchError("A batch needs at least one tick")
        if len(ticks) > MAX_BATCH:
            raise TickBatchTooLargeError(
                f"A batch holds at most {MAX_BATCH} ticks, got {len(ticks)}")
        return ticks
    if isinstance(body, Mapping):
        return [body]
    raise MalformedTickBodyError('The body should be a tick object or {"ticks": [...]}')


def validate_ticks(body: Any, *, now: datetime | None = None) -> TickBatch:
    """Validate a JSON-decoded request body tick by tick.

    Raises `TickBodyError` when the body itself is unusable; otherwise returns the accepted
    ticks, the rejected ones with their errors, and how many duplicates were dropped.
    """
    context = {"now": now or datetime.now(UTC)}
    accepted: list[Tick] = []
    rejected: list[RejectedTick] = []
    seen: set[str] = set()
    duplicates = 0
    for index, raw in enumerate(tick_bodies(body)):
        try:
            tick = TickCreate.model_validate(raw, context=context)
        except ValidationError as exc:
            rejected.append(RejectedTick(index=index, errors=field_errors(exc)))
            continue
        accepted_tick = accept_tick(tick)
        if accepted_tick.id in seen:
            duplicates += 1
            continue
        seen.add(accepted_tick.id)
        accepted.append(accepted_tick)
    return TickBatch(ticks=accepted, rejected=rejected, duplicates=duplicates)


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Pydantic's errors reduced to ``{loc, msg}`` (no input echo, no docs links)."""
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        msg = error["msg"]
        if error["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        errors.append(FieldError(loc=list(error["loc"]), msg=msg))
    return errors


class TickReceipt(BaseModel):
    """Response of POST /stocks/ticks: what was recorded and what was refused.

    ``duplicates`` counts repeats within the request; a retried request is recorded again under
    the same ids and keys, so it changes nothing downstream.
    """

    accepted: int
    duplicates: int
    rejected: list[RejectedTick]
    batch_id: str | None = None
    """Names the request's archive objects (``raw/.../<batch_id>.json.gz``); None if nothing
    was accepted."""


class CuratedTick(BaseModel):
    """A tick as the curated table keeps it: what queries need (the archive has the rest)."""

    symbol: str
    timestamp: Timestamp
    id: str
    price: float
    volume: int | None = None
    exchange: str | None = None


class TickPage(BaseModel):
    """One page of a symbol's curated ticks in time order; pass ``next_cursor`` as ``cursor``."""

    items: list[CuratedTick]
    next_cursor: str | None = None


class SymbolSummary(BaseModel):
    """A symbol the service has recorded ticks for."""

    symbol: str
    first_tick_at: Timestamp
    last_tick_at: Timestamp
    tick_count: int
    """Ticks recorded; a retried request is counted once."""


class SymbolList(BaseModel):
    items: list[SymbolSummary]


class RecordedTick(BaseModel):
    """A tick as the ``stock.ticks.recorded`` event carries it: what analytics need."""

    id: str
    timestamp: Timestamp
    price: float
    volume: int | None = None


class TicksRecorded(BaseModel):
    """Data of ``stock.ticks.recorded``: one symbol's ticks of one request, in time order."""

    symbol: str
    batch_id: str
    ticks: list[RecordedTick]
