"""Meety under load: concurrent conversations through POST /meetings/chat, and NLU throughput.

    make bench-meetings                      # 50 conversations at once, ~7 turns each
    python bench/bench_meetings.py --concurrency 50 --conversations 3 --think-ms 1000
    python bench/bench_meetings.py --rate-limits on   # the limiters on, nothing refused

Starts its own emulator, provisions it, runs the meetings API and worker as processes, books
and approves a few meetings so that busy-time lookups find something, then measures twice:

- paced: every simulated user holds conversations back to back, pausing about ``--think-ms``
  (+-50 %, starts spread too) between a reply and their next message: a person reads and
  types, and 1 s is a fast typist. This is what "50 concurrent conversations" means for the
  p99 target.
- saturated: the same users with no pause at all, so 50 requests are always outstanding; the
  turns/s it reaches is the stack's capacity, and its latency is queueing (Little's law).

Last, it measures `understand()` in-process over the NLU corpus (bench/bench_nlu.py).
Targets: p99 per turn < 100 ms with 50 concurrent conversations; `understand()` >= 2,000
calls/s on one core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_nlu  # noqa: E402
from bench.loadgen import (  # noqa: E402
    RATE_LIMIT_MODES,
    CpuMeter,
    outbox_report,
    rate_limit_env,
)
from devkit.cognito import DEMO_USERS, sign_in  # noqa: E402
from devkit.emulator import Emulator  # noqa: E402
from devkit.testing import ServiceProcess, start_local_stack  # noqa: E402
from shared.aws import AwsClients  # noqa: E402

TARGET_P99_MS = 100.0
NAMES = ["Ana Lima", "Bruno Costa", "Chen Wei", "Dana Scully", "Emeka Obi", "Fatima Zahra",
         "Gustav Berg", "Hana Sato", "Ivan Petrov", "Jade Moreau"]


def workdays(count: int, *, start_in_days: int = 14) -> list[date]:
    """The next ``count`` weekdays, starting two weeks from today."""
    day = datetime.now(UTC).date() + timedelta(days=start_in_days)
    days: list[date] = []
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def script(n: int, day: date) -> list[str]:
    """About seven turns of one persona: greeting, intent, name, date, time, length+e-mail, yes."""
    name = NAMES[n % len(NAMES)]
    hour = 9 + n % 8
    return [
        "Hi Meety",
        "I'd like to book a meeting",
        f"My name is {name}",
        f"{day:%A}, {day:%B} {day.day}, {day.year}",
        f"at {hour % 12 or 12}:{(n % 4) * 15:02d} {'am' if hour < 12 else 'pm'}",
        f"45 minutes please, {name.split()[0].lower()}.{n}@example.com",
        "yes",
    ]


class Recorder:
    """Per-turn latencies, errors and completed bookings of one measurement."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.errors: list[str] = []
        self.booked = 0


async def converse(http: httpx.AsyncClient, lines: list[str], recorder: Recorder,
                   think: float, rng: random.Random | None = None) -> None:
    """One conversation; ``think`` seconds (on average, varied by ``rng``) between turns."""
    session_id = None
    for text in lines:
        body = {"text": text, "timezone": "Europe/Paris"}
        if session_id:
            body["session_id"] = session_id
        started = time.perf_counter()
        try:
            response = await http.post("/meetings/chat", json=body)
        except httpx.TransportError as exc:
            recorder.errors.append(f"{type(exc).__name__}: {exc}")
            return
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            recorder.errors.append(f"{response.status_code} {response.text[:200]}")
            return
        recorder.latencies_ms.append(elapsed)
        reply = response.json()
        session_id = reply["session_id"]
        if think:
            await asyncio.sleep(think * (rng.uniform(0.5, 1.5) if rng else 1))
    if reply["dialog"]["state"] == "Fulfilled" and reply["meeting"]:
        recorder.booked += 1
    else:
        recorder.errors.append(f"conversation ended in {reply['dialog']['state']}: "
                               f"{reply['messages']}")


async def seed_approved(http: httpx.AsyncClient, admin: str, days: list[date]) -> None:
    """Book and approve one meeting on each day, so busy lookups have something to find."""
    recorder = Recorder()
    for n, day in enumerate(days):
        lines = [f"Book a meeting on {day:%B} {day.day}, {day.year} at 8:00 am, I'm Seed Er",
                 "30 minutes", f"seed.{n}@example.com", "yes"]
        await converse(http, lines, recorder, 0)
    if recorder.errors or recorder.booked != len(days):
        raise RuntimeError(f"seeding failed: {recorder.errors[:3]}")
    pending = (await http.get("/meetings/pending", params={"limit": 100},
                              headers={"Authorization": f"Bearer {admin}"})).json()["items"]
    for meeting in pending:
        response = await http.patch(f"/meetings/{meeting['id']}", json={"status": "approved"},
                                    headers={"Authorization": f"Bearer {admin}"})
        response.raise_for_status()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def measure(http: httpx.AsyncClient, days: list[date], concurrency: int,
                  conversations: int, think_ms: float, first: int) -> tuple[Recorder, float]:
    """Run ``concurrency`` users holding ``conversations`` each; returns turns and seconds."""
    recorder = Recorder()
    rng = random.Random(first)

    async def user(n: int) -> None:
        # People do not all press enter at the same instant: starts are spread over one
        # think time, and each pause varies by +-50 %.
        await asyncio.sleep(rng.uniform(0, think_ms / 1000))
        for round_ in range(conversations):
            k = first + n + round_ * concurrency
            await converse(http, script(k, days[n % len(days)]), recorder, think_ms / 1000, rng)

    started = time.perf_counter()
    await asyncio.gather(*(user(n) for n in range(concurrency)))
    return recorder, time.perf_counter() - started


def report(name: str, recorder: Recorder, elapsed: float, think_ms: float) -> list[str]:
    latencies = recorder.latencies_ms or [float("nan")]
    lines = [
        f"{name}: {len(recorder.latencies_ms)} turns, {recorder.booked} meetings booked, "
        f"{len(recorder.errors)} errors, think time {think_ms:.0f} ms, {elapsed:.1f} s",
        f"  turns/s {len(recorder.latencies_ms) / elapsed:8.1f}   per turn: "
        f"p50 {statistics.median(latencies):7.1f} ms   p90 {percentile(latencies, 90):7.1f} ms   "
        f"p99 {percentile(latencies, 99):7.1f} ms   max {max(latencies):7.1f} ms",
    ]
    lines += [f"  error: {error}" for error in recorder.errors[:5]]
    return lines


def nlu_rate(seconds: float = 3.0) -> float:
    """understand() calls per second over the labelled corpus, in this process."""
    calls = bench_nlu.load_calls()
    bench_nlu.one_round(calls)  # warm-up
    rounds = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        rounds.append(bench_nlu.one_round(calls))
    return len(calls) * len(rounds) / sum(rounds)


async def main(concurrency: int, conversations: int, think_ms: float,
               rate_limits: str = "off") -> int:
    with Emulator() as emulator:
        stack = await start_local_stack(emulator, DEMO_USERS)
        async with AwsClients(stack.settings) as aws:
            admin_user = next(u for u in DEMO_USERS if u.admin)
            admin = (await sign_in(aws, stack.settings.cognito_client_id, admin_user.username,
                                   admin_user.password))["AccessToken"]
        # Opening at 8 leaves room for the seeded 8:00 meetings before the users' slots.
        env = {**stack.env, "LOG_LEVEL": "WARNING", "MEETINGS_OPENS": "08:00",
               **rate_limit_env(rate_limits)}
        relay_stats = Path(tempfile.mkdtemp(prefix="bench-meetings-")) / "outbox.json"
        with (
            ServiceProcess.api("services.meetings.main:app", env) as api,
            ServiceProcess.worker("services.meetings.worker",
                                  {**env, "OUTBOX_STATS_PATH": str(relay_stats)}) as worker,
        ):
            meter = CpuMeter({"API": api.process.pid, "worker": worker.process.pid,
                              "emulator": emulator.process.pid})
            limits = httpx.Limits(max_connections=concurrency,
                                  max_keepalive_connections=concurrency)
            async with httpx.AsyncClient(base_url=api.url, timeout=60, limits=limits) as http:
                days = workdays(concurrency)
                await seed_approved(http, admin, days[:10])
                await measure(http, days, min(concurrency, 10), 1, 0, first=10_000)  # warm-up
                load_before = os.getloadavg()[0]
                measured_from = time.time()
                meter.start()
                paced = await measure(http, days, concurrency, conversations, think_ms, first=0)
                meter.stop()
                saturated_meter = CpuMeter(meter.pids)
                saturated_meter.start()
                saturated = await measure(http, days, concurrency, 1, 0, first=50_000)
                saturated_meter.stop()
    rate = nlu_rate()

    print(f"\nMeety benchmark: {concurrency} concurrent conversations of "
          f"{len(script(0, days[0]))} turns (Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after)")
    print(f"rate limits: {rate_limits}" + (" (enabled, limits too high to refuse anything: "
                                           "the limiter's cost)" if rate_limits == "on" else
                                           " (RATE_LIMITS_ENABLED=false, as always before)"))
    for line in (*report("paced", *paced, think_ms), *report("saturated", *saturated, 0)):
        print(line)
    print(f"CPU per turn (paced): {meter.per_turn(len(paced[0].latencies_ms))}")
    print(f"CPU per turn (saturated): "
          f"{saturated_meter.per_turn(len(saturated[0].latencies_ms))}")
    print(outbox_report([relay_stats], since=measured_from) + " (paced and saturated runs)")
    print(f"understand(): {rate:,.0f} calls/s (one core, in-process, "
          f"{len(bench_nlu.load_calls())}-utterance corpus)")

    recorder = paced[0]
    p99 = percentile(recorder.latencies_ms, 99) if recorder.latencies_ms else float("inf")
    turn_ok = p99 < TARGET_P99_MS and not recorder.errors
    print(f"\ntarget p99 < {TARGET_P99_MS:.0f} ms per turn (paced), zero errors: "
          f"{'met' if turn_ok else 'NOT met'} ({p99:.1f} ms)")
    print(f"target understand() >= {bench_nlu.TARGET_CALLS_PER_SECOND:,} calls/s: "
          f"{'met' if rate >= bench_nlu.TARGET_CALLS_PER_SECOND else 'NOT met'}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50,
                        help="simulated users talking at once")
    parser.add_argument("--conversations", type=int, default=3,
                        help="conversations each user holds, one after the other")
    parser.add_argument("--think-ms", type=float, default=1000,
                        help="pause between a reply and the user's next message (paced run)")
    parser.add_argument("--rate-limits", choices=RATE_LIMIT_MODES, default="off",
                        help="off: limits disabled, as the suites run; on: the kit's limiters "
                             "enabled with limits no request reaches (their cost)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.concurrency, args.conversations, args.think_ms,
                              args.rate_limits)))
