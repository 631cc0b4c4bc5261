"""The topology schema and its cross-references (``shared.topology``), without AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.errors import TopologyError
from shared.topology import TOPOLOGY_PATH, Topology, dlq_name, load_topology


def topology(**sections: Any) -> Topology:
    return Topology.model_validate(sections)


def test_minimal_topology_is_valid() -> None:
    """A topic with a subscribed queue, a table and a notifying bucket validate together."""
    model = topology(
        topics={"orders": {"owner": "shop"}, "ticks.fifo": {"owner": "feed", "fifo": True}},
        queues={
            "orders-mail": {"owner": "mail", "subscriptions": [
                {"topic": "orders", "event_types": ["dev.regatta.shop.order.placed.v1"]}]},
            "ticks.fifo": {"owner": "trend", "fifo": True, "subscriptions": [
                {"topic": "ticks.fifo", "event_types": ["t"]}]},
            "uploads": {"owner": "media", "sources": [{"bucket": "inbox"}]},
        },
        tables={"orders": {"owner": "shop", "hash_key": {"name": "id"}}},
        buckets={"inbox": {"owner": "media", "notifications": [{"queue": "uploads"}]}},
    )

    assert model.queues["orders-mail"].visibility_timeout == 30
    assert model.queues["orders-mail"].max_receive_count == 5
    assert model.tables["orders"].hash_key.type == "S"
    assert model.owned_by("media") == {"topics": [], "queues": ["uploads"], "tables": [],
                                       "buckets": ["inbox"]}


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"topics": {"ticks": {"owner": "x", "fifo": True}}}, "end in .fifo"),
        ({"topics": {"ticks.fifo": {"owner": "x"}}}, "end in .fifo"),
        ({"queues": {"jobs": {"owner": "x", "fifo": True}}}, "end in .fifo"),
        ({"queues": {"jobs.fifo": {"owner": "x"}}}, "end in .fifo"),
        ({"queues": {"q": {"owner": "x", "subscriptions": [{"topic": "nope",
                                                              "event_types": ["t"]}]}}},
         "unknown topic nope"),
        ({"topics": {"t.fifo": {"owner": "x", "fifo": True}},
          "queues": {"q": {"owner": "x", "subscriptions": [{"topic": "t.fifo",
                                                              "event_types": ["t"]}]}}},
         "FIFO topics deliver to FIFO queues only"),
        ({"topics": {"t": {"owner": "x"}},
          "queues": {"q.fifo": {"owner": "x", "fifo": True,
                                "subscriptions": [{"topic": "t", "event_types": ["t"]}]}}},
         "FIFO topics deliver to FIFO queues only"),
        ({"queues": {"q": {"owner": "x", "sources": [{"bucket": "nope"}]}}},
         "unknown bucket nope"),
        ({"buckets": {"b": {"owner": "x", "notifications": [{"queue": "nope"}]}}},
         "unknown queue nope"),
    ],
)
def test_inconsistent_topology_is_rejected(sections: dict[str, Any], message: str) -> None:
    """FIFO naming and every cross-reference (topic, bucket, queue) are checked."""
    with pytest.raises(ValidationError, match=message):
        topology(**sections)


@pytest.mark.parametrize(
    "sections",
    [
        {"topics": {"t": {"owner": "x", "colour": "red"}}},
        {"queues": {"q": {"owner": "x", "visibility_timeout": 43201}}},
        {"queues": {"q": {"owner": "x", "max_receive_count": 0}}},
        {"topics": {"t": {"owner": "x"}},
         "queues": {"q": {"owner": "x", "subscriptions": [{"topic": "t", "event_types": []}]}}},
        {"tables": {"t": {"owner": "x", "hash_key": {"name": "id", "type": "X"}}}},
        {"tables": {"t": {"owner": "x"}}},
        {"buckets": {"b": {"owner": "x", "cors": {"allowed_origins": ["*"],
                                                  "allowed_methods": ["PUT"],
                                                  "exposed_headers": ["ETag"]}}}},
        {"buckets": {"b": {"owner": "x", "cors": {"allowed_origins": ["*"],
                                                  "allowed_methods": ["PUT"],
                                                  "expose_headers": "ETag"}}}},
        {"queus": {}},
    ],
)
def test_malformed_entries_are_rejected(sections: dict[str, Any]) -> None:
    """Unknown fields, out-of-range limits and empty filters are schema errors."""
    with pytest.raises(ValidationError):
        topology(**sections)


def test_repository_topology_loads() -> None:
    """infra/topology.yaml is valid and declares what the services rely on."""
    model = load_topology()

    assert model.topics["stock-ticks.fifo"].fifo
    assert model.queues["trend-ticks.fifo"].fifo
    assert model.queues["media-jobs-uploads"].sources[0].bucket == "media-source"
    for name, queue in model.queues.items():
        assert queue.subscriptions or queue.sources, f"{name} receives nothing"
    for table in ("recipes-idempotency", "meetings-idempotency", "trend-idempotency",
                  "media-idempotency"):
        assert model.tables[table].ttl == "expires_at"


def test_cors_exposes_no_header_unless_declared() -> None:
    """A CORS rule lets scripts read only the response headers it names (S3's
    ExposeHeaders); none by default."""
    model = topology(buckets={
        "inbox": {"owner": "media", "cors": {"allowed_origins": ["*"],
                                             "allowed_methods": ["PUT"],
                                             "expose_headers": ["ETag"]}},
        "outbox": {"owner": "media", "cors": {"allowed_origins": ["*"],
                                              "allowed_methods": ["GET"]}},
    })

    assert model.buckets["inbox"].cors is not None
    assert model.buckets["inbox"].cors.expose_headers == ["ETag"]
    assert model.buckets["outbox"].cors is not None
    assert model.buckets["outbox"].cors.expose_headers == []


def test_browser_uploads_can_read_the_part_etags() -> None:
    """The media source bucket takes presigned PUTs from browsers, and a multipart upload
    completes only with each part's ETag: its CORS rule exposes that header."""
    cors = load_topology().buckets["media-source"].cors

    assert cors is not None
    assert "PUT" in cors.allowed_methods
    assert "ETag" in cors.expose_headers


def test_repository_topology_is_loaded_from_infra() -> None:
    """The default path is the repository's infra/topology.yaml."""
    assert TOPOLOGY_PATH.parts[-2:] == ("infra", "topology.yaml")
    assert TOPOLOGY_PATH.is_file()


@pytest.mark.parametrize("text", ["topics: [", "topics:\n  t: {fifo: true}\n", "- 1\n"])
def test_bad_topology_file_is_a_topology_error(tmp_path: Path, text: str) -> None:
    """A broken YAML file or schema violation is reported as TopologyError naming the file."""
    path = tmp_path / "topology.yaml"
    path.write_text(text)

    with pytest.raises(TopologyError, match="topology.yaml"):
        load_topology(path)


def test_missing_topology_file_is_a_topology_error(tmp_path: Path) -> None:
    """A missing file is a TopologyError too, not an OSError."""
    with pytest.raises(TopologyError):
        load_topology(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("queue", "dlq"),
    [("recipes-search-index", "recipes-search-index-dlq"),
     ("trend-ticks.fifo", "trend-ticks-dlq.fifo")],
)
def test_dlq_name(queue: str, dlq: str) -> None:
    """A DLQ is named after its queue; a FIFO queue's DLQ is FIFO too (.fifo stays last)."""
    assert dlq_name(queue) == dlq


def test_a_lifecycle_rule_filters_by_a_tag_or_a_prefix_not_both() -> None:
    """The insights lake ages raw/ by key prefix; the media sources by tag."""
    lake = load_topology().buckets["insights-lake"]
    assert [(r.prefix, r.transition.days, r.transition.storage_class) for r in lake.lifecycle] \
        == [("raw/", 30, "STANDARD_IA"), ("raw/", 90, "GLACIER")]
    with pytest.raises(ValidationError, match="a tag or a prefix"):
        Topology.model_validate({"buckets": {"b": {"owner": "x", "lifecycle": [
            {"id": "r", "tag": {"key": "k", "value": "v"}, "prefix": "raw/",
             "transition": {"days": 1, "storage_class": "GLACIER"}}]}}})
