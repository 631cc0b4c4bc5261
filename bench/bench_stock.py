"""The stock pipeline end to end: throughput, latency, AWS calls per 1,000 ticks, the engine.

    make bench-stock                                  # 20,000 ticks over 20 symbols
    python bench/bench_stock.py --ticks 5000 --symbols 10 --workers 2
    python bench/bench_stock.py --rate 1000 --linger 2     # steady 1,000 ticks/s: latency

Starts its own emulator, provisions it, and runs the stock-ingest API, the trend worker(s) and
the trend API as processes, each counting its AWS calls by operation (AWS_CALL_COUNTS_PATH).
The producer's sender pushes seeded mock ticks (timestamps in the recent past) as fast as the
API accepts them; GET /trends is polled every --poll seconds until every tick is reflected in
trend state. Then the processes stop (writing their counts) and the bench reports:

1. sustained throughput, first 202 to last tick reflected in trend state; p50/p99 latency
   from a request's 202 to its ticks in trend state (per tick; resolution: the poll interval);
   a check that every tick is in the table, in the archive and in trend state exactly once.
   Targets: >= 1,000 ticks/s, nothing lost or duplicated.
2. AWS API calls per 1,000 ticks by operation for the pipeline (stock-ingest API + trend
   workers; start-up included), and for the read API the bench polls. Target: <= 100.
3. the indicator engine alone, in process (bench/bench_indicators.py's measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_indicators import make_stream, run  # noqa: E402
from bench.loadgen import call_latency_report, outbox_report  # noqa: E402
from devkit.cognito import DEMO_USERS  # noqa: E402
from devkit.emulator import Emulator  # noqa: E402
from devkit.testing import (  # noqa: E402
    LocalStack,
    ServiceProcess,
    machine_auth,
    queue_depth,
    read_all,
    start_local_stack,
)
from services.stock_ingest.archive import partition_prefixes, read_archive_object  # noqa: E402
from services.stock_ingest.producer import mock_ticks  # noqa: E402
from services.stock_ingest.sender import Delivery, TickSender  # noqa: E402
from shared.aws import AwsClients  # noqa: E402

THROUGHPUT_TARGET = 1_000
CALLS_TARGET = 100


class Watcher:
    """When each request's ticks show up in trend state (ticks_seen per symbol)."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = defaultdict(int)
        # symbol -> [(ticks_seen needed, accepted_at, ticks)] in acceptance order
        self.pending: dict[str, list[tuple[int, float, int]]] = defaultdict(list)
        self.latencies: list[tuple[float, int]] = []  # (seconds, ticks)
        self.first_accepted: float | None = None
        self.last_reflected = 0.0

    def accepted(self, delivery: Delivery) -> None:
        self.first_accepted = self.first_accepted or delivery.accepted_at
        per_symbol = Counter(t["symbol"] for t in delivery.ticks)
        for symbol, count in per_symbol.items():
            self.sent[symbol] += count
            self.pending[symbol].append((self.sent[symbol], delivery.accepted_at, count))

    def seen(self, symbol: str, ticks_seen: int, at: float) -> None:
        waiting = self.pending[symbol]
        while waiting and waiting[0][0] <= ticks_seen:
            _, accepted_at, count = waiting.pop(0)
            self.latencies.append((at - accepted_at, count))
            self.last_reflected = at

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        total = sum(count for _, count in ordered)
        running = 0
        for seconds, count in ordered:
            running += count
            if running >= p / 100 * total:
                return seconds
        return float("nan")

    @property
    def done(self) -> bool:
        return bool(self.sent) and not any(self.pending.values())


async def watch(trends: httpx.AsyncClient, watcher: Watcher, sending: asyncio.Future[object],
                poll: float, aws: AwsClients, stack: LocalStack) -> int:
    """Poll GET /trends until every sent tick is reflected; the deepest queue seen."""
    deepest, last_depth_check = 0, 0.0
    while not (sending.done() and watcher.done):
        started = time.perf_counter()
        items = (await trends.get("/trends")).json()["items"]
        at = time.perf_counter()
        for item in items:
            watcher.seen(item["symbol"], item["ticks_seen"], at)
        if at - last_depth_check > 1.0:
            depth = await queue_depth(aws, stack.resources, "trend-ticks.fifo")
            deepest, last_depth_check = max(deepest, sum(depth.values())), at
        await asyncio.sleep(max(0.0, poll - (time.perf_counter() - started)))
    return deepest


async def verify(aws: AwsClients, stack: LocalStack, expected: dict[str, set[str]],
                 trends: httpx.AsyncClient, start: datetime, end: datetime) -> list[str]:
    """Every tick exactly once in the table, the archive and trend state; the problems found."""
    problems = []
    dynamodb, s3 = await aws.client("dynamodb"), await aws.client("s3")
    table, bucket = stack.resources.table("stock-ticks"), stack.resources.bucket("stock-archive")
    for symbol, ids in expected.items():
        items = await read_all(dynamodb.query, TableName=table,
                               KeyConditionExpression="symbol = :s",
                               ExpressionAttributeValues={":s": {"S": symbol}},
                               ProjectionExpression="tick_key")
        stored = [i["tick_key"]["S"].partition("#")[2] for i in items]
        if sorted(stored) != sorted(ids):
            problems.append(f"table: {symbol} holds {len(stored)} ticks, expected {len(ids)}")
        view = (await trends.get(f"/trends/{symbol}")).json()
        if view.get("ticks_seen") != len(ids) or view.get("ignored") != {
                "duplicates": 0, "out_of_order": 0}:
            problems.append(f"trend: {symbol} {view.get('ticks_seen')} ticks seen, "
                            f"ignored {view.get('ignored')}, expected {len(ids)}")
    archived: Counter[str] = Counter()
    for prefix in partition_prefixes(start, end):
        request = {"Bucket": bucket, "Prefix": prefix}
        while True:
            listed = await s3.list_objects_v2(**request)
            for entry in listed.get("Contents", []):
                body = await (await s3.get_object(Bucket=bucket, Key=entry["Key"]))["Body"].read()
                archived.update(t.id for t in read_archive_object(body))
            if not listed.get("IsTruncated"):
                break
            request["ContinuationToken"] = listed["NextContinuationToken"]
    all_ids = {i for ids in expected.values() for i in ids}
    if set(archived) != all_ids or set(archived.values()) != {1}:
        problems.append(f"archive: {len(archived)} distinct ids, "
                        f"{sum(archived.values())} lines, expected {len(all_ids)} once each")
    return problems


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def call_table(title: str, counts: Counter[str], ticks: int) -> str:
    total = sum(counts.values())
    lines = [f"\n{title}: {total} calls, {total / ticks * 1000:.1f} per 1,000 ticks",
             "| operation | calls | per 1,000 ticks |", "|---|---:|---:|"]
    lines += [f"| {op} | {n} | {n / ticks * 1000:.2f} |" for op, n in counts.most_common()]
    return "\n".join(lines)


async def pipeline(args: argparse.Namespace) -> int:
    symbols = [f"S{i:03d}" for i in range(args.symbols)]
    per_symbol_span = args.ticks / args.symbols  # one tick per simulated second per symbol
    start = (datetime.now(UTC) - timedelta(seconds=per_symbol_span + 60)).replace(microsecond=0)
    raw = list(mock_ticks(symbols, count=args.ticks, rate=1, seed=args.seed, start=start))
    folder = Path(tempfile.mkdtemp(prefix="bench-stock-"))
    with Emulator(log_path=folder / "moto.log") as emulator:
        counts_dir = folder
        stack = await start_local_stack(emulator, DEMO_USERS)
        env = {**stack.env, "LOG_LEVEL": args.log_level, "WORKER_WAIT_TIME_SECONDS": "20",
               "TREND_BATCH_WINDOW_SECONDS": str(args.window),
               "STOCK_WRITE_CONCURRENCY": str(args.write_concurrency)}

        def counted(name: str) -> dict[str, str]:
            return {**env, "AWS_CALL_COUNTS_PATH": str(counts_dir / f"{name}.json"),
                    "OUTBOX_STATS_PATH": str(counts_dir / f"{name}.outbox.json")}

        ingest = ServiceProcess.api("services.stock_ingest.main:app", counted("ingest"),
                                    log_path=counts_dir / "ingest.log")
        # Its relay publishes the events the API commits to the outbox.
        relay = ServiceProcess.worker("services.stock_ingest.worker", counted("ingest-worker"),
                                      log_path=counts_dir / "ingest-worker.log")
        trend_api = ServiceProcess.api("services.trend.main:app", counted("trend-api"),
                                       log_path=counts_dir / "trend-api.log")
        workers = [ServiceProcess.worker("services.trend.worker", counted(f"worker-{i}"),
                                         log_path=counts_dir / f"worker-{i}.log")
                   for i in range(args.workers)]
        processes = [ingest, relay, trend_api, *workers]
        try:
            for process in processes:
                process.start(timeout=120)
            await asyncio.sleep(2)  # let the workers reach their first long poll
            watcher = Watcher()
            async with AwsClients(stack.settings) as aws, \
                    httpx.AsyncClient(base_url=ingest.url, timeout=120, auth=machine_auth(stack),
                                      limits=httpx.Limits(max_connections=64)) as client, \
                    httpx.AsyncClient(base_url=trend_api.url, timeout=60) as trends:
                sender = TickSender(client, batch=args.batch, concurrency=args.concurrency,
                                    linger=args.linger, on_delivery=watcher.accepted)
                began = time.perf_counter()
                load_began = time.time()
                sending = asyncio.ensure_future(sender.send(raw, rate=args.rate or None))
                deepest = await watch(trends, watcher, sending, args.poll, aws, stack)
                report = sending.result()
                sent_seconds = report.seconds
                expected: dict[str, set[str]] = defaultdict(set)
                from services.stock_ingest.models import validate_ticks

                for offset in range(0, len(raw), 500):
                    for tick in validate_ticks({"ticks": raw[offset:offset + 500]}).ticks:
                        expected[tick.symbol].add(tick.id)
                problems = await verify(aws, stack, expected, trends, start,
                                        start + timedelta(seconds=per_symbol_span + 1))
            named = [("emulator (moto)", emulator.process), ("stock-ingest API", ingest.process),
                     ("stock-ingest worker (relay)", relay.process),
                     *((f"trend worker {i}", w.process) for i, w in enumerate(workers)),
                     ("trend API", trend_api.process)]
            cpu = {name: cpu_seconds(p.pid) for name, p in named if p is not None}
            cpu["bench (producer, poller)"] = time.process_time()
        finally:
            for process in processes:
                process.stop()
        pipeline_calls: Counter[str] = Counter()
        for name in ["ingest", "ingest-worker", *(f"worker-{i}" for i in range(args.workers))]:
            pipeline_calls.update(json.loads((counts_dir / f"{name}.json").read_text())["calls"])
        outbox = outbox_report([counts_dir / "ingest-worker.outbox.json"], since=load_began)
        latency = call_latency_report({"API": counts_dir / "ingest.json",
                                       "relay": counts_dir / "ingest-worker.json"})
        read_calls = Counter(json.loads((counts_dir / "trend-api.json").read_text())["calls"])
    if args.keep:
        print(f"logs and call counts kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)

    span = watcher.last_reflected - (watcher.first_accepted or began)
    throughput = args.ticks / span
    calls_per_k = sum(pipeline_calls.values()) / args.ticks * 1000
    pace = f"paced at {args.rate:g} ticks/s" if args.rate else "as fast as accepted"
    print(f"\n{args.ticks:,} ticks, {args.symbols} symbols, {pace}, batch {args.batch}, "
          f"{args.concurrency} requests in flight, {args.workers} trend worker(s), "
          f"batch window {args.window} s, {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.1f} at the end)")
    print("\n1. End to end")
    print(f"   accepted by the API:   {report.accepted:,} ticks in {sent_seconds:.1f} s "
          f"({report.accepted / sent_seconds:,.0f} ticks/s), {report.requests} requests, "
          f"{report.retries} retries, {report.lost} lost")
    print(f"   first 202 -> last tick in trend state: {span:.1f} s = "
          f"{throughput:,.0f} ticks/s (target >= {THROUGHPUT_TARGET:,}: "
          f"{'met' if throughput >= THROUGHPUT_TARGET else 'NOT met'})")
    print(f"   latency 202 -> trend state: p50 {watcher.percentile(50) * 1000:,.0f} ms, "
          f"p99 {watcher.percentile(99) * 1000:,.0f} ms (poll every {args.poll * 1000:.0f} ms)")
    print(f"   deepest trend queue seen: {deepest} messages")
    print(f"   {outbox}")
    print(f"   {latency}")
    print(f"   exactly once (table, archive, trend): "
          f"{'yes' if not problems else 'NO: ' + '; '.join(problems)}")
    print("   CPU seconds used (start-up and checks included): " + ", ".join(
        f"{name} {seconds:.1f}" for name, seconds in cpu.items()))
    print("\n2. AWS API calls")
    print(call_table("pipeline (stock-ingest API and worker, trend workers)", pipeline_calls,
                     args.ticks))
    print(f"target <= {CALLS_TARGET} per 1,000 ticks: "
          f"{'met' if calls_per_k <= CALLS_TARGET else 'NOT met'}")
    print(call_table("read API polled by the bench (trend API)", read_calls, args.ticks))
    return 1 if problems or report.lost else 0


def engine(ticks: int, symbols: int, batches: list[int]) -> None:
    print(f"\n3. Indicator engine in process: {ticks:,} ticks, {symbols} symbols (best of 3)")
    columns = make_stream(ticks, symbols, 7)
    print("| ticks per update_many | ticks/CPU-s | ticks/s (wall) |\n|---:|---:|---:|")
    for batch in batches:
        cpu, wall = min(run(columns, batch) for _ in range(3))
        print(f"| {batch} | {ticks / cpu:,.0f} | {ticks / wall:,.0f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=20_000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--batch", type=int, default=500, help="ticks per request")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--rate", type=float, default=0, help="ticks/s to send (0: no limit)")
    parser.add_argument("--linger", type=float, default=0.5,
                        help="longest wait to fill a request when paced, s")
    parser.add_argument("--workers", type=int, default=1, help="trend worker processes")
    parser.add_argument("--write-concurrency", type=int, default=4,
                        help="BatchWriteItem calls in flight per ingest request")
    parser.add_argument("--window", type=float, default=0.2, help="trend batch window, s")
    parser.add_argument("--poll", type=float, default=0.25, help="GET /trends interval, s")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log-level", default="WARNING", help="of the service processes")
    parser.add_argument("--keep", action="store_true", help="keep logs and call counts")
    parser.add_argument("--engine-ticks", type=int, default=500_000)
    args = parser.parse_args()
    code = asyncio.run(pipeline(args))
    engine(args.engine_ticks, args.symbols, [500, 100, 25])
    sys.exit(code)
