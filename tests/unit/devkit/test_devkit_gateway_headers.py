"""What the local gateway hands a service, as the ALB does in AWS (devkit.gateway)."""

from __future__ import annotations

import re
import time

from starlette.requests import Request

from devkit.gateway import _forward_headers


def request(*headers: tuple[bytes, bytes]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/recipes", "scheme": "http",
                    "query_string": b"", "client": ("203.0.113.9", 5000),
                    "headers": [(b"host", b"localhost:8000"), (b"connection", b"keep-alive"),
                                *headers]})


def test_the_callers_headers_pass_without_hop_by_hop_ones() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    sent = _forward_headers(request((b"traceparent", traceparent.encode()),
                                    (b"x-forwarded-for", b"198.51.100.1")))
    assert sent["traceparent"] == traceparent
    assert "connection" not in sent and "host" not in sent
    assert sent["x-forwarded-for"] == "198.51.100.1, 203.0.113.9"
    assert sent["x-forwarded-host"] == "localhost:8000" and sent["x-forwarded-proto"] == "http"


def test_a_request_gets_an_albs_trace_root_of_its_own() -> None:
    first, second = (_forward_headers(request())["x-amzn-trace-id"] for _ in range(2))
    match = re.fullmatch(r"Root=1-([0-9a-f]{8})-[0-9a-f]{24}", first)
    assert match and abs(int(match.group(1), 16) - time.time()) < 60
    assert first != second


def test_a_callers_trace_header_is_kept() -> None:
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    assert _forward_headers(request((b"x-amzn-trace-id", header.encode())))[
        "x-amzn-trace-id"] == header
