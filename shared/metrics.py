"""Metrics as CloudWatch Embedded Metric Format (EMF) log lines.

A process adds counts and samples to a window; every ``interval`` seconds (the first record
after a flush schedules the next one) the window is written as one JSON line per dimension
set on stderr, beside the logs. In AWS the awslogs driver ships stderr to CloudWatch Logs,
which turns each line into metrics: no agent, no API call on the request path::

    {"_aws": {"Timestamp": 1765111111000, "CloudWatchMetrics": [{"Namespace": "Regatta",
      "Dimensions": [["Service", "Queue"]], "Metrics": [{"Name": "RecordsFailed",
      "Unit": "Count"}, ...]}]}, "Service": "recipes", "Queue": "recipes-search-index",
      "RecordsFailed": 1, "HandlerDuration": [12.5, 3.1], ...}

Counts are exact; a distribution (a latency) keeps at most ``MAX_SAMPLES`` values a window
(EMF's limit for one metric on one line), a uniform sample when there were more.

Why not the aws-embedded-metrics library: it writes its own lines outside structlog, detects
its environment by calling the ECS/EC2 metadata endpoints, and its ``metric_scope`` flushes a
logger per call: one line per request where a window of them costs one line.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

NAMESPACE = "Regatta"
MAX_SAMPLES = 100  # EMF: at most 100 values for one metric on one line

# Every metric the platform emits and its unit (docs/telemetry.md lists them with dimensions).
UNITS: dict[str, str] = {
    "Requests": "Count",
    "Latency": "Milliseconds",
    "RecordsSucceeded": "Count",
    "RecordsDuplicate": "Count",
    "RecordsFailed": "Count",
    "RecordsReleased": "Count",
    "RecordsRetried": "Count",
    "HandlerDuration": "Milliseconds",
    "QueueLag": "Milliseconds",
    "StageDuration": "Milliseconds",
}

Dimensions = tuple[tuple[str, str], ...]
DimensionSets = tuple[tuple[str, ...], ...]


def emf_document(dimensions: Mapping[str, str], dimension_sets: Sequence[Sequence[str]],
                 values: Mapping[str, float | list[float]], *, timestamp_ms: int,
                 namespace: str = NAMESPACE) -> dict[str, Any]:
    """One EMF log document: ``values`` (metric name to a number or up to 100 numbers) under
    ``dimensions``, aggregated by CloudWatch along each of ``dimension_sets``."""
    for names in dimension_sets:
        missing = set(names) - set(dimensions)
        if missing:
            raise ValueError(f"dimension set {list(names)} names {sorted(missing)}, not given")
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [list(names) for names in dimension_sets],
                "Metrics": [{"Name": name, "Unit": UNITS.get(name, "None")} for name in values],
            }],
        },
        **dimensions,
        **values,
    }


@dataclass
class _Series:
    """What one dimension set accumulated in the current window."""

    dimension_sets: DimensionSets
    counts: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)


class MetricsWindow:
    """Counts and samples by dimensions, written as EMF lines every ``interval`` seconds."""

    def __init__(self, write: Callable[[bytes], Any] | None = None, *, interval: float = 10.0,
                 namespace: str = NAMESPACE, rng: random.Random | None = None) -> None:
        self.write = write or _write_stderr
        self.interval = interval
        self.namespace = namespace
        self._series: dict[Dimensions, _Series] = {}
        self._scheduled: asyncio.TimerHandle | None = None
        self._scheduled_on: asyncio.AbstractEventLoop | None = None
        self._rng = rng or random.Random()

    def _get(self, dimensions: Dimensions, dimension_sets: DimensionSets) -> _Series:
        series = self._series.get(dimensions)
        if series is None:
            series = self._series[dimensions] = _Series(dimension_sets)
            self._schedule()
        return series

    def count(self, dimensions: Dimensions, dimension_sets: DimensionSets, name: str,
              value: float = 1) -> None:
        """Add ``value`` to the count ``name`` (a zero still reports the metric)."""
        counts = self._get(dimensions, dimension_sets).counts
        counts[name] = counts.get(name, 0) + value

    def sample(self, dimensions: Dimensions, dimension_sets: DimensionSets, name: str,
               value: float) -> None:
        """Add one value of the distribution ``name``."""
        series = self._get(dimensions, dimension_sets)
        seen = series.seen[name] = series.seen.get(name, 0) + 1
        kept = series.samples.setdefault(name, [])
        if len(kept) < MAX_SAMPLES:
            kept.append(round(value, 3))
        else:  # reservoir sampling: every value of the window is kept with equal chance
            slot = self._rng.randrange(seen)
            if slot < MAX_SAMPLES:
                kept[slot] = round(value, 3)

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a script, a test): flush() writes it
        # A flush scheduled on a loop that has since ended would never come.
        if self._scheduled is not None and self._scheduled_on is loop:
            return
        self._scheduled = loop.call_later(self.interval, self.flush)
        self._scheduled_on = loop

    def flush(self) -> None:
        """Write the window (one line per dimension set) and start a new one."""
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        series, self._series = self._series, {}
        if not series:
            return
        now_ms = int(time.time() * 1000)
        lines = [
            orjson.dumps(emf_document(dict(dimensions), s.dimension_sets,
                                      {**s.counts, **s.samples}, timestamp_ms=now_ms,
                                      namespace=self.namespace))
            for dimensions, s in series.items()
        ]
        self.write(b"\n".join(lines) + b"\n")


def _write_stderr(data: bytes) -> None:
    sys.stderr.write(data.decode())
    sys.stderr.flush()
