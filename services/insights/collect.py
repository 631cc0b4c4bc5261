"""The collector's rules (no I/O): validate each event of a batch on its own, derive ids,
count duplicates, and build the rows of the lake's raw zone (``raw/web`` and ``raw/bad``).

Validation is hand-written over the dicts orjson parses: each event is checked on its own (a
bad one becomes a bad row with every reason, the rest of its batch is accepted), with rules a
plain schema does not hold (a path's form, an absolute referrer, the timestamp's skew) and the
row built in the same pass. Measured (bench data, best of 15): 3.8 us per event for the whole
pass (validation, row, derived id); pydantic's `EventIn` alone, the shape without those rules,
1.2 us. Either is a small part of the API's 25-28 us of CPU per accepted event (HTTP, JSON,
gzip, S3), so the single pass stays; docs/services/insights.md has the figures.
`services.insights.models.EventIn` documents the accepted shape in OpenAPI.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import urlsplit

import orjson

from shared.errors import UnprocessableError

MAX_EVENTS = 500
MAX_BODY_BYTES = 512 * 1024
MAX_PATH = 2048
MAX_REFERRER = 2048
MAX_NAME = 200
MAX_ID = 128
MAX_PROPERTIES = 50
MAX_PROPERTY_KEY = 100
MAX_PROPERTY_TEXT = 1000
BAD_PAYLOAD_BYTES = 8 * 1024
EVENT_FIELDS = frozenset({"type", "name", "path", "referrer", "properties", "timestamp", "id"})
# Printable text only: no control characters in a path, name or id.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def iso_ms(moment: datetime) -> str:
    """``2026-12-07T10:11:12.345Z``: UTC, milliseconds (the lake's timestamp format)."""
    m = moment.astimezone(UTC)
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:"
            f"{m.second:02d}.{m.microsecond // 1000:03d}Z")


@dataclass
class Context:
    """What the server knows of one request, the same for each of its events."""

    received_at: datetime
    visitor: str | None
    country: str | None
    browser: str | None
    os: str | None
    device: str
    bot: bool
    site: str
    # Stands in for the visitor in derived ids when there is none (DNT, bots): events of one
    # request still collapse, a retried request does not (nothing links it to the first).
    nonce: str
    max_future: timedelta = timedelta(minutes=5)
    max_past: timedelta = timedelta(days=7)

    @cached_property
    def received(self) -> str:
        """``received_at`` as the lake writes it (once per request, not per event)."""
        return iso_ms(self.received_at)


@dataclass
class Batch:
    """The outcome of one request's events: rows to write and what to answer."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    bad: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0

    @property
    def accepted(self) -> int:
        return len(self.rows)


class BodyError(UnprocessableError):
    """The request body as a whole is not an event or a batch of events (422)."""


def events_of(body: bytes) -> list[Any]:
    """The events of a request body: one event, or ``{"events": [...]}`` (1..500)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError("the body is not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise BodyError("the body must be an event or {\"events\": [...]}")
    if "events" not in parsed:
        return [parsed]
    if set(parsed) != {"events"}:
        raise BodyError("a batch holds only \"events\"")
    events = parsed["events"]
    if not isinstance(events, list):
        raise BodyError("\"events\" must be a list")
    if not events:
        raise BodyError("\"events\" is empty")
    if len(events) > MAX_EVENTS:
        raise BodyError(f"at most {MAX_EVENTS} events per request, not {len(events)}")
    return events


def _text(value: object, loc: str, errors: list[dict[str, str]], *, limit: int,
          required: bool) -> str | None:
    if value is None:
        if required:
            errors.append({"loc": loc, "msg": "field required"})
        return None
    if not isinstance(value, str):
        errors.append({"loc": loc, "msg": "must be a string"})
        return None
    if not value:
        if required:
            errors.append({"loc": loc, "msg": "must not be empty"})
        return None
    if len(value) > limit:
        errors.append({"loc": loc, "msg": f"at most {limit} characters"})
        return None
    if CONTROL.search(value):
        errors.append({"loc": loc, "msg": "must not hold control characters"})
        return None
    return value


def clean_path(value: object, errors: list[dict[str, str]], loc: str = "path") -> str | None:
    """A page path: starts with ``/``, printable, at most 2048 characters; its query string
    and fragment are dropped (they may hold personal data)."""
    path = _text(value, loc, errors, limit=MAX_PATH, required=True)
    if path is None:
        return None
    if not path.startswith("/") or path.startswith("//"):
        errors.append({"loc": loc, "msg": "must start with a single /"})
        return None
    if " " in path:
        errors.append({"loc": loc, "msg": "must not hold spaces"})
        return None
    return path.split("?", 1)[0].split("#", 1)[0]


@lru_cache(maxsize=4096)
def _split_referrer(text: str) -> tuple[str, str] | None:
    # Cached: a site's referrers repeat (search engines, its own pages).
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or " " in text:
        return None
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path}", host


def _referrer(value: object, errors: list[dict[str, str]]) -> tuple[str | None, str | None]:
    if value is None or value == "":
        return None, None
    text = _text(value, "referrer", errors, limit=MAX_REFERRER, required=False)
    if text is None:
        return None, None
    split = _split_referrer(text)
    if split is None:
        errors.append({"loc": "referrer", "msg": "must be an absolute http(s) URL"})
        return None, None
    return split


def _properties(value: object, errors: list[dict[str, str]]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append({"loc": "properties", "msg": "must be an object"})
        return {}
    if len(value) > MAX_PROPERTIES:
        errors.append({"loc": "properties", "msg": f"at most {MAX_PROPERTIES} keys"})
        return {}
    for key, item in value.items():
        loc = f"properties.{key[:MAX_PROPERTY_KEY]}"
        if not key or len(key) > MAX_PROPERTY_KEY or CONTROL.search(key):
            errors.append({"loc": loc, "msg": f"keys are 1..{MAX_PROPERTY_KEY} printable "
                                              "characters"})
        elif item is None or isinstance(item, bool | int):
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):  # orjson parses none, but a caller of this may pass one
                errors.append({"loc": loc, "msg": "must be a finite number"})
        elif isinstance(item, str):
            if len(item) > MAX_PROPERTY_TEXT:
                errors.append({"loc": loc, "msg": f"at most {MAX_PROPERTY_TEXT} characters"})
        else:
            errors.append({"loc": loc, "msg": "values are strings, numbers, booleans or null "
                                              "(a flat object)"})
    return value


def _timestamp(value: object, context: Context, errors: list[dict[str, str]]) -> str:
    if value is None:
        return context.received
    if not isinstance(value, str) or len(value) > 40:
        errors.append({"loc": "timestamp", "msg": "must be an ISO-8601 string"})
        return context.received
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors.append({"loc": "timestamp", "msg": "must be an ISO-8601 date and time"})
        return context.received
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # no offset given: UTC
    if moment - context.received_at > context.max_future:
        errors.append({"loc": "timestamp", "msg": "is too far in the future"})
    elif context.received_at - moment > context.max_past:
        errors.append({"loc": "timestamp", "msg": "is too old"})
    return iso_ms(moment)


def derived_id(event: dict[str, Any], who: str) -> str:
    """A stable id for an event sent without one: a hash of its content as sent and of who sent
    it (the day's visitor hash), so the same event sent again the same day has the same id."""
    content = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(content + b"\x00" + who.encode(), digest_size=16).hexdigest()


def validate(event: object, context: Context) -> tuple[dict[str, Any] | None,
                                                      list[dict[str, str]]]:
    """One event as sent -> its raw/web row (without visitor-free fields), or its errors."""
    errors: list[dict[str, str]] = []
    if not isinstance(event, dict):
        return None, [{"loc": "", "msg": "an event must be an object"}]
    unknown = event.keys() - EVENT_FIELDS
    for key in sorted(unknown):
        errors.append({"loc": str(key)[:100], "msg": "unknown field"})
    kind = event.get("type")
    if kind not in ("page", "track"):
        errors.append({"loc": "type", "msg": "must be \"page\" or \"track\""})
    name = event.get("name")
    if kind == "track":
        name = _text(name, "name", errors, limit=MAX_NAME, required=True)
    elif name is not None:
        errors.append({"loc": "name", "msg": "only track events have a name"})
    path = clean_path(event.get("path"), errors)
    referrer, referrer_host = _referrer(event.get("referrer"), errors)
    properties = _properties(event.get("properties"), errors)
    moment = _timestamp(event.get("timestamp"), context, errors)
    event_id = event.get("id")
    if event_id is not None:
        event_id = _text(event_id, "id", errors, limit=MAX_ID, required=True)
    if errors:
        return None, errors
    return {
        "id": event_id or derived_id(event, context.visitor or context.nonce),
        "type": kind,
        "name": name,
        "path": path,
        "referrer": referrer,
        "referrer_host": referrer_host,
        "properties": properties,
        "timestamp": moment,
        "received_at": context.received,
        "visitor": context.visitor,
        "country": context.country,
        "browser": context.browser,
        "os": context.os,
        "device": context.device,
        "bot": context.bot,
        "site": context.site,
    }, []


def bad_row(index: int, event: object, errors: list[dict[str, str]],
            received_at: datetime) -> dict[str, Any]:
    """A rejected event as the raw/bad zone keeps it: the event as sent (JSON, cut at 8 KiB)
    and why."""
    try:
        payload = orjson.dumps(event).decode()
    except TypeError:
        payload = repr(event)
    return {"received_at": iso_ms(received_at), "index": index, "errors": errors,
            "payload": payload.encode()[:BAD_PAYLOAD_BYTES].decode(errors="ignore")}


def collect(events: list[Any], context: Context) -> Batch:
    """Validate every event on its own; keep the first of events with the same id."""
    batch = Batch()
    seen: set[str] = set()
    for index, event in enumerate(events):
        row, errors = validate(event, context)
        if row is None:
            batch.rejected.append({"index": index, "errors": errors})
            batch.bad.append(bad_row(index, event, errors, context.received_at))
        elif row["id"] in seen:
            batch.duplicates += 1
        else:
            seen.add(row["id"])
            batch.rows.append(row)
    return batch
