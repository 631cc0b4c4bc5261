"""The compaction process: ``python -m services.insights.compact [--once]``.

In AWS an EventBridge Scheduler rule starts it as an ECS task (``--once``: one run, then
exit). The insights worker runs the same code on a timer (locally and in AWS, unless
``INSIGHTS_COMPACTION_ON_WORKER`` is false): its ``build`` appends ``await
compaction_runner(aws, ...)`` to its runners; the runner calls
`Compactor.run_once` every ``INSIGHTS_COMPACTION_INTERVAL_SECONDS`` until SIGTERM. Several
runners (an API restart, two workers, a scheduled task) never compact at once: a run first
takes the lease in ``insights-state``, and one that finds it taken does nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from services.insights.lake.cache import LakeCache
from services.insights.lake.compaction import CompactionState, Compactor, LeaseLostError, RunReport
from services.insights.settings import InsightsSettings
from shared.aws import AwsClients
from shared.logging import get_logger
from shared.topology import Resources

log = get_logger("insights.compact")


async def build_compactor(aws: AwsClients, *, bucket: str, state_table: str) -> Compactor:
    """The compaction over ``bucket`` (the lake) with its lease and progress in
    ``state_table``: physical names, which the calling entry point looks up."""
    settings = InsightsSettings.of(aws.settings)
    state = CompactionState(await aws.client("dynamodb"), state_table,
                            lease_seconds=settings.insights_compaction_lease_seconds)
    return Compactor(await aws.client("s3"), bucket, state,
                     LakeCache(Path(settings.insights_lake_cache_dir) / "compaction",
                               budget=settings.insights_lake_copy_mb << 20),
                     max_objects=settings.insights_compaction_max_objects,
                     merge_after=settings.insights_compaction_merge_files,
                     memory_mb=settings.insights_duckdb_memory_mb,
                     threads=settings.insights_duckdb_threads)


class CompactionRunner:
    """`shared.worker.Runner`: `Compactor.run_once` every ``interval`` seconds."""

    def __init__(self, compactor: Compactor, interval: float) -> None:
        self.compactor = compactor
        self.interval = interval
        self._stop = asyncio.Event()
        self.runs = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            await self.turn()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    async def turn(self) -> RunReport | None:
        """One run; failures are logged and left to the next turn (runs are repeatable)."""
        try:
            report = await self.compactor.run_once()
        except (ClientError, BotoCoreError, OSError, LeaseLostError) as exc:
            log.warning("compaction.failed", error=type(exc).__name__, detail=str(exc)[:300])
            return None
        finally:
            # A run fetches the partitions it touches again: between runs the copy fits
            # its budget, the least recently touched days dropped first.
            self.compactor.cache.trim()
        self.runs += 1
        return report


async def compaction_runner(aws: AwsClients, *, bucket: str,
                            state_table: str) -> CompactionRunner:
    """The worker's compaction timer (append it to the worker's runners)."""
    settings = InsightsSettings.of(aws.settings)
    return CompactionRunner(await build_compactor(aws, bucket=bucket, state_table=state_table),
                            settings.insights_compaction_interval_seconds)


def _lake(resources: Resources) -> dict[str, str]:
    return {"bucket": resources.bucket("insights-lake"),
            "state_table": resources.table("insights-state")}


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m services.insights.compact")
    cli.add_argument("--once", action="store_true", help="one run, then exit (ECS task)")
    args = cli.parse_args(argv)
    settings = InsightsSettings.load()

    if args.once:
        async def once() -> int:
            async with AwsClients(settings) as aws:
                resources = await Resources.discover(aws)
                report = await (await build_compactor(aws, **_lake(resources))).run_once()
            sys.stdout.write(f"{report}\n")
            return 0

        return asyncio.run(once())

    from shared.worker import serve

    async def build(aws: AwsClients, resources: Resources) -> list[CompactionRunner]:
        return [await compaction_runner(aws, **_lake(resources))]

    serve(settings, "insights-compaction", build)
    return 0


if __name__ == "__main__":
    sys.exit(main())
