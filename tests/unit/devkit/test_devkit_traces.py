"""Reading the local span files and drawing one trace as a tree (devkit.traces)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from devkit.traces import read_spans, show, trace_id_of

TRACE = "6756a1f2c0d94b4e9d0e5f1a2b3c4d5e"


def span(span_id: str, parent: str | None, name: str, process: str, start_ms: float,
         end_ms: float, trace: str = TRACE, **extra: Any) -> dict[str, Any]:
    return {"trace_id": trace, "span_id": span_id, "parent_id": parent, "name": name,
            "process": process, "start_ns": int(start_ms * 1e6), "end_ns": int(end_ms * 1e6),
            **extra}


def write(path: Path, *spans: dict[str, Any], tail: bytes = b"") -> None:
    path.write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in spans) + tail)


def test_one_trace_across_processes_is_a_tree_in_start_order(tmp_path: Path) -> None:
    """GIVEN spans of one trace in two process files (and another trace, and a half-written
    line), THEN the tree has the request at the top, the worker's span and its stage under it,
    offsets from the first start and each duration."""
    write(tmp_path / "recipes-api-1.jsonl",
          span("a" * 16, None, "POST /recipes", "recipes-api", 1000, 1040),
          span("9" * 16, None, "GET /recipes", "recipes-api", 900, 905, trace="f" * 32))
    write(tmp_path / "media-jobs-worker-2.jsonl",
          span("c" * 16, "b" * 16, "stage probe", "media-jobs-worker", 1360, 1370),
          span("b" * 16, "a" * 16, "process media-jobs", "media-jobs-worker", 1350, 1400,
               status="error"),
          tail=b'{"trace_id": "' + TRACE.encode())
    lines = show(tmp_path, TRACE[:8])
    assert lines[0] == f"trace {TRACE}: 3 spans in 2 processes, 400.0 ms"
    assert lines[1].startswith("POST /recipes ")
    assert lines[2].startswith("└─ process media-jobs ") and lines[2].endswith("FAILED")
    assert lines[3].startswith("   └─ stage probe ")
    assert "+350.0 ms" in lines[2] and "50.0 ms" in lines[2]


def test_without_an_id_the_latest_traces_are_listed(tmp_path: Path) -> None:
    """No id: one line per trace, latest last."""
    write(tmp_path / "a.jsonl", span("a" * 16, None, "POST /recipes", "recipes-api", 1000, 1040),
          span("9" * 16, None, "GET /recipes", "recipes-api", 900, 905, trace="f" * 32))
    lines = show(tmp_path, None)
    assert [line.split()[0] for line in lines] == ["f" * 32, TRACE]


def test_a_trace_is_named_by_id_traceparent_or_xray_id() -> None:
    """The id in any of the three spellings; anything else is refused."""
    assert trace_id_of(TRACE.upper()) == TRACE
    assert trace_id_of(f"00-{TRACE}-b7ad6b7169203331-01") == TRACE
    assert trace_id_of(f"1-{TRACE[:8]}-{TRACE[8:]}") == TRACE
    with pytest.raises(ValueError):
        trace_id_of("not-a-trace")


def test_unknown_and_ambiguous_ids_are_errors(tmp_path: Path) -> None:
    """An id no span has, or a prefix of two traces, says so rather than printing nothing."""
    write(tmp_path / "a.jsonl", span("a" * 16, None, "x", "p", 0, 1, trace="ab" + "0" * 30),
          span("b" * 16, None, "y", "p", 0, 1, trace="ab" + "1" * 30))
    with pytest.raises(LookupError, match="no spans"):
        show(tmp_path, "cd")
    with pytest.raises(LookupError, match="2 trace ids"):
        show(tmp_path, "ab")
    with pytest.raises(FileNotFoundError):
        show(tmp_path / "missing", None)
    assert len(read_spans(tmp_path)) == 2
