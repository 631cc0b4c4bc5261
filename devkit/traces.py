"""Reading the local span files: one trace across processes as a tree (``regatta trace``).

Locally every API and worker process appends its spans to ``$REGATTA_TRACE_DIR/<service>-
<role>-<pid>.jsonl`` (`shared.telemetry`); this module reads them all back::

    trace 6756a1f2c0d94b4e9d0e5f1a2b3c4d5e: 3 spans in 2 processes, 412.3 ms
    POST /recipes                               recipes-api       +0.0 ms    38.2 ms
    └─ process recipes-search-index             recipes-worker  +350.1 ms    12.0 ms
       └─ stage encode                          media-jobs-...   ...

A trace is named by its id, by a ``traceparent`` that holds it, or by an X-Ray trace id
(``1-6756a1f2-c0d94b4e9d0e5f1a2b3c4d5e``); a unique prefix of the id is enough.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

TRACE_ID = re.compile(r"[0-9a-f]{1,32}")


@dataclass
class SpanLine:
    """One span as its process wrote it."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    process: str
    start_ns: int
    end_ns: int
    status: str = "unset"
    kind: str = "internal"
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> SpanLine:
        return cls(trace_id=document["trace_id"], span_id=document["span_id"],
                   parent_id=document.get("parent_id"), name=document["name"],
                   process=document.get("process", ""), start_ns=int(document["start_ns"]),
                   end_ns=int(document["end_ns"]), status=document.get("status", "unset"),
                   kind=document.get("kind", "internal"),
                   attributes=document.get("attributes") or {})


def trace_id_of(text: str) -> str:
    """The (possibly partial) trace id in a trace id, traceparent or X-Ray trace id."""
    text = text.strip().lower()
    if text.startswith("00-") and text.count("-") == 3:  # a traceparent
        text = text.split("-")[1]
    elif text.startswith("1-") and text.count("-") == 2:  # an X-Ray trace id
        text = text[2:].replace("-", "")
    if not TRACE_ID.fullmatch(text):
        raise ValueError(f"{text!r} is not a trace id, a traceparent or an X-Ray trace id")
    return text


def read_spans(directory: Path, trace_id: str | None = None) -> list[SpanLine]:
    """Every span in the directory's files (of the traces starting with ``trace_id``); a line
    a process was still writing is skipped."""
    spans: list[SpanLine] = []
    for path in sorted(directory.glob("*.jsonl")):
        with path.open("rb") as file:
            for line in file:
                if trace_id and trace_id.encode() not in line:
                    continue
                try:
                    span = SpanLine.from_document(orjson.loads(line))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue
                if trace_id is None or span.trace_id.startswith(trace_id):
                    spans.append(span)
    return spans


def render_trace(spans: Sequence[SpanLine]) -> list[str]:
    """One trace's spans as an indented tree in start order, with each span's start offset
    and duration; a span whose parent was not recorded is shown at the top level."""
    if not spans:
        return []
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanLine]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: s.start_ns)
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    processes = {s.process for s in spans}
    lines = [f"trace {spans[0].trace_id}: {len(spans)} spans in {len(processes)} processes, "
             f"{(end - start) / 1e6:.1f} ms"]
    width = max(len(s.process) for s in spans)

    def walk(span: SpanLine, prefix: str, branch: str) -> None:
        label = f"{prefix}{branch}{span.name}"
        failed = "  FAILED" if span.status == "error" else ""
        lines.append(f"{label:<56} {span.process:<{width}} "
                     f"{(span.start_ns - start) / 1e6:>+10.1f} ms {span.duration_ms:>9.1f} ms"
                     f"{failed}")
        kids = children.get(span.span_id, [])
        inner = prefix + {"": "", "└─ ": "   "}.get(branch, "│  ")
        for index, kid in enumerate(kids):
            walk(kid, inner, "└─ " if index == len(kids) - 1 else "├─ ")

    for root in children.get(None, []):
        walk(root, "", "")
    return lines


def render_recent(spans: Iterable[SpanLine], limit: int = 10) -> list[str]:
    """The latest ``limit`` traces, one line each: id, first span, spans, processes, time."""
    traces: dict[str, list[SpanLine]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    latest = sorted(traces.values(), key=lambda t: min(s.start_ns for s in t))[-limit:]
    lines = []
    for members in latest:
        first = min(members, key=lambda s: s.start_ns)
        took = (max(s.end_ns for s in members) - first.start_ns) / 1e6
        lines.append(f"{first.trace_id}  {first.name:<40} {len(members):>3} spans "
                     f"{len({s.process for s in members}):>2} processes {took:>9.1f} ms")
    return lines


def show(directory: Path, trace: str | None, *, limit: int = 10) -> list[str]:
    """What ``regatta trace`` prints: the tree of ``trace``, or the latest traces."""
    if not directory.is_dir():
        raise FileNotFoundError(f"no spans recorded in {directory} (start the platform with "
                                "`regatta up`, which records them there)")
    if trace is None:
        return render_recent(read_spans(directory), limit) or ["no traces recorded yet"]
    wanted = trace_id_of(trace)
    spans = read_spans(directory, wanted)
    found = {s.trace_id for s in spans}
    if not found:
        raise LookupError(f"no spans of trace {wanted} in {directory}")
    if len(found) > 1:
        raise LookupError(f"{wanted} is the start of {len(found)} trace ids; give more of it")
    return render_trace(spans)
