"""Worker liveness: is each consumer's loop still making progress?

A worker has no HTTP port, and its queue existing proves nothing about its loop. So every
`SqsWorker` built by `shared.worker.consumer` touches one file per queue it consumes,
``<WORKER_LIVENESS_DIR>/<queue>``, whenever it makes progress: a receive call completed (with
messages or without) or a visibility-heartbeat round kept the batch in hand. The container
health check (``docker/healthcheck.py --queue NAME ...``) calls `stalled_queues`: a file older
than ``WORKER_STALL_SECONDS`` (or missing) makes the check fail, and ECS replaces the task.

Nothing here talks to AWS: the check costs a ``stat`` per queue.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path


def touch(path: str | os.PathLike[str]) -> None:
    """Record progress now: create ``path`` (and its directory) or update its mtime."""
    target = Path(path)
    try:
        os.utime(target)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()


def liveness_file(directory: str | os.PathLike[str], queue: str) -> Path:
    """The file the worker consuming ``queue`` (a logical name, or its DLQ's) touches."""
    return Path(directory) / queue


def stalled_queues(directory: str | os.PathLike[str], queues: Iterable[str], *,
                   stall_seconds: float, now: float | None = None) -> list[str]:
    """One line per queue whose worker made no progress in ``stall_seconds``; [] when healthy."""
    now = time.time() if now is None else now
    problems = []
    for queue in queues:
        path = liveness_file(directory, queue)
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            problems.append(f"queue {queue}: no progress recorded yet ({path} is missing)")
            continue
        if age > stall_seconds:
            problems.append(f"queue {queue}: no progress for {age:.0f} s "
                            f"(WORKER_STALL_SECONDS={stall_seconds:g})")
    return problems
