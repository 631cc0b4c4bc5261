"""Traces across the event path, trace ids in log lines, metrics as EMF lines (shared.telemetry,
shared.metrics)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import structlog
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from structlog.contextvars import bound_contextvars

from shared import telemetry
from shared.events import CloudEvent
from shared.metrics import MAX_SAMPLES, MetricsWindow, emf_document
from shared.outbox import EventSource
from shared.telemetry import JsonLinesSpanExporter, add_trace_ids, current_traceparent
from shared.worker import Outcome, PerBatch, PerRecord, Record, SqsWorker

SOURCE = EventSource(service="recipes", topic="recipes-events")
TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"


@pytest.fixture(autouse=True)
def telemetry_off() -> Iterator[None]:
    """Each test starts with tracing and metrics off (an app built by another test may have
    turned metrics on in this process) and leaves them as it found them."""
    saved = (telemetry._provider, telemetry._metrics, telemetry._service)
    telemetry.install_tracer_provider(None)
    telemetry.install_metrics(None, "")
    yield
    telemetry.install_tracer_provider(saved[0])
    telemetry.install_metrics(saved[1], saved[2])


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, spans kept in memory; off again afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "recipes-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install_tracer_provider(provider)
    yield exporter
    telemetry.install_tracer_provider(None)


@pytest.fixture
def metric_lines() -> Iterator[tuple[MetricsWindow, list[dict[str, Any]]]]:
    """Metrics on, every written EMF line parsed into the list; off again afterwards."""
    lines: list[dict[str, Any]] = []
    window = MetricsWindow(lambda data: lines.extend(
        orjson.loads(line) for line in data.splitlines()), rng=random.Random(7))
    telemetry.install_metrics(window, "recipes")
    yield window, lines
    telemetry.install_metrics(None, "")


def event(**extra: Any) -> CloudEvent:
    fields: dict[str, Any] = {"subject": "r-1", "data": {"id": "r-1"}, **extra}
    return CloudEvent(source="regatta/recipes", type=SOURCE.type_of("recipe.created"),
                      **fields)


class SettlingSqs:
    """An SQS stand-in that accepts whatever the worker settles a batch with."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    async def delete_message_batch(self, **request: Any) -> dict[str, Any]:
        self.deleted += [e["ReceiptHandle"] for e in request["Entries"]]
        return {}

    async def change_message_visibility_batch(self, **_: Any) -> dict[str, Any]:
        return {}


def record(body: CloudEvent, receive_count: int = 1) -> Record[Any]:
    return Record(message_id=f"m-{body.id}", receipt_handle=f"h-{body.id}",
                  body=body.to_json(), receive_count=receive_count, group_id=None)


# --- traceparent ------------------------------------------------------------------------


def test_an_event_built_in_a_span_carries_that_span_as_traceparent(spans: Any) -> None:
    """GIVEN a current span (an HTTP request's), WHEN the store builds an event, THEN the
    event's traceparent names that span's trace and span."""
    tracer = telemetry._tracer
    assert tracer is not None
    with tracer.start_as_current_span("POST /recipes") as span:
        built = SOURCE.event("recipe.created", {"id": "r-1"}, subject="r-1")
    context = span.get_span_context()
    assert built.traceparent == (f"00-{context.trace_id:032x}-{context.span_id:016x}-"
                                 f"{int(context.trace_flags):02x}")


def test_without_a_span_an_event_keeps_the_traceparent_being_handled() -> None:
    """Tracing off: the event handled (bound in the log context) lends its traceparent, as
    before telemetry existed; with neither, the event has none."""
    assert current_traceparent() is None
    with bound_contextvars(traceparent=f"00-{TRACE}-{PARENT}-01"):
        assert SOURCE.event("x", {}, subject="s").traceparent == f"00-{TRACE}-{PARENT}-01"
    assert SOURCE.event("x", {}, subject="s").traceparent is None


async def test_the_worker_continues_the_events_trace_and_passes_it_on(spans: Any) -> None:
    """GIVEN an event whose traceparent names a span of another process, WHEN a worker handles
    it, THEN the handler runs in a consumer span that is that span's child, and an event the
    handler builds carries the worker's span."""
    emitted: list[CloudEvent] = []

    async def handler(incoming: CloudEvent) -> None:
        emitted.append(SOURCE.event("recipe.indexed", {}, subject=incoming.subject or ""))

    worker: SqsWorker[Any] = SqsWorker(SettlingSqs(), "http://sqs/q", PerRecord(handler),
                                       name="recipes-search-index")
    incoming = event(traceparent=f"00-{TRACE}-{PARENT}-01")
    (done,) = await worker.process([record(incoming)])

    assert done.outcome is Outcome.SUCCEEDED
    (span,) = spans.get_finished_spans()
    assert span.name == "process recipes-search-index" and span.kind is SpanKind.CONSUMER
    assert f"{span.context.trace_id:032x}" == TRACE
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT
    assert span.attributes["cloudevents.event_id"] == incoming.id
    assert emitted[0].traceparent.startswith(f"00-{TRACE}-{span.context.span_id:016x}-")


async def test_a_failed_handler_marks_its_span_failed(spans: Any) -> None:
    """A handler that raises leaves an error status and the exception on its span."""
    async def handler(_: CloudEvent) -> None:
        raise RuntimeError("index unavailable")

    worker: SqsWorker[Any] = SqsWorker(SettlingSqs(), "http://sqs/q", PerRecord(handler), name="q")
    (done,) = await worker.process([record(event(traceparent=f"00-{TRACE}-{PARENT}-01"))])

    assert done.outcome is Outcome.FAILED
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


async def test_an_event_without_traceparent_starts_a_trace(spans: Any) -> None:
    """An event from before tracing (no traceparent) is handled in a new root span."""
    async def handler(_: CloudEvent) -> None:
        return None

    worker: SqsWorker[Any] = SqsWorker(SettlingSqs(), "http://sqs/q", PerRecord(handler), name="q")
    await worker.process([record(event())])
    (span,) = spans.get_finished_spans()
    assert span.parent is None and span.context.trace_id != int(TRACE, 16)


async def test_a_batch_span_continues_the_first_trace_and_links_the_others(spans: Any) -> None:
    """A batch handler call is one consumer span: the child of the first event's traceparent,
    linked to the other events' spans."""
    other = "1" * 32

    async def handler(events: Any) -> list[Outcome]:
        return [Outcome.SUCCEEDED] * len(events)

    worker: SqsWorker[Any] = SqsWorker(SettlingSqs(), "http://sqs/q", PerBatch(handler),
                                       name="trend-ticks.fifo")
    await worker.process([record(event(traceparent=f"00-{TRACE}-{PARENT}-01")),
                          record(event(traceparent=f"00-{other}-{PARENT}-01"))])
    (span,) = spans.get_finished_spans()
    assert span.name == "process trend-ticks.fifo"
    assert f"{span.context.trace_id:032x}" == TRACE
    assert [f"{link.context.trace_id:032x}" for link in span.links] == [other]


# --- log lines --------------------------------------------------------------------------


def test_log_lines_in_a_span_carry_its_trace_and_span_ids(spans: Any) -> None:
    """The processor adds trace_id/span_id inside a span and nothing outside one."""
    tracer = telemetry._tracer
    assert tracer is not None
    with tracer.start_as_current_span("work") as span:
        inside = add_trace_ids(None, "info", {"event": "x"})
    outside = add_trace_ids(None, "info", {"event": "y"})
    context = span.get_span_context()
    assert inside == {"event": "x", "trace_id": f"{context.trace_id:032x}",
                      "span_id": f"{context.span_id:016x}"}
    assert outside == {"event": "y"}


def test_configured_logging_adds_the_ids(spans: Any) -> None:
    """configure_logging puts the processor in the chain: a JSON line logged in a span has
    the span's ids (the configured chain run on one event)."""
    from shared.logging import configure_logging

    configure_logging("INFO", "json")
    try:
        processors = structlog.get_config()["processors"]
    finally:
        # Back to structlog's defaults: loggers first used under this configuration would
        # cache it, and capture_logs in later tests of this process would see nothing.
        structlog.reset_defaults()
    tracer = telemetry._tracer
    assert tracer is not None
    assert add_trace_ids in processors
    with tracer.start_as_current_span("work") as span:
        line: Any = {"event": "hello"}
        for processor in processors:
            line = processor(None, "info", line)
    context = span.get_span_context()
    assert orjson.loads(line)["trace_id"] == f"{context.trace_id:032x}"
    assert orjson.loads(line)["span_id"] == f"{context.span_id:016x}"


# --- EMF --------------------------------------------------------------------------------


def test_an_emf_document_declares_its_metrics_and_dimensions() -> None:
    """The _aws block names the namespace, dimension sets and each metric with its unit; the
    dimension values and metric values are top-level fields."""
    document = emf_document({"Service": "recipes", "Queue": "q"}, [("Service", "Queue")],
                            {"RecordsFailed": 2, "HandlerDuration": [1.5, 2.0]},
                            timestamp_ms=1_765_000_000_000)
    assert document == {
        "_aws": {"Timestamp": 1_765_000_000_000, "CloudWatchMetrics": [{
            "Namespace": "Regatta", "Dimensions": [["Service", "Queue"]],
            "Metrics": [{"Name": "RecordsFailed", "Unit": "Count"},
                        {"Name": "HandlerDuration", "Unit": "Milliseconds"}]}]},
        "Service": "recipes", "Queue": "q", "RecordsFailed": 2, "HandlerDuration": [1.5, 2.0],
    }


def test_a_dimension_set_must_name_given_dimensions() -> None:
    """A dimension set naming a dimension the line lacks is refused (CloudWatch drops it)."""
    with pytest.raises(ValueError, match="Route"):
        emf_document({"Service": "recipes"}, [("Service", "Route")], {"Requests": 1},
                     timestamp_ms=0)


def test_a_window_sums_counts_and_caps_samples(metric_lines: Any) -> None:
    """Counts add up exactly; a distribution keeps at most 100 values, all from the window."""
    window, lines = metric_lines
    dims = (("Service", "recipes"), ("Queue", "q"))
    for value in range(250):
        window.count(dims, (("Service", "Queue"),), "RecordsSucceeded")
        window.sample(dims, (("Service", "Queue"),), "QueueLag", value)
    window.flush()
    (line,) = lines
    assert line["RecordsSucceeded"] == 250
    assert len(line["QueueLag"]) == MAX_SAMPLES and set(line["QueueLag"]) <= set(range(250))
    assert max(line["QueueLag"]) >= MAX_SAMPLES  # later values replaced earlier ones
    window.flush()
    assert len(lines) == 1  # an empty window writes nothing


async def test_a_worker_batch_is_counted_by_outcome(metric_lines: Any) -> None:
    """A settled batch adds its outcomes, its redeliveries and a handler duration each."""
    window, lines = metric_lines

    async def handler(incoming: CloudEvent) -> None:
        if incoming.subject == "bad":
            raise RuntimeError("no")

    worker: SqsWorker[Any] = SqsWorker(SettlingSqs(), "http://sqs/q", PerRecord(handler), name="q")
    await worker.process([record(event()), record(event(), receive_count=3),
                          record(event(subject="bad"))])
    window.flush()
    (line,) = lines
    assert (line["Service"], line["Queue"]) == ("recipes", "q")
    assert (line["RecordsSucceeded"], line["RecordsFailed"], line["RecordsRetried"],
            line["RecordsDuplicate"], line["RecordsReleased"]) == (2, 1, 1, 0, 0)
    assert len(line["HandlerDuration"]) == 3
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service", "Queue"]]


def test_queue_lag_is_now_minus_sent_timestamp(metric_lines: Any) -> None:
    """A message sent 2 s ago has about 2,000 ms of lag."""
    import time

    window, lines = metric_lines
    sent = str(int(time.time() * 1000) - 2000)
    telemetry.record_received("q", [{"Attributes": {"SentTimestamp": sent}}])
    window.flush()
    (lag,) = lines[0]["QueueLag"]
    assert 2000 <= lag < 3000


def test_requests_are_counted_by_route_template_and_status(metric_lines: Any) -> None:
    """Two 201s and a 500 on one route: one line per status, the route as its template."""
    window, lines = metric_lines

    class Route:
        path = "/recipes/{recipe_id}"

    scope = {"method": "PUT", "route": Route()}
    telemetry.record_request(scope, 201, 0.010)
    telemetry.record_request(scope, 201, 0.020)
    telemetry.record_request(scope, 500, 0.5)
    telemetry.record_request({"method": "GET"}, 404, 0.001)
    window.flush()
    by_status = {line["Status"]: line for line in lines}
    assert by_status["201"]["Requests"] == 2 and by_status["201"]["Latency"] == [10.0, 20.0]
    assert by_status["500"]["StatusClass"] == "5xx"
    assert by_status["500"]["Route"] == "PUT /recipes/{recipe_id}"
    assert by_status["404"]["Route"] == "GET unmatched"
    assert by_status["500"]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["Service", "StatusClass"], ["Service", "Route", "Status"]]


def test_nothing_is_recorded_when_metrics_are_off() -> None:
    """Off (console logs), the hooks return at once and write nothing."""
    telemetry.record_request({"method": "GET"}, 200, 0.001)
    telemetry.record_received("q", [{"Attributes": {"SentTimestamp": "0"}}])
    with telemetry.handling("q", event()):
        pass
    assert telemetry._metrics is None and telemetry._tracer is None


# --- span files -------------------------------------------------------------------------


def test_the_file_exporter_writes_one_json_line_per_span(tmp_path: Any) -> None:
    """Spans written by the file exporter read back with ids, parent, process and times."""
    path = tmp_path / "recipes-api-1.jsonl"
    provider = TracerProvider(resource=Resource.create({"service.name": "recipes-api"}))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("POST /recipes") as root, \
            tracer.start_as_current_span("child"):
        pass
    child, parent = (orjson.loads(line) for line in path.read_text().splitlines())
    assert parent["name"] == "POST /recipes" and parent["parent_id"] is None
    assert child["parent_id"] == f"{root.get_span_context().span_id:016x}"
    assert child["trace_id"] == parent["trace_id"] and child["process"] == "recipes-api"
    assert child["end_ns"] >= child["start_ns"]


async def test_a_window_flushes_itself_after_its_interval() -> None:
    """Inside a running loop the first value schedules the flush: the line comes without
    anyone calling flush(), and the next value starts the next window."""
    import asyncio

    written: list[bytes] = []
    window = MetricsWindow(written.append, interval=0.05)
    window.count((("Service", "recipes"),), (("Service",),), "Requests")
    await asyncio.sleep(0.2)
    assert len(written) == 1 and b'"Requests":1' in written[0]
    window.count((("Service", "recipes"),), (("Service",),), "Requests", 2)
    await asyncio.sleep(0.2)
    assert len(written) == 2 and b'"Requests":2' in written[1]


# --- HTTP ---------------------------------------------------------------------------------


def traced_app() -> Any:
    """A bare FastAPI app behind the kit's request middleware (which opens the server span)."""
    from fastapi import FastAPI, HTTPException

    from shared.http import RequestContextMiddleware

    app = FastAPI()

    @app.get("/calendar.ics")
    async def feed(key: str = "") -> dict[str, int]:
        return {"ok": 1}

    @app.get("/recipes/{recipe_id}")
    async def recipe(recipe_id: str) -> dict[str, str]:
        if recipe_id == "broken":
            raise HTTPException(503, "unavailable")
        return {"id": recipe_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(RequestContextMiddleware, max_body_bytes=1024)
    return app


async def get(path: str, **headers: str) -> int:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=traced_app()),
                                 base_url="http://test") as client:
        return (await client.get(path, headers=headers)).status_code


async def test_a_request_span_keeps_no_query_string(spans: Any) -> None:
    """A calendar feed's secret travels in ?key=: the server span records path and route,
    never the query string (traces leave the service)."""
    assert await get("/calendar.ics?key=SECRET-KEY") == 200
    (span,) = spans.get_finished_spans()
    assert span.name == "GET /calendar.ics" and span.kind is SpanKind.SERVER
    assert span.attributes["http.route"] == "/calendar.ics"
    assert span.attributes["url.path"] == "/calendar.ics"
    assert span.attributes["http.response.status_code"] == 200
    assert not any("SECRET-KEY" in str(value) for value in span.attributes.values())


async def test_a_request_span_keeps_no_caller_address_or_agent(spans: Any) -> None:
    """Spans leave the service: the caller's address and user agent stay out of them (the
    insights service promises to store neither)."""
    import httpx

    transport = httpx.ASGITransport(app=traced_app(), client=("81.2.69.142", 4242))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/recipes/r-1", headers={"User-Agent": "Agent/SECRET"})
    assert answer.status_code == 200
    (span,) = spans.get_finished_spans()
    values = [str(value) for value in span.attributes.values()]
    assert not any("81.2.69.142" in v or "SECRET" in v for v in values), span.attributes


async def test_a_request_span_is_named_by_route_template_and_fails_on_5xx(spans: Any) -> None:
    assert await get("/recipes/r-1") == 200
    assert await get("/recipes/broken") == 503
    ok, broken = spans.get_finished_spans()
    assert ok.name == broken.name == "GET /recipes/{recipe_id}"
    assert ok.status.status_code is StatusCode.UNSET
    assert broken.status.status_code is StatusCode.ERROR


async def test_health_checks_make_no_span(spans: Any) -> None:
    assert await get("/healthz") == 200
    assert spans.get_finished_spans() == ()


async def test_a_request_continues_the_callers_traceparent(spans: Any) -> None:
    assert await get("/recipes/r-1", traceparent=f"00-{TRACE}-{PARENT}-01") == 200
    (span,) = spans.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == TRACE
    assert f"{span.parent.span_id:016x}" == PARENT and span.parent.is_remote


async def test_a_request_continues_an_xray_callers_trace(spans: Any) -> None:
    """X-Amzn-Trace-Id with a Parent (a caller traced by X-Ray) is continued like a
    traceparent: 1-<8 hex>-<24 hex> is the trace id's two parts."""
    header = f"Root=1-{TRACE[:8]}-{TRACE[8:]};Parent={PARENT};Sampled=1"
    assert await get("/recipes/r-1", **{"X-Amzn-Trace-Id": header}) == 200
    (span,) = spans.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == TRACE
    assert f"{span.parent.span_id:016x}" == PARENT


@pytest.mark.parametrize("header", [
    f"Root=1-{TRACE[:8]}-{TRACE[8:]}",                           # what an ALB adds
    f"Self=1-67891234-12456789abcdef012345678;Root=1-{TRACE[:8]}-{TRACE[8:]}",  # ALB, 2 hops
])
async def test_an_albs_root_is_kept_beside_a_new_trace(spans: Any, header: str) -> None:
    """An ALB names only its Root (no parent to continue): the request starts its own trace
    and keeps the Root, which the ALB's access log line also holds."""
    assert await get("/recipes/r-1", **{"X-Amzn-Trace-Id": header}) == 200
    (span,) = spans.get_finished_spans()
    assert span.parent is None
    assert span.attributes["aws.xray.root"] == f"1-{TRACE[:8]}-{TRACE[8:]}"


@pytest.mark.parametrize("header", ["garbage", "Root=1-zz-12", "Parent=b7ad6b7169203331", ""])
async def test_a_malformed_amazon_header_starts_a_plain_trace(spans: Any, header: str) -> None:
    assert await get("/recipes/r-1", **{"X-Amzn-Trace-Id": header}) == 200
    (span,) = spans.get_finished_spans()
    assert span.parent is None and "aws.xray.root" not in span.attributes


async def test_without_tracing_a_request_makes_no_span() -> None:
    assert not telemetry.tracing()
    assert await get("/recipes/r-1", traceparent=f"00-{TRACE}-{PARENT}-01") == 200
