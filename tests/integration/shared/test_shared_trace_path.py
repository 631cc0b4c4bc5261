"""Telemetry through the real event path: a recipes API and worker (processes of their own,
on a topology of their own in the session's emulator) record their spans in a trace
directory, as `regatta up` has them do."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from devkit.provision import provision
from devkit.testing import ROOT, LocalStack, ServiceProcess, auth_header, eventually
from devkit.traces import SpanLine, read_spans
from shared.aws import AwsClients
from shared.settings import PlatformSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Traced:
    """A recipes API and worker that record spans in ``traces`` and log to ``logs``."""

    url: str
    env: dict[str, str]
    traces: Path
    logs: Path


@pytest.fixture(scope="module")
def traced_env(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # Its own name prefix: no other recipes worker of the session can take its events.
    return {**stack.env, "REGATTA_NAME_PREFIX": f"regatta-tel{uuid.uuid4().hex[:6]}-",
            "REGATTA_TRACE_DIR": str(tmp_path_factory.mktemp("traces")),
            "OTEL_BSP_SCHEDULE_DELAY": "100", "METRICS_FLUSH_SECONDS": "0.5"}


@pytest_asyncio.fixture(scope="module")
async def traced(traced_env: dict[str, str], stack: LocalStack,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Traced]:
    logs = tmp_path_factory.mktemp("traced-logs")
    settings = PlatformSettings(aws_endpoint_url=stack.emulator.url,
                                regatta_name_prefix=traced_env["REGATTA_NAME_PREFIX"])
    async with AwsClients(settings) as aws:
        await provision(aws)
    with (
        ServiceProcess.api("services.recipes.main:app", traced_env,
                           log_path=logs / "api.log") as api,
        ServiceProcess.worker("services.recipes.worker", traced_env,
                              log_path=logs / "worker.log"),
    ):
        yield Traced(api.url, traced_env, Path(traced_env["REGATTA_TRACE_DIR"]), logs)


@pytest.fixture(scope="module")
def created(traced: Traced, tokens: dict[str, str]) -> Iterator[dict[str, Any]]:
    """One recipe created through the API (the request every test below follows)."""
    body = {"title": "Traced soup", "description": "Seen end to end.",
            "ingredients": [{"description": "1 onion"}], "steps": [{"description": "Cook."}],
            "tags": ["soup"], "servings": 2, "prep_minutes": 10}
    response = httpx.post(f"{traced.url}/recipes", json=body,
                          headers=auth_header(tokens["alice"]), timeout=60)
    assert response.status_code == 201, response.text
    yield response.json()


def spans_of(traced: Traced, process: str) -> list[SpanLine]:
    return [s for s in read_spans(traced.traces) if s.process == process]


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def worker_span(traced: Traced) -> SpanLine:
    """The worker's span for the recipe's event, once its process has written it."""
    async def written() -> SpanLine:
        found = [s for s in spans_of(traced, "recipes-worker")
                 if s.name == "process recipes-search-index"]
        assert found, "the worker recorded no span yet"
        return found[0]

    return await eventually(written, timeout=60)  # type: ignore[no-any-return]


async def test_the_request_and_the_worker_share_one_trace(
        traced: Traced, created: dict[str, Any]) -> None:
    """GIVEN a recipe created over HTTP, WHEN the worker handles its event, THEN the worker's
    span is the child of a span the API process recorded for that request, in one trace."""
    handled = await worker_span(traced)

    api_spans = spans_of(traced, "recipes-api")
    (request,) = [s for s in api_spans if s.name == "POST /recipes"]
    assert request.kind == "server"
    assert handled.trace_id == request.trace_id
    parent = next(s for s in api_spans if s.span_id == handled.parent_id)
    assert parent.trace_id == request.trace_id  # the request's span (or one inside it)
    assert handled.attributes["cloudevents.event_type"].endswith("recipe.created.v1")
    assert handled.attributes["cloudevents.event_subject"] == created["id"]


async def test_log_lines_carry_the_trace_and_uvicorn_writes_json(
        traced: Traced, created: dict[str, Any]) -> None:
    """Every line either process wrote is JSON (uvicorn's own lines too), and the lines of the
    request and of the handling carry the trace id."""
    handled = await worker_span(traced)

    api_lines = log_lines(traced.logs / "api.log")  # fails on a plain-text line
    worker_lines = log_lines(traced.logs / "worker.log")
    assert any(line.get("logger") == "uvicorn.error" for line in api_lines)
    assert not any(line.get("logger") == "uvicorn.access" for line in api_lines)  # off
    (request_line,) = [line for line in api_lines if line.get("event") == "request"
                       and line.get("path") == "/recipes" and line.get("method") == "POST"]
    assert request_line["trace_id"] == handled.trace_id
    handled_lines = [line for line in worker_lines if line.get("event") == "message.handled"]
    assert [line["trace_id"] for line in handled_lines] == [handled.trace_id]
    assert handled_lines[0]["span_id"] == handled.span_id


async def test_metrics_are_emf_lines_as_they_happen(
        traced: Traced, created: dict[str, Any]) -> None:
    """Without a process exiting, the API has written its request count by route and status
    and the worker its outcomes, handler duration and queue lag as EMF lines."""
    await worker_span(traced)

    async def metrics() -> tuple[dict[str, Any], dict[str, Any]]:
        api = [line for line in log_lines(traced.logs / "api.log")
               if "_aws" in line and line.get("Route") == "POST /recipes"]
        worker = [line for line in log_lines(traced.logs / "worker.log")
                  if "_aws" in line and line.get("Queue") == "recipes-search-index"]
        assert api and worker
        return api[0], worker[0]

    api, worker = await eventually(metrics, timeout=30)
    assert (api["Service"], api["Status"], api["Requests"]) == ("recipes", "201", 1)
    assert api["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Regatta"
    assert (worker["RecordsSucceeded"], worker["RecordsFailed"]) == (1, 0)
    assert len(worker["HandlerDuration"]) == 1 and len(worker["QueueLag"]) == 1


async def test_regatta_trace_shows_the_path_as_a_tree(
        traced: Traced, created: dict[str, Any]) -> None:
    """`regatta trace ID` prints the request and, under it, the worker's handling."""
    handled = await worker_span(traced)

    shown = (await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "devkit.cli", "trace", handled.trace_id],
        capture_output=True, text=True, env={**os.environ, **traced.env}, cwd=ROOT, timeout=60,
        check=True)).stdout
    lines = shown.splitlines()
    assert lines[0].startswith(f"trace {handled.trace_id}: ")
    assert "in 2 processes" in lines[0]
    (request,) = [i for i, line in enumerate(lines) if line.startswith("POST /recipes")]
    (worker,) = [i for i, line in enumerate(lines) if "process recipes-search-index" in line]
    assert worker > request and lines[worker].startswith("└─ process recipes-search-index")
    assert "recipes-worker" in lines[worker]


async def test_an_api_stopped_by_sigterm_writes_its_last_metrics_and_spans(
        traced: Traced, tmp_path: Path) -> None:
    """ECS stops a task with SIGTERM; uvicorn ends the process by that signal once the app
    has stopped, so no atexit hook runs. The request's count and span, still waiting for
    their flush (a minute away), are written before the process ends."""
    env = {**traced.env, "REGATTA_TRACE_DIR": str(tmp_path / "traces"),
           "METRICS_FLUSH_SECONDS": "60", "OTEL_BSP_SCHEDULE_DELAY": "60000"}
    with ServiceProcess.api("services.recipes.main:app", env,
                            log_path=tmp_path / "api.log") as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            response = await http.get("/recipes?limit=1")
        assert response.status_code == 200, response.text
        api.stop()  # SIGTERM, as ECS sends it
        assert api.process is not None and api.process.returncode == -15
    counted = [line for line in log_lines(tmp_path / "api.log")
               if "_aws" in line and line.get("Route") == "GET /recipes"]
    assert [(line["Status"], line["Requests"]) for line in counted] == [("200", 1)]
    spans = [s.name for s in read_spans(tmp_path / "traces")]
    assert "GET /recipes" in spans, spans
