"""A worker process for the worker-contract tests: ``python tests/support/contract_worker.py``.

It consumes one queue with the kit's ``SqsWorker`` under ``WorkerGroup.run`` (so SIGTERM is
handled exactly as in a service) and leaves a trace the test reads:

- ``<TRACE_DIR>/started``  one line per handler start: ``<event name>``
- ``<TRACE_DIR>/effects``  one line per completed effect: ``<event name>``

Configuration (besides the stack's AWS_* variables): QUEUE_URL, TRACE_DIR, IDEMPOTENCY_TABLE,
and optionally HANDLER_SECONDS, CONCURRENCY, VISIBILITY_TIMEOUT, HEARTBEAT_INTERVAL,
STOP_TIMEOUT, IN_PROGRESS_TIMEOUT, BACKOFF_BASE, and the kit's WORKER_* settings for receive
backoff and liveness (the liveness file is ``<WORKER_LIVENESS_DIR>/contract``).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from shared.aws import AwsClients
from shared.events import CloudEvent
from shared.health import liveness_file
from shared.idempotency import IdempotencyStore
from shared.logging import configure_logging, get_logger
from shared.settings import PlatformSettings
from shared.worker import PerRecord, SqsWorker, WorkerConfig, WorkerGroup

log = get_logger("contract_worker")


def append_line(path: Path, line: str) -> None:
    """Append one line with a single write, so a kill never leaves half a line."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


async def main() -> None:
    env = os.environ
    settings = PlatformSettings.load()
    configure_logging("INFO", "json", service="contract-worker")
    trace = Path(env["TRACE_DIR"])
    handler_seconds = float(env.get("HANDLER_SECONDS", "0"))

    async def handle(event: CloudEvent) -> None:
        name = event.data["name"]
        append_line(trace / "started", name)
        await asyncio.sleep(handler_seconds)
        append_line(trace / "effects", name)

    async with AwsClients(settings) as aws:
        store = IdempotencyStore(await aws.client("dynamodb"), env["IDEMPOTENCY_TABLE"],
                                 in_progress_timeout=int(env.get("IN_PROGRESS_TIMEOUT", "300")))
        config = WorkerConfig(
            concurrency=int(env.get("CONCURRENCY", "10")),
            wait_time_seconds=1,
            visibility_timeout=int(env.get("VISIBILITY_TIMEOUT", "30")),
            heartbeat_interval=float(env.get("HEARTBEAT_INTERVAL", "0")) or None,
            stop_timeout=float(env.get("STOP_TIMEOUT", "10")),
            backoff_base=float(env.get("BACKOFF_BASE", "0")),
            receive_backoff_base=settings.worker_receive_backoff_base,
            receive_backoff_cap=settings.worker_receive_backoff_cap,
            liveness_file=str(liveness_file(settings.worker_liveness_dir, "contract")),
        )
        worker = SqsWorker(await aws.client("sqs"), env["QUEUE_URL"], PerRecord(handle),
                           idempotency=store, config=config, name="contract")
        append_line(trace / "ready", str(os.getpid()))
        await WorkerGroup([worker]).run()
    log.info("contract_worker.exiting", stats={k.value: v for k, v in worker.stats.items()})


if __name__ == "__main__":
    asyncio.run(main())
