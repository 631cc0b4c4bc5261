"""The collector's rules: every field's validation, ids, duplicates, bad rows, the body."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from services.insights.collect import (
    BAD_PAYLOAD_BYTES,
    BodyError,
    Context,
    collect,
    derived_id,
    events_of,
    iso_ms,
    validate,
)

NOW = datetime(2026, 12, 7, 10, 11, 12, 345678, tzinfo=UTC)


def context(**changes: Any) -> Context:
    fields: dict[str, Any] = {
        "received_at": NOW, "visitor": "a" * 32, "country": "DE", "browser": "Chrome",
        "os": "Windows", "device": "desktop", "bot": False, "site": "regatta", "nonce": "n1"}
    fields.update(changes)
    return Context(**fields)


def errors_of(event: object, **changes: Any) -> list[dict[str, str]]:
    row, errors = validate(event, context(**changes))
    assert (row is None) == bool(errors)
    return errors


def locs(event: object) -> set[str]:
    return {e["loc"] for e in errors_of(event)}


PAGE = {"type": "page", "path": "/home"}


def test_a_minimal_page_event_becomes_a_full_row() -> None:
    row, errors = validate(PAGE, context())
    assert not errors and row is not None
    assert row == {
        "id": row["id"], "type": "page", "name": None, "path": "/home", "referrer": None,
        "referrer_host": None, "properties": {}, "timestamp": "2026-12-07T10:11:12.345Z",
        "received_at": "2026-12-07T10:11:12.345Z", "visitor": "a" * 32, "country": "DE",
        "browser": "Chrome", "os": "Windows", "device": "desktop", "bot": False,
        "site": "regatta"}
    assert len(row["id"]) == 32


@pytest.mark.parametrize("kind", [None, "", "click", 1, "PAGE"])
def test_type_is_page_or_track(kind: object) -> None:
    assert "type" in locs({**PAGE, "type": kind})


def test_track_needs_a_name_and_page_takes_none() -> None:
    assert "name" in locs({"type": "track", "path": "/p"})
    assert "name" in locs({"type": "track", "path": "/p", "name": ""})
    assert "name" in locs({"type": "track", "path": "/p", "name": "x" * 201})
    assert "name" in locs({"type": "track", "path": "/p", "name": 3})
    assert "name" in locs({"type": "track", "path": "/p", "name": "a\nb"})
    assert "name" in locs({**PAGE, "name": "home"})
    row, _ = validate({"type": "track", "path": "/p", "name": "purchase"}, context())
    assert row is not None and row["name"] == "purchase"


@pytest.mark.parametrize("path", [None, "", "home", "//evil.example/x", "/a b", "/\x00",
                                  "/" + "x" * 2048, 7])
def test_path_must_be_a_printable_path_starting_with_one_slash(path: object) -> None:
    assert "path" in locs({**PAGE, "path": path})


def test_the_query_and_fragment_of_a_path_are_dropped() -> None:
    row, _ = validate({**PAGE, "path": "/search?q=my+email@example.com#top"}, context())
    assert row is not None and row["path"] == "/search"


def test_referrer_is_an_absolute_url_kept_without_its_query() -> None:
    row, _ = validate({**PAGE, "referrer": "https://News.Example.com:8443/a/b?utm=1&mail=x#f"},
                      context())
    assert row is not None
    assert row["referrer"] == "https://news.example.com:8443/a/b"
    assert row["referrer_host"] == "news.example.com"
    row, _ = validate({**PAGE, "referrer": ""}, context())
    assert row is not None and row["referrer"] is None and row["referrer_host"] is None
    for bad in ["news.example.com/a", "ftp://x.example/", "javascript:alert(1)", 5,
                "https://", "http://[::1", "https://" + "x" * 2048]:
        assert "referrer" in locs({**PAGE, "referrer": bad}), bad


def test_properties_are_a_flat_object_of_scalars() -> None:
    good = {"plan": "pro", "qty": 2, "price": 9.5, "new": True, "coupon": None}
    row, _ = validate({**PAGE, "properties": good}, context())
    assert row is not None and row["properties"] == good
    assert "properties" in locs({**PAGE, "properties": [1]})
    assert "properties" in locs({**PAGE, "properties": {f"k{i}": i for i in range(51)}})
    assert "properties.nested" in locs({**PAGE, "properties": {"nested": {"a": 1}}})
    assert "properties.list" in locs({**PAGE, "properties": {"list": [1]}})
    assert "properties.long" in locs({**PAGE, "properties": {"long": "x" * 1001}})
    assert "properties." in locs({**PAGE, "properties": {"": 1}})
    assert "properties.nan" in locs({**PAGE, "properties": {"nan": float("nan")}})


def test_timestamp_is_iso_8601_within_the_skew() -> None:
    row, _ = validate({**PAGE, "timestamp": "2026-12-07T11:00:00+01:00"}, context())
    assert row is not None and row["timestamp"] == "2026-12-07T10:00:00.000Z"
    row, _ = validate({**PAGE, "timestamp": "2026-12-07T09:00:00.5"}, context())
    assert row is not None and row["timestamp"] == "2026-12-07T09:00:00.500Z"  # no offset: UTC
    assert "timestamp" in locs({**PAGE, "timestamp": "yesterday"})
    assert "timestamp" in locs({**PAGE, "timestamp": 1733566272})
    future = iso_ms(NOW + timedelta(minutes=6))
    assert "timestamp" in locs({**PAGE, "timestamp": future})
    old = iso_ms(NOW - timedelta(days=8))
    assert "timestamp" in locs({**PAGE, "timestamp": old})
    assert not errors_of({**PAGE, "timestamp": iso_ms(NOW - timedelta(days=8))},
                         max_past=timedelta(days=60))


def test_id_is_the_clients_or_derived_from_content_and_visitor() -> None:
    row, _ = validate({**PAGE, "id": "msg-1"}, context())
    assert row is not None and row["id"] == "msg-1"
    assert "id" in locs({**PAGE, "id": ""})
    assert "id" in locs({**PAGE, "id": "x" * 129})
    assert "id" in locs({**PAGE, "id": 12})
    first, _ = validate(PAGE, context(received_at=NOW))
    retried, _ = validate(dict(reversed(list(PAGE.items()))),
                          context(received_at=NOW + timedelta(seconds=30), nonce="other"))
    other_visitor, _ = validate(PAGE, context(visitor="b" * 32))
    assert first and retried and other_visitor
    assert first["id"] == retried["id"] != other_visitor["id"]
    # Without a visitor (DNT, bots) the request's nonce stands in: a retry is not linked.
    dnt_a, _ = validate(PAGE, context(visitor=None, nonce="n1"))
    dnt_b, _ = validate(PAGE, context(visitor=None, nonce="n2"))
    assert dnt_a and dnt_b and dnt_a["id"] != dnt_b["id"]
    assert derived_id(PAGE, "v") == derived_id({"path": "/home", "type": "page"}, "v")


def test_unknown_fields_and_non_objects_are_rejected() -> None:
    assert "ip" in locs({**PAGE, "ip": "1.2.3.4"})
    assert errors_of([PAGE]) == [{"loc": "", "msg": "an event must be an object"}]
    assert errors_of("page")


def test_one_bad_event_does_not_reject_the_batch_and_keeps_its_reasons() -> None:
    events = [PAGE, {"type": "page", "path": "nope"}, {**PAGE, "id": "x"}, {**PAGE, "id": "x"},
              PAGE]
    batch = collect(events, context())
    assert batch.accepted == 2 and batch.duplicates == 2
    assert batch.rejected == [{"index": 1, "errors": [
        {"loc": "path", "msg": "must start with a single /"}]}]
    [bad] = batch.bad
    assert bad["index"] == 1 and bad["errors"] == batch.rejected[0]["errors"]
    assert orjson.loads(bad["payload"]) == {"type": "page", "path": "nope"}
    assert bad["received_at"] == "2026-12-07T10:11:12.345Z"


def test_a_bad_rows_payload_is_cut_at_8_kib() -> None:
    huge = {"type": "page", "path": "/", "properties": {"k": "x" * 20_000}}
    [bad] = collect([huge], context()).bad
    assert len(bad["payload"].encode()) <= BAD_PAYLOAD_BYTES


def test_the_body_is_one_event_or_a_batch_of_up_to_500() -> None:
    assert events_of(b'{"type": "page", "path": "/"}') == [{"type": "page", "path": "/"}]
    assert len(events_of(orjson.dumps({"events": [PAGE] * 500}))) == 500
    for body in [b"not json", b"[]", b'"x"', b'{"events": []}', b'{"events": {}}',
                 orjson.dumps({"events": [PAGE] * 501}), b'{"events": [], "x": 1}']:
        with pytest.raises(BodyError):
            events_of(body)
