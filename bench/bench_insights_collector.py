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

Last, freshness (target: p99 < 60 s from the 202 to visible in the reports): the insights
worker runs as it does locally (the compaction on its timer, INSIGHTS_COMPACTION_INTERVAL_SECONDS
15) beside one API process (which lists the curated zone again when its copy is older than
INSIGHTS_LAKE_REFRESH_SECONDS, 10), both with their defaults. ``--freshness-probes`` page views
with unique paths are posted one every ``--freshness-interval`` seconds while a background
client posts ``--freshness-load`` events/s; an admin polls
``GET /insights/reports/breakdown?by=page`` twice a second, and a probe's freshness is the
time from its 202 to the first answer listing its path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import CpuMeter, LoadResult, run_load  # noqa: E402
from devkit.cognito import DEMO_USERS, sign_in  # noqa: E402
from devkit.emulator import Emulator  # noqa: E402
from devkit.testing import LocalStack, ServiceProcess, auth_header, start_local_stack  # noqa: E402
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


async def measure_freshness(stack: LocalStack, aws: AwsClients, args: argparse.Namespace,
                            tmp: Path) -> str:
    """Seconds from a probe's 202 to the first report that lists it (see the docstring)."""
    await clear_lake(aws, stack)
    admin = next(u for u in DEMO_USERS if u.admin)
    signed = await sign_in(aws, stack.settings.cognito_client_id, admin.username, admin.password)
    env = {**stack.env, "RATE_LIMITS_ENABLED": "false", "LOG_LEVEL": "WARNING"}
    worker = ServiceProcess.worker("services.insights.worker", {
        **env, "INSIGHTS_LAKE_CACHE_DIR": str(tmp / "worker-lake")})
    api = ServiceProcess.api("services.insights.main:app", {
        **env, "INSIGHTS_LAKE_CACHE_DIR": str(tmp / "api-lake")})
    with worker, api:
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            probes = Probes(http, auth_header(signed["AccessToken"]), args)
            await probes.run()
    return probes.summary()


class Probes:
    """Probe page views posted at a steady pace, and a poller of the page breakdown."""

    def __init__(self, http: httpx.AsyncClient, auth: dict[str, str],
                 args: argparse.Namespace) -> None:
        self.http, self.auth, self.args = http, auth, args
        self.headers = {"Content-Type": "application/json", "User-Agent": BROWSER}
        self.prefix = f"/fresh/{uuid.uuid4().hex[:8]}/"
        self.accepted: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.polls: list[float] = []
        self.sending = True

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.background()), asyncio.create_task(self.poll())]
        for i in range(self.args.freshness_probes):
            path = f"{self.prefix}{i}"
            answer = await self.http.post("/insights/events", headers=self.headers,
                                          json={"type": "page", "path": path})
            answer.raise_for_status()
            self.accepted[path] = time.monotonic()
            await asyncio.sleep(self.args.freshness_interval)
        self.sending = False
        await asyncio.gather(*tasks)

    async def background(self) -> None:
        """``--freshness-load`` events/s in batches of 100, so compaction runs have work."""
        if not self.args.freshness_load:
            return
        body, pause = batch_body(BATCH), BATCH / self.args.freshness_load
        while self.sending:
            started = time.monotonic()
            answer = await self.http.post("/insights/events", content=body,
                                          headers=self.headers)
            answer.raise_for_status()
            await asyncio.sleep(max(0.0, pause - (time.monotonic() - started)))

    async def poll(self) -> None:
        today = datetime.now(UTC).date()
        window = {"by": "page", "limit": "1000", "from": str(today - timedelta(days=1)),
                  "to": str(today + timedelta(days=1))}
        while self.sending or len(self.seen) < len(self.accepted):
            started = time.monotonic()
            answer = await self.http.get("/insights/reports/breakdown", params=window,
                                         headers=self.auth)
            answer.raise_for_status()
            now = time.monotonic()
            self.polls.append(now - started)
            for item in answer.json()["items"]:
                path = item["value"] or ""
                if path in self.accepted and path not in self.seen:
                    self.seen[path] = now
            if not self.sending and now - max(self.accepted.values()) > \
                    self.args.freshness_timeout:
                return
            await asyncio.sleep(max(0.0, 0.5 - (now - started)))

    def summary(self) -> str:
        ages = sorted(self.seen[p] - self.accepted[p] for p in self.seen)
        missing = len(self.accepted) - len(self.seen)
        head = (f"freshness: {len(self.accepted)} probes, one every "
                f"{self.args.freshness_interval:g} s, with {self.args.freshness_load:,.0f} "
                "background events/s")
        if not ages:
            return f"{head}: none became visible"
        p99 = ages[min(len(ages) - 1, round(0.99 * (len(ages) - 1)))]
        verdict = "met" if p99 < 60 and not missing else "NOT met"
        return (f"{head}; 202 -> visible in /reports/breakdown: p50 "
                f"{statistics.median(ages):.1f} s, p99 {p99:.1f} s, min {ages[0]:.1f} s, max "
                f"{ages[-1]:.1f} s; {missing} never seen; a report poll p50 "
                f"{statistics.median(self.polls) * 1000:.0f} ms; target p99 < 60 s: {verdict}")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, Emulator(log_path=Path(tmp) / "moto.log") as emu:
        stack = await start_local_stack(emu, tuple(u for u in DEMO_USERS if u.admin))
        async with AwsClients(stack.settings) as aws:
            print(f"insights collector: batches of {BATCH} events, {args.seconds:.0f} s per "
                  f"run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
            if args.clients:
                print("| clients | events/s | p50 ms | p99 ms | errors | AWS calls/1,000 "
                      "events | PutObject/1,000 | API CPU ms/1,000 | emulator CPU ms/1,000 | "
                      "lost |")
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
            if args.freshness_probes:
                print(await measure_freshness(stack, aws, args, Path(tmp)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, nargs="*", default=[16, 32],
                        help="client counts of the collector runs (none: no collector run)")
    parser.add_argument("--counter-clients", type=int, default=50,
                        help="clients of the counter run (0: no counter run)")
    parser.add_argument("--freshness-probes", type=int, default=60,
                        help="page views whose freshness is measured (0: no freshness run)")
    parser.add_argument("--freshness-interval", type=float, default=1.0,
                        help="seconds between two probes")
    parser.add_argument("--freshness-load", type=float, default=1000.0,
                        help="background events/s posted meanwhile")
    parser.add_argument("--freshness-timeout", type=float, default=120.0,
                        help="seconds after the last probe before the unseen ones count missing")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
