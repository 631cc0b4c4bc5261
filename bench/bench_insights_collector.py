"""The insights collector: events/s accepted by one API process, AWS calls per 1,000 events.

    make bench-insights-collector
    python bench/bench_insights_collector.py --seconds 10 --clients 8 32 64

Starts its own emulator, provisions it, and runs one insights API process (uvicorn, rate
limits off, AWS_CALL_COUNTS_PATH set) per client count; N closed-loop clients each POST
batches of 100 page/track events (with a browser's User-Agent) and send the next batch when
the 202 comes back, i.e. once its events are durable in S3. Afterwards every raw/web object is
read back: the events in the lake must equal the events accepted (zero lost).

Targets (issue 15): >= 20,000 events/s accepted with batches of 100, <= 5 AWS calls per
1,000 events. "API CPU" is the API process's own CPU (user + system) per 1,000 events, beside
the emulator's. Then the visitor counter: ``--counter-clients`` (50) clients POST
/insights/hits for the same path; p50/p99, and the views read back must equal the hits
answered 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import CpuMeter, LoadResult, run_load  # noqa: E402
from devkit.emulator import Emulator  # noqa: E402
from devkit.testing import LocalStack, ServiceProcess, start_local_stack  # noqa: E402
from services.insights.store.lake import read_jsonl_gz  # noqa: E402
from shared.aws import AwsClients  # noqa: E402

BATCH = 100
BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Safari/537.36")


def batch_body(size: int) -> bytes:
    """A realistic batch: mostly page views, some track events with properties."""
    events = []
    for i in range(size):
        if i % 4 == 3:
            events.append({"type": "track", "name": ("click", "search", "purchase")[i % 3],
                           "path": f"/product/{i}", "properties": {"sku": f"p-{i}", "qty": 1,
                                                                  "price": 9.99}})
        else:
            events.append({"type": "page", "path": f"/page/{i}",
                           "referrer": "https://www.google.com/search?q=regatta"})
    return orjson.dumps({"events": events})


async def lake_event_count(aws: AwsClients, stack: LocalStack) -> tuple[int, int]:
    """Events and objects under raw/web."""
    s3 = await aws.client("s3")
    bucket = stack.resources.bucket("insights-lake")
    events = objects = 0
    paginator = s3.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix="raw/web/"):
        for item in page.get("Contents", []):
            body = await s3.get_object(Bucket=bucket, Key=item["Key"])
            async with body["Body"] as stream:
                events += len(read_jsonl_gz(await stream.read()))
            objects += 1
    return events, objects


def read_counts(path: Path) -> dict[str, Any]:
    """The API's AWS call counts (written when its clients closed)."""
    counts: dict[str, Any] = json.loads(path.read_text())
    return counts


async def clear_lake(aws: AwsClients, stack: LocalStack) -> None:
    s3 = await aws.client("s3")
    bucket = stack.resources.bucket("insights-lake")
    paginator = s3.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix="raw/"):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            await s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


async def measure(emulator: Emulator, stack: LocalStack, aws: AwsClients, clients: int,
                  seconds: float, counts: Path) -> dict[str, float]:
    await clear_lake(aws, stack)
    env = {**stack.env, "RATE_LIMITS_ENABLED": "false", "LOG_LEVEL": "WARNING",
           "AWS_CALL_COUNTS_PATH": str(counts)}
    body = batch_body(BATCH)
    headers = {"Content-Type": "application/json", "User-Agent": BROWSER}
    api = ServiceProcess.api("services.insights.main:app", env).start()
    try:
        url = f"{api.url}/insights/events"
        warm = await run_load(url, clients, 1.0, headers=headers, method="POST", body=body)
        assert api.process is not None and emulator.process is not None
        meter = CpuMeter({"api": api.process.pid, "emulator": emulator.process.pid})
        meter.start()
        result: LoadResult = await run_load(url, clients, seconds, headers=headers,
                                            method="POST", body=body)
        meter.stop()
    finally:
        api.stop()  # its AWS clients close and write the call counts
    stored, objects = await lake_event_count(aws, stack)
    calls = read_counts(counts)
    accepted = (result.requests - result.errors) * BATCH
    # The lake holds the warm-up's events too, and the call counts cover both runs.
    accepted_all = accepted + (warm.requests - warm.errors) * BATCH
    return {
        "events_per_s": accepted / result.seconds, "errors": result.errors + warm.errors,
        "p50": result.p50, "p99": result.p99, "stored": stored, "objects": objects,
        "lost": accepted_all - stored,
        "calls_per_k": calls["total"] / max(accepted_all, 1) * 1000,
        "puts_per_k": calls["calls"].get("s3.PutObject", 0) / max(accepted_all, 1) * 1000,
        "calls": calls["total"],
        "api_cpu_ms": meter.used["api"] / max(accepted, 1) * 1_000_000,
        "emulator_cpu_ms": meter.used["emulator"] / max(accepted, 1) * 1_000_000,
    }


async def measure_counter(stack: LocalStack, clients: int, seconds: float) -> str:
    """The visitor counter: POST /insights/hits from ``clients`` closed-loop clients, then the
    views read back must equal the hits answered 200."""
    env = {**stack.env, "RATE_LIMITS_ENABLED": "false", "LOG_LEVEL": "WARNING"}
    path = f"/bench-{int(time.time())}"
    headers = {"Content-Type": "application/json", "User-Agent": BROWSER}
    with ServiceProcess.api("services.insights.main:app", env) as api:
        result = await run_load(f"{api.url}/insights/hits", clients, seconds, headers=headers,
                                method="POST", body=orjson.dumps({"path": path}))
        async with httpx.AsyncClient(base_url=api.url) as http:
            read = (await http.get("/insights/hits", params={"path": path})).json()
    counted = result.requests - result.errors
    verdict = "exact" if read["views"] == counted else f"MISMATCH ({read['views']} views)"
    return (f"counter: {clients} clients, {result.rps:,.0f} hits/s, p50 {result.p50:.1f} ms, "
            f"p99 {result.p99:.1f} ms, {result.errors} errors; {counted:,} hits answered 200, "
            f"views read back {read['views']:,}: {verdict}; visitors today "
            f"{read['visitors_today']}")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, Emulator(log_path=Path(tmp) / "moto.log") as emu:
        stack = await start_local_stack(emu, ())
        async with AwsClients(stack.settings) as aws:
            print(f"insights collector: batches of {BATCH} events, {args.seconds:.0f} s per "
                  f"run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
            print("| clients | events/s | p50 ms | p99 ms | errors | AWS calls/1,000 events "
                  "| PutObject/1,000 | API CPU ms/1,000 | emulator CPU ms/1,000 | lost |")
            print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            notes = []
            for clients in args.clients:
                counts = Path(tmp) / f"calls-{clients}.json"
                # Every object the API wrote holds accepted events only; the lake must hold
                # exactly what was accepted in the warm-up and the measured run together.
                f = await measure(emu, stack, aws, clients, args.seconds, counts)
                print(f"| {clients} | {f['events_per_s']:,.0f} | {f['p50']:.1f} | "
                      f"{f['p99']:.1f} | {f['errors']:.0f} | {f['calls_per_k']:.2f} | "
                      f"{f['puts_per_k']:.2f} | {f['api_cpu_ms']:.1f} | "
                      f"{f['emulator_cpu_ms']:.1f} | {f['lost']:.0f} |")
                notes.append(f"{clients} clients: the lake holds {f['stored']:,.0f} events in "
                             f"{f['objects']:.0f} objects; {f['calls']:.0f} AWS calls in all "
                             "(the process's start included)")
            for note in notes:
                print(f"- {note}")
            if args.counter_clients:
                print(await measure_counter(stack, args.counter_clients, args.seconds))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--counter-clients", type=int, default=50,
                        help="clients of the counter run (0: no counter run)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
