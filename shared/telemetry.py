"""Telemetry: traces across the event path, trace ids in logs, metrics as EMF lines.

One trace follows a change from the HTTP request through the outbox, SNS and SQS into the
worker that handles its event, and on to the events that worker commits in turn::

    POST /recipes (API, server span)
      store builds the event: traceparent = the current span       (shared.events.new_event)
      outbox -> relay -> SNS -> SQS (the body keeps the traceparent)
    process recipes-search-index (worker, consumer span, child of the event's traceparent)
      events it commits carry the worker's span as their traceparent

Traces are off unless an exporter is configured; off, nothing is created and the hooks below
cost a context-variable read:

- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``): OTLP/HTTP, in AWS to the ADOT
  collector sidecar, which sends to X-Ray. Spans go out in batches from a background thread.
- ``REGATTA_TRACE_DIR`` (`regatta up` sets it): each process appends its spans as JSON lines
  to ``<dir>/<service>-<role>-<pid>.jsonl``; ``regatta trace`` shows them as a tree.

Metrics (`shared.metrics`) are on whenever logs are JSON: request counts and latency by route
and status, worker outcomes, handler duration and queue lag, media stage durations.

The hooks the platform calls: `instrument_app`, `serving` / `served` and `record_request`
(HTTP), `record_received`, `handling` / `handling_batch` and `mark_failed` (workers),
`record_outcomes`, `stage`.
"""

from __future__ import annotations

import atexit
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry import trace
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.metrics import MetricsWindow

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from starlette.types import Scope
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

    _SpanExporter = SpanExporter
else:  # the SDK's base class, to the type checker alone (see JsonLinesSpanExporter)
    _SpanExporter = object

_PROPAGATOR = TraceContextTextMapPropagator()
_XRAY = AwsXRayPropagator()
_XRAY_ROOT = re.compile(r"(?:^|;)\s*Root=(1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24})\b")

# Set by configure_telemetry; None: that part is off.
_tracer: trace.Tracer | None = None
_provider: Any = None
_metrics: MetricsWindow | None = None
_service = ""
_at_exit = False

API_SETS = (("Service", "StatusClass"), ("Service", "Route", "Status"))
WORKER_SETS = (("Service", "Queue"),)
STAGE_SETS = (("Service", "Stage"),)


class TelemetrySettings(BaseSettings):
    """Where spans go (OpenTelemetry's own variable names) and how often metrics flush."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    otel_sdk_disabled: bool = False
    otel_exporter_otlp_endpoint: str = ""
    otel_exporter_otlp_traces_endpoint: str = ""
    regatta_trace_dir: str = ""
    metrics_flush_seconds: float = Field(default=10.0, gt=0, le=60)

    @property
    def otlp(self) -> bool:
        return bool(self.otel_exporter_otlp_endpoint or self.otel_exporter_otlp_traces_endpoint)

    @property
    def tracing(self) -> bool:
        return not self.otel_sdk_disabled and (self.otlp or bool(self.regatta_trace_dir))


def configure_telemetry(service: str, role: str, *, metrics: bool,
                        settings: TelemetrySettings | None = None) -> None:
    """Start this process's tracing (if an exporter is configured) and EMF metrics (if
    ``metrics``); once per process, later calls change nothing. ``role``: api or worker."""
    global _metrics, _service, _at_exit
    settings = settings or TelemetrySettings()
    _service = _service or service
    if metrics and _metrics is None:
        _metrics = MetricsWindow(interval=settings.metrics_flush_seconds)
    if settings.tracing and _tracer is None:
        install_tracer_provider(_new_provider(service, role, settings))
    if not _at_exit:
        atexit.register(shutdown_telemetry)
        _at_exit = True


def _new_provider(service: str, role: str, settings: TelemetrySettings) -> Any:
    from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": f"{service}-{role}",
                                "service.namespace": "regatta", "regatta.role": role})
    # X-Ray reads the first 8 hex digits of a trace id as its start time.
    provider = TracerProvider(resource=resource, id_generator=AwsXRayIdGenerator())
    if settings.regatta_trace_dir:
        directory = Path(settings.regatta_trace_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{service}-{role}-{os.getpid()}.jsonl"
        provider.add_span_processor(BatchSpanProcessor(JsonLinesSpanExporter(path)))
    if settings.otlp:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def install_tracer_provider(provider: Any) -> None:
    """Trace with ``provider`` (an SDK TracerProvider) from now on; None stops tracing."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer("regatta") if provider is not None else None


def install_metrics(window: MetricsWindow | None, service: str) -> None:
    """Record metrics into ``window`` as ``service`` from now on; None stops recording."""
    global _metrics, _service
    _metrics = window
    _service = service


def shutdown_telemetry() -> None:
    """Write the metrics window and the spans still queued: at process exit, and when an
    API's lifespan ends (uvicorn ends its process by the signal it caught, past atexit)."""
    if _metrics is not None:
        _metrics.flush()
    if _provider is not None:
        _provider.force_flush(5000)


def tracing() -> bool:
    """Whether this process records spans."""
    return _tracer is not None


# --- trace context ----------------------------------------------------------------------


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, or None outside one."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def context_of(traceparent: str | None) -> Any:
    """The OpenTelemetry context whose remote parent is ``traceparent`` (None: a new trace)."""
    return _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None


def add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` of the current span, if any."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = f"{context.trace_id:032x}"
        event_dict["span_id"] = f"{context.span_id:016x}"
    return event_dict


# --- HTTP -------------------------------------------------------------------------------


def instrument_app(app: Any, service: str, *, metrics: bool) -> None:
    """Start the process's telemetry for ``app``: the API's server spans come from `serving`,
    which the kit's request middleware wraps around every request."""
    configure_telemetry(service, "api", metrics=metrics)


UNTRACED_PATHS = frozenset({"/healthz", "/readyz"})


@contextmanager
def serving(scope: Scope, headers: dict[bytes, bytes]) -> Iterator[Span | None]:
    """Around one HTTP request: its server span, current while it runs (None when tracing is
    off, and for the health checks).

    The span continues the caller's W3C ``traceparent``, else an ``X-Amzn-Trace-Id`` that
    names a parent (an X-Ray-traced caller); an ALB's header names only its ``Root``, which is
    kept as ``aws.xray.root`` so the ALB's access log line finds the trace. Attributes stop at
    the path: a query string can carry a secret (a calendar feed's ``?key=``), and spans
    leave the service. `served` names the span after the route once it is known.
    """
    if _tracer is None or scope["path"] in UNTRACED_PATHS:
        yield None
        return
    attributes: dict[str, Any] = {"http.request.method": scope["method"],
                                  "url.path": scope["path"], "url.scheme": scope["scheme"]}
    context = None
    if traceparent := headers.get(b"traceparent"):
        context = context_of(traceparent.decode("latin-1"))
    elif amazon := headers.get(b"x-amzn-trace-id"):
        value = amazon.decode("latin-1")
        context = _XRAY.extract({"X-Amzn-Trace-Id": value})
        if not trace.get_current_span(context).get_span_context().is_valid:
            context = None
            root = _XRAY_ROOT.search(value)
            if root:
                attributes["aws.xray.root"] = root.group(1)
    with _tracer.start_as_current_span(scope["method"], context=context, kind=SpanKind.SERVER,
                                       attributes=attributes) as span:
        yield span


def served(span: Span | None, scope: Scope, status: int) -> None:
    """Name a request's server span ``METHOD /route/{template}`` and record its status."""
    if span is None:
        return
    route = getattr(scope.get("route"), "path", None)
    if route:
        span.update_name(f"{scope['method']} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def record_request(scope: Scope, status: int, seconds: float) -> None:
    """Count one answered request (Requests, Latency) by route template and status."""
    if _metrics is None:
        return
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    dimensions = (("Service", _service), ("Route", f"{scope.get('method')} {route}"),
                  ("Status", str(status)), ("StatusClass", f"{status // 100}xx"))
    _metrics.count(dimensions, API_SETS, "Requests")
    _metrics.sample(dimensions, API_SETS, "Latency", seconds * 1000)


# --- workers ----------------------------------------------------------------------------


def record_received(queue: str, messages: Sequence[MessageTypeDef]) -> None:
    """Queue lag of received SQS messages: now minus their ``SentTimestamp``."""
    if _metrics is None or not messages:
        return
    now_ms = time.time() * 1000
    dimensions = (("Service", _service), ("Queue", queue))
    for message in messages:
        sent = message.get("Attributes", {}).get("SentTimestamp")
        if sent:
            _metrics.sample(dimensions, WORKER_SETS, "QueueLag", max(now_ms - int(sent), 0))


@contextmanager
def handling(queue: str, payload: Any, message_id: str = "") -> Iterator[None]:
    """Around the handling of one record: its consumer span (a child of the event's
    ``traceparent``), current while it runs, and its HandlerDuration."""
    started = time.perf_counter()
    try:
        if _tracer is None:
            yield
        else:
            traceparent = getattr(payload, "traceparent", None)
            with _tracer.start_as_current_span(
                    f"process {queue}", context=context_of(traceparent), kind=SpanKind.CONSUMER,
                    attributes=_consumer_attributes(queue, payload, message_id)):
                yield
    finally:
        if _metrics is not None:
            _metrics.sample((("Service", _service), ("Queue", queue)), WORKER_SETS,
                            "HandlerDuration", (time.perf_counter() - started) * 1000)


@contextmanager
def handling_batch(queue: str, payloads: Sequence[Any]) -> Iterator[None]:
    """Around one batch handler call: a consumer span, the child of the first event's
    ``traceparent`` and linked to the others' (OpenTelemetry's shape for batch receive)."""
    started = time.perf_counter()
    try:
        if _tracer is None:
            yield
        else:
            parents = [p for p in (getattr(x, "traceparent", None) for x in payloads) if p]
            links = [Link(trace.get_current_span(context_of(p)).get_span_context())
                     for p in parents[1:]]
            with _tracer.start_as_current_span(
                    f"process {queue}", context=context_of(parents[0] if parents else None),
                    kind=SpanKind.CONSUMER, links=links,
                    attributes={"messaging.system": "aws_sqs",
                                "messaging.destination.name": queue,
                                "messaging.batch.message_count": len(payloads)}):
                yield
    finally:
        if _metrics is not None:
            _metrics.sample((("Service", _service), ("Queue", queue)), WORKER_SETS,
                            "HandlerDuration", (time.perf_counter() - started) * 1000)


def _consumer_attributes(queue: str, payload: Any, message_id: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"messaging.system": "aws_sqs",
                                  "messaging.destination.name": queue,
                                  "messaging.operation.type": "process"}
    if message_id:
        attributes["messaging.message.id"] = message_id
    for name, key in (("id", "cloudevents.event_id"), ("type", "cloudevents.event_type"),
                      ("subject", "cloudevents.event_subject")):
        value = getattr(payload, name, None)
        if isinstance(value, str):
            attributes[key] = value
    return attributes


def mark_failed(exc: BaseException) -> None:
    """Record ``exc`` on the current span and mark it failed (nothing outside a span)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))


def record_outcomes(queue: str, records: Sequence[Any]) -> None:
    """Count a settled batch's outcomes, and the records that were redeliveries."""
    if _metrics is None or not records:
        return
    dimensions = (("Service", _service), ("Queue", queue))
    counts = {"RecordsSucceeded": 0, "RecordsDuplicate": 0, "RecordsFailed": 0,
              "RecordsReleased": 0, "RecordsRetried": 0}
    for record in records:
        outcome = str(record.outcome or "released")
        counts[f"Records{outcome.capitalize()}"] += 1
        if record.receive_count > 1:
            counts["RecordsRetried"] += 1
    for name, value in counts.items():
        _metrics.count(dimensions, WORKER_SETS, name, value)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Around one stage of a longer piece of work (a media job's): a child span and a
    StageDuration sample."""
    started = time.perf_counter()
    try:
        if _tracer is None:
            yield
        else:
            with _tracer.start_as_current_span(f"stage {name}", attributes={"stage": name}):
                yield
    finally:
        if _metrics is not None:
            _metrics.sample((("Service", _service), ("Stage", name)), STAGE_SETS,
                            "StageDuration", (time.perf_counter() - started) * 1000)


# --- the local span files ---------------------------------------------------------------


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """The JSON document of one finished span (an SDK ReadableSpan) in a trace file."""
    context = span.context
    parent = span.parent
    return {
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{parent.span_id:016x}" if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name.lower(),
        "process": span.resource.attributes.get("service.name", ""),
        "pid": os.getpid(),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name.lower(),
        "attributes": dict(span.attributes or {}),
        "links": [f"{link.context.trace_id:032x}" for link in span.links],
    }


class JsonLinesSpanExporter(_SpanExporter):
    """Appends finished spans to a file, one JSON document a line (local runs, tests).

    An OpenTelemetry SDK ``SpanExporter`` by its methods; the SDK is imported only when a
    process traces, so a process that does not pays nothing for it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.sdk.trace.export import SpanExportResult

        data = b"".join(orjson.dumps(span_record(s), default=str) + b"\n" for s in spans)
        try:
            with self.path.open("ab") as file:
                file.write(data)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
