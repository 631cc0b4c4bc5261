"""CloudEvents envelope, event types, FIFO dedup ids and body parsing (``shared.events``)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError
from structlog.contextvars import bound_contextvars

from shared.events import CloudEvent, event_type, new_event, parse_event

CREATED = "dev.regatta.recipes.recipe.created.v1"


def make_event(**overrides: object) -> CloudEvent:
    fields: dict[str, object] = {"source": "/recipes", "type": CREATED,
                                 "data": {"recipe_id": "r-1", "title": "Soup"}}
    fields.update(overrides)
    return CloudEvent(**fields)


def test_event_type_is_reverse_dns_and_versioned() -> None:
    """Event types read dev.regatta.<service>.<name>.v<version>."""
    assert event_type("recipes", "recipe.created") == CREATED
    assert event_type("media-jobs", "media.job.failed", 2) == (
        "dev.regatta.media-jobs.media.job.failed.v2")


def test_cloud_event_defaults() -> None:
    """A new event gets specversion 1.0, a unique id, a UTC time and JSON content type."""
    first, second = make_event(), make_event()

    assert first.specversion == "1.0"
    assert first.datacontenttype == "application/json"
    assert first.id and first.id != second.id
    assert first.time.tzinfo is not None and first.time.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - first.time).total_seconds()) < 60


def test_to_json_is_cloudevents_json_without_nulls() -> None:
    """The JSON form carries the required attributes and leaves unset optionals out."""
    event = make_event(id="e-1", subject="r-1")

    document = json.loads(event.to_json())

    assert document["specversion"] == "1.0"
    assert document["id"] == "e-1"
    assert document["source"] == "/recipes"
    assert document["type"] == CREATED
    assert document["subject"] == "r-1"
    assert document["data"] == {"recipe_id": "r-1", "title": "Soup"}
    assert "correlationid" not in document and "traceparent" not in document
    assert datetime.fromisoformat(document["time"]) == event.time


def test_json_round_trip_keeps_everything() -> None:
    """parse_event(to_json()) gives back an equal event, extensions included."""
    event = make_event(correlationid="c-1", traceparent="00-abc-def-01", partitionkey="AAPL",
                       customext="kept")

    assert parse_event(event.to_json()) == event
    assert parse_event(event.to_json().encode()).model_extra == {"customext": "kept"}


def test_key_is_source_and_id() -> None:
    """Event identity (idempotency key) is (source, id), per CloudEvents."""
    assert make_event(id="e-1").key == "/recipes#e-1"
    assert make_event(id="e-1").key != make_event(id="e-1", source="/meetings").key


def test_dedup_id_is_deterministic_from_source_and_id() -> None:
    """The FIFO dedup id depends on (source, id) only: a re-publish of the event matches."""
    original = make_event(id="e-1")
    republished = make_event(id="e-1", data={"different": "payload"},
                             time=datetime(2020, 1, 1, tzinfo=UTC))

    assert original.dedup_id() == republished.dedup_id()
    assert original.dedup_id() != make_event(id="e-2").dedup_id()
    assert original.dedup_id() != make_event(id="e-1", source="/meetings").dedup_id()
    # SQS allows up to 128 characters of [A-Za-z0-9] and punctuation.
    assert re.fullmatch(r"[0-9a-f]{1,128}", original.dedup_id())


def test_new_event_carries_the_correlation_id_from_the_log_context() -> None:
    """An event created while handling a request carries that request's id along."""
    with bound_contextvars(request_id="req-7", traceparent="00-trace-span-01"):
        event = new_event("/recipes", CREATED, {"recipe_id": "r-1"}, subject="r-1")

    assert event.correlationid == "req-7"
    assert event.traceparent == "00-trace-span-01"
    assert event.subject == "r-1"


def test_new_event_prefers_the_correlation_id_of_the_handled_event() -> None:
    """Inside a consumer, the incoming event's correlation id wins over a request id."""
    with bound_contextvars(request_id="req-7", correlation_id="corr-1"):
        event = new_event("/trend", "dev.regatta.trend.trend.signal.detected.v1", {})

    assert event.correlationid == "corr-1"


def test_parse_event_reads_a_raw_sqs_body() -> None:
    """A raw-delivery SQS body is the event JSON itself."""
    event = make_event(id="e-raw")

    assert parse_event(event.to_json()).id == "e-raw"


def test_parse_event_unwraps_an_sns_envelope() -> None:
    """With raw delivery off, SQS receives SNS's envelope; the event is its Message."""
    event = make_event(id="e-sns")
    envelope = {"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:x",
                "Message": event.to_json(), "Timestamp": "2025-01-01T00:00:00Z"}

    assert parse_event(orjson.dumps(envelope)) == event


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[1, 2]",
        "null",
        '{"source": "/recipes"}',
        '{"source": "/recipes", "type": ""}',
        '{"source": "", "type": "t"}',
        '{"source": "/recipes", "type": "t", "id": ""}',
        '{"source": "/recipes", "type": "t", "specversion": "0.3"}',
        '{"Type": "Notification", "Message": "not json"}',
        '{"Type": "Notification"}',
    ],
)
def test_invalid_bodies_raise(body: str) -> None:
    """A body that is not a CloudEvent raises (the worker turns that into a record failure)."""
    with pytest.raises((ValueError, ValidationError, KeyError)):
        parse_event(body)


def test_events_are_immutable() -> None:
    """A received event cannot be changed by a handler by accident."""
    event = make_event()

    with pytest.raises(ValidationError):
        event.id = "other"  # type: ignore[misc]


def test_an_event_source_builds_its_events_in_one_call() -> None:
    """EventSource.event types, sources and addresses an event; a pydantic model travels as
    its JSON dump; a ``fact`` gives the same id every time, without one the id is random."""
    from pydantic import BaseModel

    from shared.outbox import EventSource

    class Dish(BaseModel):
        id: str
        made: datetime

    source = EventSource(service="recipes", topic="recipes-events")
    dish = Dish(id="r-1", made=datetime(2026, 1, 2, tzinfo=UTC))
    event = source.event("recipe.created", dish, subject=dish.id, fact=("r-1", "1"))

    assert (event.source, event.type, event.subject) == ("regatta/recipes", CREATED, "r-1")
    assert event.data == {"id": "r-1", "made": "2026-01-02T00:00:00Z"}
    assert event.id == source.fact_id("r-1", "1")
    assert source.event("recipe.created", {}, subject="r-1", fact=("r-1", "1")).id == event.id
    assert source.event("recipe.created", {}, subject="r-1").id != event.id
