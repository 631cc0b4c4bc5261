"""The AWS call counter counts and times calls through botocore's hooks."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from shared.aws import ApiCallCounter


def operation(service: str, name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, service_model=SimpleNamespace(service_name=service))


def test_calls_are_counted_and_timed_from_request_to_answer(tmp_path: Path) -> None:
    counter, query = ApiCallCounter(), operation("dynamodb", "Query")
    contexts = [{} for _ in range(3)]
    for context in contexts:
        counter._on_call(model=query, context=context)
    for context in contexts[:2]:  # the third never answers (it failed before parsing)
        counter._on_answer(model=query, context=context)
    counter._on_answer(model=operation("sns", "Publish"), context={})  # never started

    counter.write(tmp_path / "counts.json")
    document = json.loads((tmp_path / "counts.json").read_text())
    assert document["calls"] == {"dynamodb.Query": 3}
    assert set(document["latency_ms"]) == {"dynamodb.Query"}
    assert 0 <= document["latency_ms"]["dynamodb.Query"]["p50"] <= \
        document["latency_ms"]["dynamodb.Query"]["p99"] < 1000
    assert len(counter.seconds["dynamodb.Query"]) == 2
