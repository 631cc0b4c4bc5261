"""The insights lake: compaction throughput, and reports over 60 days x 1,000,000 events.

    make bench-insights                                  # 1,000,000 events over 60 days
    python bench/bench_insights.py --events 200000 --repeat 10

1. Compaction without the emulator: the generated clickstream as raw ``.jsonl.gz`` files on
   local disk -> `transform` (DuckDB: parse, type, dedupe by id, geo join, Parquet per
   event date) -> events/s (wall, and per CPU second of this process). Target >= 200,000/s.
2. Compaction with the emulator in the loop: the same objects put in a bucket of a moto
   server this bench starts, one `Compactor.run_once` (list, lease and checkpoint in
   DynamoDB, fetch, transform, upload the Parquet files) -> events/s; this process's CPU
   seconds beside the emulator's over the run. Then five live runs: an object of 100 new
   events, the next run, and what the API does after it (sync, sessions, overview).
3. Reports (`ReportEngine`, the routes' engine) over the curated files of step 2: p50/p95
   per report over ``--repeat`` runs, files and bytes of the partitions each query reads
   (a day, a week, the 60 days: partition pruning). Target p95 < 500 ms.
4. bench/bench_insights_collector.py, when present (the collector, the counter, freshness).

Numbers depend on what else runs on the machine; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devkit.emulator import EMULATOR_ENV, Emulator  # noqa: E402
from services.insights.generate import Options, clickstream, raw_objects  # noqa: E402
from services.insights.lake.cache import LakeCache  # noqa: E402
from services.insights.lake.compaction import (  # noqa: E402
    CompactionState,
    Compactor,
    duckdb_connection,
    transform,
)
from services.insights.lake.layout import raw_key  # noqa: E402
from services.insights.lake.reference import countries, write_geo_reference  # noqa: E402
from services.insights.lake.reports import ReportEngine, parse_steps, parse_window  # noqa: E402
from shared.aws import AwsClients  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402

COMPACTION_TARGET = 200_000
REPORT_P95_TARGET_MS = 500
ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (and its waited-for children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def platform_events(n: int, end: date, days: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    types = ["recipe.created", "recipe.liked", "meeting.requested", "meeting.approved",
             "media.job.completed", "media.job.failed", "trend.signal"]
    start = datetime(end.year, end.month, end.day, tzinfo=UTC) - timedelta(days=days - 1)
    out = []
    for i in range(n):
        at = start + timedelta(seconds=rng.randrange(days * 86400))
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        out.append({"id": f"{rng.getrandbits(128):032x}", "source": "regatta/bench",
                    "type": rng.choice(types), "time": stamp, "subject": str(i),
                    "data": {"i": i}, "received_at": stamp})
    return out


def generate(args: argparse.Namespace, folder: Path) -> tuple[list[tuple[str, Path, int]],
                                                              list[dict[str, Any]]]:
    started = time.perf_counter()
    options = Options(events=args.events, days=args.days, end=args.end, seed=args.seed)
    objects = []
    for key, data, count in raw_objects(clickstream(options), per_object=args.per_object,
                                        rng=random.Random(args.seed)):
        path = folder / key.rsplit("/", 1)[1]
        path.write_bytes(data)
        objects.append((key, path, count))
    size = sum(p.stat().st_size for _, p, _ in objects)
    print(f"generated {args.events:,} events in {len(objects)} objects "
          f"({size / 1e6:.1f} MB gzipped) in {time.perf_counter() - started:.1f} s")
    return objects, platform_events(args.events // 50, args.end, args.days, args.seed)


def bench_transform(objects: list[tuple[str, Path, int]], work: Path) -> None:
    geo = {c.code: (c.name, c.continent) for c in countries().values()}
    total = sum(count for *_, count in objects)
    out = work / "transform"
    out.mkdir()
    cpu, wall = time.process_time(), time.perf_counter()
    with duckdb_connection() as con:
        result = transform(con, "web", [p for _, p, _ in objects], out, geo=geo)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert result.written == total, (result.written, total)
    verdict = "met" if total / wall >= COMPACTION_TARGET else "MISSED"
    print("\n1. compaction without the emulator (local raw files -> Parquet)")
    print(f"   {total:,} events, {len(result.files)} partitions: {wall:.2f} s wall, "
          f"{cpu:.2f} s CPU -> {total / wall:,.0f} events/s ({total / cpu:,.0f} per CPU-s); "
          f"target >= {COMPACTION_TARGET:,}/s: {verdict}")


async def bench_emulator(objects: list[tuple[str, Path, int]], platform: list[dict[str, Any]],
                         work: Path) -> LakeCache:
    import gzip

    import orjson

    total = sum(count for *_, count in objects)
    os.environ.update(EMULATOR_ENV)
    with Emulator(log_path=work / "moto.log") as emulator:
        assert emulator.process is not None
        settings = PlatformSettings(aws_endpoint_url=emulator.url)
        async with AwsClients(settings) as aws:
            s3, dynamodb = await aws.client("s3"), await aws.client("dynamodb")
            bucket, table = f"bench-lake-{uuid.uuid4().hex[:6]}", "bench-insights-state"
            await s3.create_bucket(Bucket=bucket)
            await dynamodb.create_table(
                TableName=table, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                           {"AttributeName": "sk", "KeyType": "RANGE"}])
            await write_geo_reference(s3, bucket)
            gate = asyncio.Semaphore(8)

            async def put(key: str, body: bytes) -> None:
                async with gate:
                    await s3.put_object(Bucket=bucket, Key=key, Body=body)

            await asyncio.gather(*(put(key, path.read_bytes()) for key, path, _ in objects))
            for start in range(0, len(platform), 5000):
                chunk = platform[start:start + 5000]
                await put(raw_key("platform", datetime.now(UTC)),
                          gzip.compress(b"\n".join(orjson.dumps(e) for e in chunk)))
            cache = LakeCache(work / "cache")
            compactor = Compactor(s3, bucket, CompactionState(dynamodb, table), cache,
                                  max_objects=100_000)
            mine, theirs = time.process_time(), cpu_seconds(emulator.process.pid)
            wall = time.perf_counter()
            report = await compactor.run_once()
            wall = time.perf_counter() - wall
            mine = time.process_time() - mine
            theirs = cpu_seconds(emulator.process.pid) - theirs
            assert report is not None and report.by_zone["web"] == total, report
            verdict = "met" if total / wall >= COMPACTION_TARGET else "MISSED"
            print("\n2. compaction with the emulator in the loop (list, fetch, transform, "
                  "upload, checkpoint)")
            print(f"   {report.objects} objects, {report.written:,} rows "
                  f"({total:,} events + {len(platform):,} platform events): {wall:.2f} s "
                  f"-> {total / wall:,.0f} events/s; target >= {COMPACTION_TARGET:,}/s: "
                  f"{verdict}")
            print("   wall seconds by phase: " + ", ".join(
                f"{phase} {seconds:.2f}" for phase, seconds in report.phases.items()))
            print(f"   CPU over the run: this process {mine:.2f} s (DuckDB threads "
                  f"included), the emulator {theirs:.2f} s")
            await bench_live(s3, bucket, compactor, work)
    return cache


async def bench_live(s3: Any, bucket: str, compactor: Compactor, work: Path) -> None:
    """Live traffic: an object of 100 new events, the next run, then what the API does
    (sync its copy, derive the changed day's sessions, answer the overview)."""
    import gzip

    import orjson

    reader = LakeCache(work / "api-cache")
    await reader.sync(s3, bucket)
    engine = ReportEngine(lambda t, a, b: reader.paths(t, a, b),
                          sessions_root=work / "api-sessions")
    engine.prepare()
    runs, reads = [], []
    for turn in range(5):
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        fresh = [{"id": f"live-{turn}-{n}", "type": "page", "name": None, "path": "/home",
                  "referrer": None, "referrer_host": None, "properties": {},
                  "timestamp": stamp, "received_at": stamp, "visitor": f"{turn:032x}",
                  "country": "DE", "browser": "Firefox", "os": "Linux",
                  "device": "desktop", "bot": False, "site": "bench"} for n in range(100)]
        await s3.put_object(Bucket=bucket, Key=raw_key("web", now),
                            Body=gzip.compress(b"\n".join(orjson.dumps(e) for e in fresh)))
        started = time.perf_counter()
        report = await compactor.run_once()
        runs.append(time.perf_counter() - started)
        assert report is not None and report.written == 100, report
        started = time.perf_counter()
        await reader.sync(s3, bucket)
        engine.prepare()
        window = parse_window(now.date().isoformat(), now.date().isoformat())
        assert engine.overview(window).events >= 100 * (turn + 1)
        reads.append(time.perf_counter() - started)
    print(f"   live: a run over one new object p50 {statistics.median(runs) * 1000:.0f} ms "
          f"(max {max(runs) * 1000:.0f}); the API's sync + sessions + overview p50 "
          f"{statistics.median(reads) * 1000:.0f} ms (max {max(reads) * 1000:.0f}). "
          "Freshness at most the run interval (15 s) + the refresh interval (10 s) + these")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def bench_reports(cache: LakeCache, args: argparse.Namespace) -> None:
    engine = ReportEngine(lambda t, a, b: cache.paths(t, a, b), memory_mb=1024, threads=2)
    end = args.end
    span = (str(end - timedelta(days=args.days - 1)), str(end))
    week = (str(end - timedelta(days=6)), str(end))
    day = (str(end), str(end))
    steps = parse_steps("/home,/product,/cart,event:purchase")
    cases: list[tuple[str, tuple[str, str], Callable[[Any], Any]]] = [
        ("overview 1 day", day, engine.overview),
        ("overview 7 days", week, engine.overview),
        ("overview 60 days", span, engine.overview),
        ("timeseries visitors/day 60 d", span,
         lambda w: engine.timeseries(w, "visitors", "day")),
        ("timeseries visits/day 60 d", span, lambda w: engine.timeseries(w, "visits", "day")),
        ("timeseries pageviews/hour 7 d", week,
         lambda w: engine.timeseries(w, "pageviews", "hour")),
        ("breakdown page 60 d", span, lambda w: engine.breakdown(w, "page", 100)),
        ("breakdown country 60 d", span, lambda w: engine.breakdown(w, "country", 100)),
        ("breakdown continent 60 d", span, lambda w: engine.breakdown(w, "continent", 100)),
        ("breakdown referrer 60 d", span, lambda w: engine.breakdown(w, "referrer", 100)),
        ("breakdown event 60 d", span, lambda w: engine.breakdown(w, "event", 100)),
        ("funnel 4 steps 60 d", span, lambda w: engine.funnel(w, steps)),
        ("platform 60 d", span, lambda w: engine.platform(w, 1000)),
    ]
    print(f"\n3. reports over {args.days} days x {args.events:,} events "
          f"({args.repeat} runs each, {args.tz})")
    started = time.perf_counter()
    engine.prepare()
    print(f"   sessions of the {args.days} days derived once (what the API does after a "
          f"sync brings new files): {time.perf_counter() - started:.2f} s")
    print("   first: the report's first run (no day's rows kept yet); p50/p95: the next runs, "
          "each after the last day's rows are forgotten, as a compaction run changes the "
          "current day's files")
    print(f"   {'report':<32} {'first ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'files':>6} "
          f"{'MB read':>8}  target")
    worst = 0.0
    for name, (low, high), call in cases:
        window = parse_window(low, high, args.tz)
        started = time.perf_counter()
        call(window)
        first = (time.perf_counter() - started) * 1000
        times = []
        for _ in range(args.repeat):
            engine.day_rows.forget(end)
            started = time.perf_counter()
            call(window)
            times.append((time.perf_counter() - started) * 1000)
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        worst = max(worst, p95)
        stats = engine.last
        verdict = "met" if p95 < REPORT_P95_TARGET_MS else "MISSED"
        print(f"   {name:<32} {first:>8.0f} {p50:>8.0f} {p95:>8.0f} {stats.files:>6} "
              f"{stats.bytes / 1e6:>8.1f}  {verdict}")
    print(f"   worst p95 {worst:.0f} ms (target < {REPORT_P95_TARGET_MS} ms): "
          f"{'met' if worst < REPORT_P95_TARGET_MS else 'MISSED'}; MB read = the Parquet "
          "files of the partitions the window touches (DuckDB reads only the columns a "
          "report names)")


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--events", type=int, default=1_000_000)
    cli.add_argument("--days", type=int, default=60)
    cli.add_argument("--end", type=date.fromisoformat, default=date(2026, 12, 6))
    cli.add_argument("--seed", type=int, default=7)
    cli.add_argument("--per-object", type=int, default=5000,
                     help="events per raw object (the collector writes smaller ones)")
    cli.add_argument("--repeat", type=int, default=20)
    cli.add_argument("--tz", default="Europe/Berlin")
    args = cli.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-insights-") as folder:
        work = Path(folder)
        raw = work / "raw"
        raw.mkdir()
        objects, platform = generate(args, raw)
        bench_transform(objects, work)
        cache = asyncio.run(bench_emulator(objects, platform, work))
        bench_reports(cache, args)
    collector = ROOT / "bench" / "bench_insights_collector.py"
    if collector.exists():
        print("\n4. bench/bench_insights_collector.py")
        subprocess.run([sys.executable, str(collector)], check=False)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
