"""Nothing lost, nothing doubled: mixed load against the local stack while it is being broken.

    make chaos                                    # about 3 minutes of load, then the table
    python bench/chaos.py --seconds 60 --kills 8 --blackouts 2 --seed 3 --json out.json

Starts its own emulator, provisions it (Cognito users included), puts a fault proxy
(bench/faultproxy.py) between the services and it, and starts every API and worker of the
local platform (infra/services.yaml; the gateway aside) as its own process pointed at the
proxy. Then, for ``--seconds``:

- load: several users create, update, delete, like and unlike recipes; conversations with
  Meety run to confirmation and an admin approves, rejects and cancels the requests; tick
  batches go to POST /stocks/ticks (each batch retried until accepted, as the producer does);
  a few tiny media jobs run, and a broken upload's failed job is retried by an admin;
- kills: ``--kills`` SIGKILLs of random API and worker processes at random moments, each
  restarted after a short pause with one of its fault points armed (``REGATTA_FAULT_POINTS``:
  the process dies the first or second time it reaches the point, e.g. just after a write
  committed, or a relay just after SNS accepted a batch) and is restarted clean when it dies;
- the AWS endpoint misbehaves: throttling errors in each protocol's own format, 503s,
  connections reset before a request is forwarded and after it was applied, and
  ``--blackouts`` outages of 2-10 s (connections refused, or held unanswered and dropped);
- duplicates: a tap queue on every topic sees each published event; a sample of them is sent
  a second time, as the same raw message body, to the queue that consumes that topic (now or
  up to 20 s later; FIFO copies get a fresh deduplication id so SQS does not drop them), so the
  consumers' idempotency is what stands between a duplicate and a second effect.

Then faults stop, every process is brought back, the harness waits for the queues to drain
(``--settle`` at most) and reconciles what the API said it committed (2xx answers) and what the
tables hold against what appeared downstream: the search index, the e-mails in the emulator's
SES store (by Message-ID), trend state against an offline recompute from the stored ticks, the
signals and their alerts, the media jobs and their outputs, and the dead-letter queues.
Targets: lost 0, duplicated effects 0, stuck 0, non-poison DLQ messages 0, no 5xx but 503.
E-mail is at least once (SNS e-mail cannot deduplicate, and SES sends what it is given): trend
alerts sent again and meeting e-mails sent twice with the same Message-ID are counted apart.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import json
import math
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_meetings import script, workdays  # noqa: E402
from bench.faultproxy import FaultProxy, FaultRates  # noqa: E402
from devkit.catalog import load_services  # noqa: E402
from devkit.cognito import DEMO_USERS, sign_in  # noqa: E402
from devkit.emulator import Emulator  # noqa: E402
from devkit.testing import (  # noqa: E402
    BOB,
    LocalStack,
    ServiceProcess,
    read_all,
    start_local_stack,
)
from services.recipes.logic import index_tokens  # noqa: E402
from services.recipes.models import Recipe  # noqa: E402
from services.trend import logic as trend_logic  # noqa: E402
from services.trend.events import TREND_EVENTS  # noqa: E402
from services.trend.indicators import IndicatorConfig, IndicatorEngine  # noqa: E402
from services.trend.models import RecordedTick  # noqa: E402
from services.trend.settings import TrendSettings  # noqa: E402
from shared.aws import AwsClients  # noqa: E402
from shared.cognito import INGEST_SCOPE, client_credentials_token  # noqa: E402
from shared.dynamo import from_item  # noqa: E402

MACHINE = "tick-producer"  # the key of the producers' machine token among the load's tokens
from shared.topology import dlq_name, load_topology  # noqa: E402

# Fault points the services place after a write commits (and the outbox relay after SNS
# accepted a batch), by the API process that reaches them. Unplaced points are inert.
API_POINTS = {
    "recipes": ["recipes.create.committed", "recipes.update.committed",
                "recipes.delete.committed", "recipes.like.committed",
                "recipes.unlike.committed"],
    "meetings": ["meetings.request.committed", "meetings.decide.committed"],
    "stock-ingest": ["stock.ticks.committed"],
    "media-jobs": ["media.retry.committed"],
}
RELAY_POINT = "outbox.relay.published"
# Queues a topic's events reach, for the duplicate injector.
CONSUMED_BY = {"recipes-events": "recipes-search-index",
               "meetings-events": "meetings-notifications",
               "stock-ticks.fifo": "trend-ticks.fifo"}
TAPPED = ["recipes-events", "meetings-events", "stock-ticks.fifo", "trend-events",
          "stock-trend-alerts", "media-events"]
MAIL_KINDS = {"pending": ["requested"], "approved": ["requested", "approved"],
              "rejected": ["requested", "rejected"],
              "cancelled": ["requested", "approved", "cancelled"]}
WORDS = ["tomato", "basil", "onion", "garlic", "lemon", "rice", "bean", "pepper", "ginger",
         "apple", "carrot", "leek", "thyme", "honey", "olive", "lentil", "mint", "fennel"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# Processes


class Proc:
    """One process of the local platform, restartable, with the CPU of all its incarnations."""

    def __init__(self, name: str, service: ServiceProcess, kind: str) -> None:
        self.name, self.service, self.kind = name, service, kind
        self.base_env = dict(service.env)
        self.cpu_dead = 0.0
        self.starts = 0
        self.deaths: Counter[str] = Counter()
        self.armed: str | None = None
        self.expected_down = False

    @property
    def pid(self) -> int | None:
        return self.service.process.pid if self.service.process else None

    def start(self, point: str | None = None, *, first: bool = False) -> None:
        self.armed = point
        self.service.env = {**self.base_env, **({"REGATTA_FAULT_POINTS": point} if point else {})}
        self.starts += 1
        if first:  # before the load: it must come up (a busy machine imports slowly)
            self.service.start(timeout=300)
            self.expected_down = False
            return
        # Not ready in time (an outage, or an armed point hit at once): the monitor sees it.
        with contextlib.suppress(RuntimeError):
            self.service.start(timeout=60)
        self.expected_down = False

    def reap(self, block: bool = False) -> bool:
        """True when the process has exited (its CPU is then added up)."""
        process = self.service.process
        if process is None or process.returncode is not None:
            return True
        try:
            pid, _, usage = os.wait4(process.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            process.returncode = -1
            return True
        if pid == 0:
            return False
        self.cpu_dead += usage.ru_utime + usage.ru_stime
        process.returncode = -1
        return True

    def kill(self) -> None:
        if self.service.process and not self.reap():
            self.expected_down = True
            self.service.process.send_signal(signal.SIGKILL)
            self.reap(block=True)

    def stop(self) -> None:
        if self.service.process and not self.reap():
            self.service.process.terminate()
            deadline = time.monotonic() + 15
            while not self.reap() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not self.reap():
                self.service.process.kill()
                self.reap(block=True)

    def cpu(self) -> float:
        live = 0.0
        if self.pid and not self.reap():
            with contextlib.suppress(OSError):
                live = cpu_seconds(self.pid)
        return self.cpu_dead + live


def procfile_processes(env: dict[str, str], logs: Path) -> list[Proc]:
    """Every API and worker `make run` runs (infra/services.yaml; the gateway aside), as
    restartable processes."""
    procs = []
    for name, service in load_services().items():
        log_path = logs / f"{name}.log"
        procs.append(Proc(name, ServiceProcess.api(service.app, env, log_path=log_path), "api"))
        if service.worker_module:
            worker = f"{name}-worker"
            procs.append(Proc(worker, ServiceProcess.worker(service.worker_module, env,
                                                            log_path=logs / f"{worker}.log"),
                              "worker"))
    return procs


def points_of(proc: Proc) -> list[str]:
    """The fault points ``proc`` can reach: its API's commits, or a worker's outbox relay."""
    return API_POINTS.get(proc.name, []) if proc.kind == "api" else [RELAY_POINT]


# --------------------------------------------------------------------------------------------
# What the clients saw


@dataclass
class Ledger:
    """Every answer the load got, and what the 2xx answers said was committed."""

    answers: Counter[str] = field(default_factory=Counter)  # "op status"
    committed: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # 5xx other than 503
    recipes_created: set[str] = field(default_factory=set)
    recipes_deleted: set[str] = field(default_factory=set)
    recipes_delete_tried: set[str] = field(default_factory=set)
    recipe_versions: dict[str, int] = field(default_factory=dict)
    meetings_confirmed: set[str] = field(default_factory=set)
    decisions: dict[str, str] = field(default_factory=dict)  # meeting id -> last status
    ticks_accepted: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    ticks_unacknowledged: int = 0
    media_jobs: dict[str, str] = field(default_factory=dict)  # guid -> "good" | "bad"
    media_uploaded: set[str] = field(default_factory=set)
    media_retries: Counter[str] = field(default_factory=Counter)  # guid -> accepted retries
    conversations_abandoned: int = 0

    def saw(self, op: str, response: httpx.Response | None, error: str = "") -> bool:
        if response is None:
            self.answers[f"{op} transport-error"] += 1
            return False
        self.answers[f"{op} {response.status_code}"] += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.server_errors.append(f"{op} {response.status_code} {response.text[:200]}")
        ok = 200 <= response.status_code < 300
        if ok:
            self.committed[op] += 1
        return ok

    @property
    def operations(self) -> int:
        return sum(self.answers.values())


async def call(http: httpx.AsyncClient, ledger: Ledger, op: str, method: str, url: str,
               **kwargs: Any) -> httpx.Response | None:
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.TransportError:
        ledger.saw(op, None)
        await asyncio.sleep(0.5)  # the process is down: it is being restarted
        return None
    ledger.saw(op, response)
    return response


# --------------------------------------------------------------------------------------------
# Load


class Load:
    def __init__(self, urls: dict[str, str], tokens: dict[str, str], ledger: Ledger,
                 rng: random.Random, deadline: float, workdir: Path) -> None:
        self.urls, self.tokens, self.ledger, self.rng = urls, tokens, ledger, rng
        self.deadline, self.workdir = deadline, workdir
        self.http = httpx.AsyncClient(timeout=40)
        self.owned: dict[str, dict[str, int]] = defaultdict(dict)  # user -> id -> version
        self.recipe_ids: list[str] = []

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def recipe_body(self) -> dict[str, Any]:
        picked = self.rng.sample(WORDS, 3)
        return {"title": f"{picked[0]} and {picked[1]} chaos{self.rng.randrange(10**6)}",
                "ingredients": [{"description": f"2 {w}s"} for w in picked],
                "steps": [{"description": "Cook gently"}], "tags": [self.rng.choice(WORDS)]}

    async def recipes_user(self, user: str) -> None:
        base, mine = self.urls["recipes"], self.owned[user]
        while self.running():
            roll = self.rng.random()
            if roll < 0.3 or not mine:
                r = await call(self.http, self.ledger, "recipes.create", "POST",
                               f"{base}/recipes", json=self.recipe_body(), headers=self.auth(user))
                if r is not None and r.status_code == 201:
                    recipe = r.json()
                    mine[recipe["id"]] = recipe["version"]
                    self.recipe_ids.append(recipe["id"])
                    self.ledger.recipes_created.add(recipe["id"])
            elif roll < 0.5:
                rid = self.rng.choice(list(mine))
                r = await call(self.http, self.ledger, "recipes.update", "PUT",
                               f"{base}/recipes/{rid}", json=self.recipe_body(),
                               headers={**self.auth(user), "If-Match": f'"{mine[rid]}"'})
                if r is not None and r.status_code == 200:
                    mine[rid] = r.json()["version"]
                    self.ledger.recipe_versions[rid] = mine[rid]
                elif r is not None and r.status_code == 412:
                    got = await call(self.http, self.ledger, "recipes.get", "GET",
                                     f"{base}/recipes/{rid}")
                    if got is not None and got.status_code == 200:
                        mine[rid] = got.json()["version"]
                elif r is not None and r.status_code == 404:
                    mine.pop(rid, None)
            elif roll < 0.6:
                rid = self.rng.choice(list(mine))
                self.ledger.recipes_delete_tried.add(rid)  # an unanswered delete may commit
                r = await call(self.http, self.ledger, "recipes.delete", "DELETE",
                               f"{base}/recipes/{rid}", headers=self.auth(user))
                if r is not None and r.status_code in (204, 404):
                    mine.pop(rid, None)
                    self.ledger.recipes_deleted.add(rid)
            elif self.recipe_ids:
                rid = self.rng.choice(self.recipe_ids[-40:])
                op, method = (("recipes.like", "POST") if roll < 0.85
                              else ("recipes.unlike", "DELETE"))
                await call(self.http, self.ledger, op, method, f"{base}/recipes/{rid}/likes",
                           headers=self.auth(user))
            await asyncio.sleep(self.rng.uniform(0.05, 0.3))

    async def conversations(self, lane: int, lanes: int) -> None:
        base, n = self.urls["meetings"], lane
        days = workdays(60, start_in_days=7)
        while self.running():
            day = days[(n // 8) % len(days)]
            lines = script(n % 8, day)
            n += lanes
            session_id, reply = None, None
            for text in lines:
                body: dict[str, Any] = {"text": text, "timezone": "Europe/Paris"}
                if session_id:
                    body["session_id"] = session_id
                for _ in range(4):
                    r = await call(self.http, self.ledger, "meetings.chat", "POST",
                                   f"{base}/meetings/chat", json=body)
                    if r is not None and r.status_code == 200:
                        reply = r.json()
                        break
                    await asyncio.sleep(1 + self.rng.random())
                else:
                    reply = None
                if reply is None:
                    break
                session_id = reply["session_id"]
                await asyncio.sleep(self.rng.uniform(0.05, 0.2))
            if reply and reply["dialog"]["state"] == "Fulfilled" and reply.get("meeting"):
                self.ledger.meetings_confirmed.add(reply["meeting"]["id"])
                self.ledger.committed["meetings.request"] += 1
            else:
                self.ledger.conversations_abandoned += 1

    async def decisions(self) -> None:
        base, seen = self.urls["meetings"], set()
        while self.running():
            await asyncio.sleep(self.rng.uniform(0.5, 1.5))
            choices = [m for m in self.ledger.meetings_confirmed if m not in seen]
            approved = [m for m, s in self.ledger.decisions.items() if s == "approved"]
            if choices:
                meeting, status = choices[0], self.rng.choice(["approved", "approved", "rejected"])
                seen.add(meeting)
            elif approved and self.rng.random() < 0.3:
                meeting, status = self.rng.choice(approved), "cancelled"
            else:
                continue
            r = await call(self.http, self.ledger, "meetings.decide", "PATCH",
                           f"{base}/meetings/{meeting}", json={"status": status},
                           headers=self.auth("admin"))
            if r is not None and r.status_code == 200:
                self.ledger.decisions[meeting] = status

    async def ticks(self, symbol: str) -> None:
        base, seq = self.urls["stock-ingest"], 0
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        price = 100.0
        while self.running():
            batch = []
            for _ in range(self.rng.randint(10, 40)):
                price *= math.exp(self.rng.gauss(0, 0.01))
                batch.append({"symbol": symbol, "timestamp": at.isoformat(),
                              "id": f"{symbol}-{seq}", "price": round(price, 4),
                              "volume": self.rng.randint(1, 500)})
                seq, at = seq + 1, at + timedelta(seconds=1)
            # A batch in hand is sent until accepted, for a while past the load's end.
            give_up = max(time.monotonic(), self.deadline) + 90
            while True:  # as the producer: the same request again until it is accepted
                r = await call(self.http, self.ledger, "stock.ticks", "POST",
                               f"{base}/stocks/ticks", json={"ticks": batch},
                               headers=self.auth(MACHINE))
                if r is not None and r.status_code == 202:
                    self.ledger.ticks_accepted[symbol].update(t["id"] for t in batch)
                    break
                if time.monotonic() > give_up:
                    self.ledger.ticks_unacknowledged += len(batch)
                    return  # later ticks would overtake these: stop this symbol
                await asyncio.sleep(0.5 + self.rng.random())
            await asyncio.sleep(self.rng.uniform(0.3, 0.8))

    async def media(self, clip: Path, bad: Path, starts: list[float]) -> None:
        base = self.urls["media-jobs"]
        began = time.monotonic()
        for at, (path, kind) in zip(starts, [(clip, "good"), (bad, "bad"), (clip, "good")],
                                    strict=False):
            await asyncio.sleep(max(0.0, began + at - time.monotonic()))
            if not self.running():
                break
            ticket = None
            for _ in range(30):  # a restarting API can take a while on a busy machine
                r = await call(self.http, self.ledger, "media.upload", "POST",
                               f"{base}/media/uploads", headers=self.auth("alice"),
                               json={"filename": f"chaos-{kind}.mp4", "size": path.stat().st_size})
                if r is not None and r.status_code == 201:
                    ticket = r.json()
                    break
                await asyncio.sleep(1)
            if ticket is None:
                continue
            self.ledger.media_jobs[ticket["guid"]] = kind
            plan = ticket["upload"]
            for _ in range(30):
                r = await call(self.http, self.ledger, "media.put", "PUT", plan["url"],
                               content=path.read_bytes(), headers=plan["headers"])
                if r is not None and r.status_code == 200:
                    self.ledger.media_uploaded.add(ticket["guid"])
                    break
                await asyncio.sleep(1)
        # Retry the broken upload's job whenever it has failed again.
        bad_jobs = [g for g, k in self.ledger.media_jobs.items() if k == "bad"]
        while self.running() and bad_jobs:
            await asyncio.sleep(3)
            guid = bad_jobs[0]
            # A job is read by its owner and admins (404 to others, 401 anonymously).
            r = await call(self.http, self.ledger, "media.job", "GET", f"{base}/media/jobs/{guid}",
                           headers=self.auth("admin"))
            if r is None or r.status_code != 200 or r.json()["status"] != "error":
                continue
            if self.ledger.media_retries[guid] >= 2:
                break
            r = await call(self.http, self.ledger, "media.retry", "POST",
                           f"{base}/media/jobs/{guid}/retry", headers=self.auth("admin"))
            if r is not None and r.status_code == 202:
                self.ledger.media_retries[guid] += 1


# --------------------------------------------------------------------------------------------
# Duplicates


class Duplicator:
    """Taps every topic (a raw-delivery queue each) and sends a sample of the events seen a
    second time to the queue that consumes them."""

    def __init__(self, aws: AwsClients, stack: LocalStack, rng: random.Random, rate: float) -> None:
        self.aws, self.stack, self.rng, self.rate = aws, stack, rng, rate
        self.taps: dict[str, str] = {}
        self.subscriptions: list[str] = []
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.bodies: dict[str, list[str]] = defaultdict(list)
        self.injected: Counter[str] = Counter()
        self.pending: set[asyncio.Task[None]] = set()
        self.sampling = True

    async def open(self) -> None:
        sqs, sns = await self.aws.client("sqs"), await self.aws.client("sns")
        for topic in TAPPED:
            fifo = topic.endswith(".fifo")
            name = f"chaos-tap-{topic.replace('.fifo', '')}{'.fifo' if fifo else ''}"
            url = (await sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"}
                                          if fifo else {}))["QueueUrl"]
            arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
                   )["Attributes"]["QueueArn"]
            sub = await sns.subscribe(TopicArn=self.stack.resources.topic_arn(topic),
                                      Protocol="sqs", Endpoint=arn,
                                      Attributes={"RawMessageDelivery": "true"},
                                      ReturnSubscriptionArn=True)
            self.taps[topic] = url
            self.subscriptions.append(sub["SubscriptionArn"])

    async def drain(self) -> int:
        sqs, got = await self.aws.client("sqs"), 0
        for topic, url in self.taps.items():
            while True:
                response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                     WaitTimeSeconds=0,
                                                     MessageAttributeNames=["All"])
                messages = response.get("Messages", [])
                if not messages:
                    break
                got += len(messages)
                for m in messages:
                    self.bodies[topic].append(m["Body"])
                    try:
                        self.events[topic].append(json.loads(m["Body"]))
                    except ValueError:  # a plain-text notification (the e-mail alerts)
                        self.events[topic].append({"raw": m["Body"], "attributes": {
                            k: v.get("StringValue") for k, v in
                            m.get("MessageAttributes", {}).items()}})
                    if self.sampling and topic in CONSUMED_BY and self.rng.random() < self.rate:
                        delay = self.rng.choice([0.0, self.rng.uniform(1, 20)])
                        task = asyncio.create_task(self._resend(topic, m["Body"], delay))
                        self.pending.add(task)
                        task.add_done_callback(self.pending.discard)
                await sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)])
        return got

    async def _resend(self, topic: str, body: str, delay: float) -> None:
        await asyncio.sleep(delay)
        sqs = await self.aws.client("sqs")
        queue = CONSUMED_BY[topic]
        url = await self.stack.resources.queue_url(self.aws, queue)
        extra: dict[str, Any] = {}
        if queue.endswith(".fifo"):
            event = json.loads(body)
            extra = {"MessageGroupId": event.get("partitionkey") or event["data"]["symbol"],
                     "MessageDeduplicationId": f"dup-{uuid.uuid4().hex}"}
        await sqs.send_message(QueueUrl=url, MessageBody=body, **extra)
        self.injected[queue] += 1

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.drain()
            await asyncio.sleep(1)

    async def close(self) -> None:
        sqs, sns = await self.aws.client("sqs"), await self.aws.client("sns")
        for arn in self.subscriptions:
            await sns.unsubscribe(SubscriptionArn=arn)
        for url in self.taps.values():
            await sqs.delete_queue(QueueUrl=url)


# --------------------------------------------------------------------------------------------
# Faults


class Chaos:
    def __init__(self, procs: list[Proc], proxy: FaultProxy, rng: random.Random) -> None:
        self.procs, self.proxy, self.rng = procs, proxy, rng
        self.kills: Counter[str] = Counter()
        self.armed: Counter[str] = Counter()
        self.unexpected_deaths: Counter[str] = Counter()
        self.restart_lock = asyncio.Lock()

    async def kill(self, proc: Proc) -> None:
        await asyncio.to_thread(proc.kill)
        self.kills[proc.name] += 1
        await asyncio.sleep(self.rng.uniform(0.2, 3.0))
        point = None
        if points_of(proc):
            point = f"{self.rng.choice(points_of(proc))}@{self.rng.randint(1, 2)}"
            self.armed[point.partition("@")[0]] += 1
        await asyncio.to_thread(proc.start, point)

    async def kills_plan(self, count: int, seconds: float, began: float) -> None:
        moments = sorted(self.rng.uniform(0.05, 0.9) * seconds for _ in range(count))
        for at in moments:
            await asyncio.sleep(max(0.0, began + at - time.monotonic()))
            victim = self.rng.choice([p for p in self.procs if not p.expected_down])
            asyncio.create_task(self.kill(victim))  # noqa: RUF006 (awaited via monitor)

    async def blackouts_plan(self, count: int, seconds: float, began: float) -> None:
        slot = seconds * 0.85 / max(count, 1)
        for i in range(count):
            at = seconds * 0.05 + slot * i + self.rng.uniform(0, max(0.0, slot - 10))
            await asyncio.sleep(max(0.0, began + at - time.monotonic()))
            await self.proxy.blackout(self.rng.uniform(2, 10), ("refuse", "hang")[i % 2])

    async def monitor(self, stop: asyncio.Event) -> None:
        """Restart any process that died on its own (an armed fault point, or a crash)."""
        while not stop.is_set():
            for proc in self.procs:
                if not proc.expected_down and proc.service.process and proc.reap():
                    reason = f"point {proc.armed}" if proc.armed else "crash"
                    proc.deaths[reason] += 1
                    self.unexpected_deaths[proc.name if not proc.armed else "fault point"] += 1
                    proc.expected_down = True
                    await asyncio.to_thread(proc.start, None)
            await asyncio.sleep(0.3)


# --------------------------------------------------------------------------------------------
# Reconciliation


async def scan(aws: AwsClients, table: str) -> list[dict[str, Any]]:
    dynamodb = await aws.client("dynamodb")
    return [from_item(i) for i in await read_all(dynamodb.scan, TableName=table,
                                                 ConsistentRead=True)]


async def queue_depths(aws: AwsClients, stack: LocalStack) -> dict[str, int]:
    sqs, depths = await aws.client("sqs"), {}
    for name in load_topology().queues:
        for queue in (name, dlq_name(name)):
            url = await stack.resources.queue_url(aws, queue)
            attrs = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed"]))["Attributes"]
            depths[queue] = sum(int(v) for v in attrs.values())
    return depths


@dataclass
class Findings:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    dlq: list[str] = field(default_factory=list)
    poison: int = 0
    alerts_repeated: int = 0
    # SES mail is at least once, as SNS e-mail is: a worker killed between SES accepting a
    # message and recording the event as handled sends it again, with the same Message-ID.
    mail_repeated: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


async def reconcile(aws: AwsClients, stack: LocalStack, ledger: Ledger, dup: Duplicator,
                    urls: dict[str, str], admin: dict[str, str]) -> Findings:
    f, r = Findings(), stack.resources
    events = {t: [e for e in dup.events[t] if "id" in e] for t in TAPPED}
    published = {t: len({e["id"] for e in events[t]}) for t in TAPPED}
    republished = {t: len(events[t]) - published[t] for t in TAPPED}
    f.facts["events published"] = published
    f.facts["events published twice (same id)"] = republished

    # Recipes: every live recipe indexed at its version, no deleted one left in the index.
    recipes = {i["id"]: Recipe.model_validate(i) for i in await scan(aws, r.table("recipes"))}
    rows: dict[str, set[str]] = defaultdict(set)
    for row in await scan(aws, r.table("recipe-search")):
        if not row["token"].startswith("doc:"):
            rows[row["recipe_id"]].add(row["token"])
    for rid, recipe in recipes.items():
        if rows.get(rid, set()) != index_tokens(recipe):
            f.lost.append(f"recipe {rid} v{recipe.version}: search index rows differ from "
                          f"its tokens (missing {len(index_tokens(recipe) - rows.get(rid, set()))},"
                          f" extra {len(rows.get(rid, set()) - index_tokens(recipe))})")
    for rid in ledger.recipes_created - set(recipes):
        if rid not in ledger.recipes_delete_tried:
            f.lost.append(f"recipe {rid}: created (201), never deleted, not in the table")
        if rows.get(rid):
            f.lost.append(f"recipe {rid}: deleted but still in the search index")
    for rid, version in ledger.recipe_versions.items():
        if rid in recipes and recipes[rid].version < version:
            f.lost.append(f"recipe {rid}: update to v{version} answered 200, table has "
                          f"v{recipes[rid].version}")
    likes = Counter(i["recipe_id"] for i in await scan(aws, r.table("recipe-likes")))
    for rid, recipe in recipes.items():
        if recipe.likes != likes[rid]:
            (f.duplicated if recipe.likes > likes[rid] else f.lost).append(
                f"recipe {rid}: likes counter {recipe.likes}, like rows {likes[rid]}")
    created_events = {e["subject"] or e["data"].get("id") for e in events["recipes-events"]
                      if e["type"].endswith("recipe.created.v1")}
    for rid in ledger.recipes_created:
        if rid not in created_events:
            f.lost.append(f"recipe {rid}: created (201), no recipe.created event published")
    f.facts["recipes"] = {"in table": len(recipes), "created (201)": len(ledger.recipes_created),
                          "deleted": len(ledger.recipes_deleted)}

    # Meetings: one e-mail per event a meeting's history implies, by Message-ID.
    meetings = {i["id"]: i for i in await scan(aws, r.table("meetings"))
                if "status" in i}  # the approval guard item is no meeting
    for mid in ledger.meetings_confirmed - set(meetings):
        f.lost.append(f"meeting {mid}: confirmed in chat, not in the table")
    for mid, status in ledger.decisions.items():
        if mid in meetings and meetings[mid]["status"] != status and not (
                status == "approved" and meetings[mid]["status"] == "cancelled"):
            f.lost.append(f"meeting {mid}: PATCH {status} answered 200, table has "
                          f"{meetings[mid]['status']}")
    by_event = {e["id"]: (e["data"]["id"], e["type"].split(".")[-2])
                for e in events["meetings-events"]}
    async with httpx.AsyncClient(timeout=30) as http:
        ses = (await http.get(f"{stack.emulator.url}/moto-api/data.json?service=ses")).json()
    ids: Counter[str] = Counter()
    for raw in ses.get("ses", {}).get("RawMessage", []):
        ids[email.message_from_string(raw["raw_data"])["Message-ID"].strip("<>").split("@")[0]] += 1
    mails: dict[tuple[str, str], int] = Counter()
    for event_id, count in ids.items():
        if count > 1:
            f.mail_repeated.append(f"e-mail Message-ID {event_id} sent {count} times")
        if event_id in by_event:
            mails[by_event[event_id]] += 1
        else:
            f.facts.setdefault("e-mails with no published event", 0)
            f.facts["e-mails with no published event"] += 1
    for mid, meeting in meetings.items():
        kinds = MAIL_KINDS.get(meeting["status"])
        if kinds is None:
            f.stuck.append(f"meeting {mid} in status {meeting['status']}")
            continue
        for kind in kinds:
            if mails[(mid, kind)] == 0:
                f.lost.append(f"meeting {mid} ({meeting['status']}): no {kind} e-mail")
            elif mails[(mid, kind)] > 1:
                f.duplicated.append(f"meeting {mid}: {mails[(mid, kind)]} {kind} e-mails")
    f.facts["meetings"] = {"in table": len(meetings), "e-mails": sum(ids.values()),
                           "by status": dict(Counter(m["status"] for m in meetings.values()))}

    # Stock and trend: stored ticks vs trend state (recomputed offline), signals, alerts.
    config = IndicatorConfig()
    states = {i["symbol"]: i for i in await scan(aws, r.table("trend-state"))}
    signal_rows = defaultdict(set)
    for row in await scan(aws, r.table("trend-signals")):
        signal_rows[row["symbol"]].add(row["signal_key"])
    ticks_by_symbol: dict[str, list[RecordedTick]] = defaultdict(list)
    for item in await scan(aws, r.table("stock-ticks")):
        at, _, tick_id = item["tick_key"].partition("#")
        ticks_by_symbol[item["symbol"]].append(RecordedTick(
            id=tick_id, timestamp=datetime.fromisoformat(at), price=float(item["price"]),
            volume=item.get("volume")))
    for symbol, accepted in ledger.ticks_accepted.items():
        missing = accepted - {t.id for t in ticks_by_symbol[symbol]}
        if missing:
            f.lost.append(f"{symbol}: {len(missing)} accepted ticks not in the table")
    alert_ids = Counter(e.get("attributes", {}).get("signal_id")
                        for e in dup.events["stock-trend-alerts"])
    signal_events = {e["data"]["symbol"] + "#" + e["data"]["tick_id"]
                     for e in events["trend-events"] if isinstance(e.get("data"), dict)}
    trends = httpx.AsyncClient(base_url=urls["trend"], timeout=30)
    for symbol, ticks in ticks_by_symbol.items():
        engine = IndicatorEngine(symbol, config)
        expected_signals = trend_logic.advance(engine, ticks)
        view = await trends.get(f"/trends/{symbol}")
        if view.status_code != 200:
            f.lost.append(f"{symbol}: {len(ticks)} ticks stored, no trend state")
            continue
        got, want = view.json(), trend_logic.trend_view(engine).model_dump(mode="json")
        if got["ticks_seen"] < want["ticks_seen"]:
            f.lost.append(f"{symbol}: trend saw {got['ticks_seen']} ticks, "
                          f"{want['ticks_seen']} stored")
        elif got["ticks_seen"] > want["ticks_seen"]:
            f.duplicated.append(f"{symbol}: trend saw {got['ticks_seen']} ticks, "
                                f"{want['ticks_seen']} stored")
        else:
            off = [k for k, v in want["indicators"].items()
                   if not _close(v, got["indicators"].get(k))]
            if off or got["trend"] != want["trend"]:
                f.duplicated.append(f"{symbol}: trend state differs from the recompute ({off})")
        keys = {trend_logic.signal_key(s) for s in expected_signals}
        if keys - signal_rows[symbol]:
            f.lost.append(f"{symbol}: {len(keys - signal_rows[symbol])} signals not stored")
        if signal_rows[symbol] - keys:
            f.duplicated.append(f"{symbol}: {len(signal_rows[symbol] - keys)} signals stored "
                                "that the recompute does not give")
        # At most one e-mail per direction per window of tick time: the recompute throttles
        # exactly as the worker does.
        throttle = trend_logic.AlertThrottle(
            timedelta(seconds=TrendSettings().trend_alert_window_seconds))
        for s in expected_signals:
            if f"{symbol}#{s.tick_id}" not in signal_events:
                f.lost.append(f"{symbol}: signal at tick {s.tick_id} never published")
            signal_id = TREND_EVENTS.fact_id(*trend_logic.signal_fact(s))
            if throttle.admit(s) and not alert_ids[signal_id]:
                f.lost.append(f"{symbol}: signal at tick {s.tick_id}, no e-mail alert")
            elif alert_ids[signal_id] and throttle.last_alert.get(s.direction.value) != s.at:
                f.duplicated.append(f"{symbol}: signal at tick {s.tick_id} e-mailed inside "
                                    "its alert window")
        if got.get("alerts", {}).get("suppressed", 0) != throttle.suppressed:
            f.duplicated.append(f"{symbol}: {got.get('alerts', {}).get('suppressed')} alerts "
                                f"held back, the recompute holds back {throttle.suppressed}")
    await trends.aclose()
    f.alerts_repeated = sum(n - 1 for n in alert_ids.values() if n > 1)
    f.facts["ticks"] = {"accepted (202)": sum(len(v) for v in ledger.ticks_accepted.values()),
                        "stored": sum(len(v) for v in ticks_by_symbol.values()),
                        "symbols with state": len(states),
                        "signals": sum(len(v) for v in signal_rows.values()),
                        "alerts": sum(alert_ids.values())}

    # Media jobs: final, their outputs there, completed once.
    completed = Counter(e["data"]["guid"] for e in events["media-events"]
                        if isinstance(e.get("data"), dict) and e["type"].endswith("completed.v1"))
    media = httpx.AsyncClient(base_url=urls["media-jobs"], timeout=30, headers=admin)
    for guid, kind in ledger.media_jobs.items():
        job = (await media.get(f"/media/jobs/{guid}")).json()
        status = job.get("status")
        if guid not in ledger.media_uploaded and status == "pending":
            continue  # its upload never went through: waiting, as it should
        if status not in ("complete", "error"):
            f.stuck.append(f"media job {guid} ({kind}) still {status}")
        elif status == "complete":
            master = await media.get(job["outputs"]["hls_url"])
            if master.status_code != 200:
                f.lost.append(f"media job {guid}: complete, master playlist {master.status_code}")
            if completed[guid] == 0:
                f.lost.append(f"media job {guid}: complete, no media.job.completed event")
        if completed[guid] > 1:
            f.duplicated.append(f"media job {guid}: {completed[guid]} completed events")
        if ledger.media_retries[guid] and job.get("attempt", 1) < 1 + ledger.media_retries[guid]:
            f.lost.append(f"media job {guid}: {ledger.media_retries[guid]} retries accepted, "
                          f"attempt {job.get('attempt')}")
    await media.aclose()

    for name, count in (await outbox_backlog(aws, stack)).items():
        if count:
            f.stuck.append(f"{name}: {count} events committed, never relayed")

    # Dead-letter queues.
    sqs = await aws.client("sqs")
    for name in load_topology().queues:
        url = await r.queue_url(aws, dlq_name(name))
        response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                             VisibilityTimeout=0)
        for m in response.get("Messages", []):
            try:
                json.loads(m["Body"])
            except ValueError:
                f.poison += 1
                continue
            f.dlq.append(f"{dlq_name(name)}: {m['Body'][:160]}")
    return f


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


async def all_ready(http: httpx.AsyncClient, urls: dict[str, str]) -> bool:
    """Every API answers GET /readyz with 200."""
    for url in urls.values():
        try:
            if (await http.get(f"{url}/readyz", timeout=5)).status_code != 200:
                return False
        except httpx.TransportError:
            return False
    return True


async def outbox_backlog(aws: AwsClients, stack: LocalStack) -> dict[str, int]:
    """Items waiting in each service's outbox table (tables named ``*-outbox``, if any)."""
    dynamodb, backlog = await aws.client("dynamodb"), {}
    for name in load_topology().tables:
        if name.endswith("-outbox"):
            # The relay's lease item (shard "#lease") is no event.
            response = await dynamodb.scan(
                TableName=stack.resources.table(name), Select="COUNT", ConsistentRead=True,
                FilterExpression="NOT begins_with(#shard, :hash)",
                ExpressionAttributeNames={"#shard": "shard"},
                ExpressionAttributeValues={":hash": {"S": "#"}})
            backlog[name] = int(response["Count"])
    return backlog


def fault_points_triggered(workdir: Path) -> Counter[str]:
    """Fault points the processes reached armed (each logs ``fault.triggered`` as it dies)."""
    triggered: Counter[str] = Counter()
    for path in workdir.glob("*.log"):
        for point in re.findall(r'"fault.triggered", "point": "([^"]+)"', path.read_text()):
            triggered[point] += 1
    return triggered


# --------------------------------------------------------------------------------------------
# The run


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
    emulator = Emulator(log_path=workdir / "moto.log").start()
    procs: list[Proc] = []
    proxy = FaultProxy(emulator.url, seed=args.seed)
    try:
        stack = await start_local_stack(emulator, (*DEMO_USERS, BOB))
        await proxy.start()
        # The reconciliation below expects one admin e-mail per meeting.requested: the cap on
        # those (and its digest) is lifted here, so it counts what it always counted.
        env = {**stack.env, "AWS_ENDPOINT_URL": proxy.url, "LOG_LEVEL": args.log_level,
               "WORKER_STOP_TIMEOUT": "5", "MEETINGS_ADMIN_MAIL_CAP": "1000000"}
        procs = procfile_processes(env, workdir)
        # Each process starts with one of its fault points armed for its 2nd-6th reach, so
        # every placed point fires early while the load runs (then the monitor restarts it).
        chaos_rng = random.Random(args.seed + 1)
        await asyncio.gather(*(asyncio.to_thread(
            p.start, f"{chaos_rng.choice(points_of(p))}@{chaos_rng.randint(2, 6)}"
            if points_of(p) else None, first=True) for p in procs))
        urls = {p.name: p.service.url for p in procs if p.kind == "api"}
        from tests.support.media_clips import TINY, make_clip

        clip = make_clip(TINY, workdir)
        bad = workdir / "bad.mp4"
        bad.write_bytes(random.Random(args.seed).randbytes(4096))
        async with AwsClients(stack.settings) as aws:
            tokens = {}
            for user in (*DEMO_USERS, BOB):
                auth = await sign_in(aws, stack.settings.cognito_client_id, user.username,
                                     user.password)
                tokens[user.username] = auth["AccessToken"]
            # Tick producers are machines: a client-credentials token (scope stocks/ingest).
            tokens[MACHINE] = await client_credentials_token(
                stack.settings.cognito_token_url, stack.machine_client_id,
                stack.machine_client_secret, INGEST_SCOPE)
            dup = Duplicator(aws, stack, rng, args.duplicate_rate)
            await dup.open()
            ledger = Ledger()
            began = time.monotonic()
            load = Load(urls, tokens, ledger, rng, began + args.seconds, workdir)
            chaos = Chaos(procs, proxy, rng)
            chaos.armed.update(p.armed.partition("@")[0] for p in procs if p.armed)
            stop = asyncio.Event()
            proxy.rates = FaultRates(throttle=args.throttle, unavailable=args.throttle / 2,
                                     reset_before=args.throttle / 2, reset_after=args.throttle / 4)
            background = [asyncio.create_task(dup.run(stop)),
                          asyncio.create_task(chaos.monitor(stop))]
            print(f"chaos: {args.seconds:.0f} s of load, {args.kills} kills, {args.blackouts} "
                  f"blackouts, seed {args.seed}; logs in {workdir}", flush=True)
            await asyncio.gather(
                *(load.recipes_user(u) for u in ("alice", "bob", "admin")),
                *(load.conversations(i, 2) for i in range(2)), load.decisions(),
                *(load.ticks(s) for s in ("CHA", "CHB", "CHC")),
                load.media(clip, bad, [args.seconds * x for x in (0.1, 0.2, 0.5)]),
                chaos.kills_plan(args.kills, args.seconds, began),
                chaos.blackouts_plan(args.blackouts, args.seconds, began))
            # Settle: no more faults, every process up, queues drained.
            proxy.rates = FaultRates()
            dup.sampling = False
            while any(p.expected_down for p in procs):  # noqa: ASYNC110 (restarts in threads)
                await asyncio.sleep(0.2)
            await asyncio.gather(*list(dup.pending))
            settle_began, quiet = time.monotonic(), 0
            while time.monotonic() - settle_began < args.settle:
                await asyncio.sleep(1)
                depths = await queue_depths(aws, stack)
                busy = {q: n for q, n in depths.items() if n and not q.endswith("dlq")
                        and not q.endswith("dlq.fifo")}
                jobs_running = not await all_ready(load.http, urls)
                for guid in ledger.media_uploaded if not jobs_running else ():
                    job = (await load.http.get(f"{urls['media-jobs']}/media/jobs/{guid}",
                                               headers=load.auth("admin"))).json()
                    jobs_running |= job.get("status") not in ("complete", "error")
                busy |= {t: n for t, n in (await outbox_backlog(aws, stack)).items() if n}
                quiet = quiet + 1 if not busy and not jobs_running else 0
                if quiet >= 5:
                    break
            settle_seconds = time.monotonic() - settle_began
            for _ in range(120):  # the checks read through the APIs
                if await all_ready(load.http, urls):
                    break
                await asyncio.sleep(1)
            await dup.drain()
            stop.set()
            await asyncio.gather(*background)
            findings = await reconcile(aws, stack, ledger, dup, urls, load.auth("admin"))
            await dup.close()
            await load.http.aclose()
            cpu = {p.name: p.cpu() for p in procs}
            cpu["emulator (moto)"] = cpu_seconds(emulator.process.pid) if emulator.process else 0
            cpu["harness (load, proxy, checks)"] = time.process_time()
        triggered = fault_points_triggered(workdir)
    finally:
        for proc in procs:
            await asyncio.to_thread(proc.stop)
        await proxy.stop()
        emulator.stop()
    result = {
        "seconds": args.seconds, "seed": args.seed, "settle_seconds": round(settle_seconds, 1),
        "operations": ledger.operations, "answers": dict(sorted(ledger.answers.items())),
        "committed": dict(ledger.committed), "kills": dict(chaos.kills),
        "kills_total": chaos.kills.total(), "fault_points_armed": dict(chaos.armed),
        "fault_points_triggered": dict(triggered),
        "other_deaths": {k: v for k, v in chaos.unexpected_deaths.items() if k != "fault point"},
        "blackouts": [[m, round(s, 1)] for m, s in proxy.blackouts],
        "proxy_faults": dict(proxy.counts), "duplicates_injected": dict(dup.injected),
        "lost": findings.lost, "duplicated": findings.duplicated, "stuck": findings.stuck,
        "dlq_non_poison": findings.dlq, "dlq_poison": findings.poison,
        "alerts_repeated": findings.alerts_repeated, "mail_repeated": findings.mail_repeated,
        "server_errors": ledger.server_errors,
        "conversations_abandoned": ledger.conversations_abandoned,
        "ticks_unacknowledged": ledger.ticks_unacknowledged,
        "facts": findings.facts, "cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
        "workdir": str(workdir),
    }
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def table(result: dict[str, Any]) -> str:
    published = result["facts"]["events published"]
    rows = [
        ("operations (HTTP requests)", result["operations"]),
        ("changes committed (2xx writes)", sum(n for op, n in result["committed"].items()
                                               if not op.endswith((".get", ".job", ".chat")))),
        ("SIGKILLs (API and worker processes)", result["kills_total"]),
        ("fault points armed / triggered", f"{sum(result['fault_points_armed'].values())} / "
                                           f"{sum(result['fault_points_triggered'].values())}"),
        ("other process deaths", sum(result["other_deaths"].values())),
        ("blackouts (2-10 s)", len(result["blackouts"])),
        ("throttles / 503s / resets injected", " / ".join(str(result["proxy_faults"].get(k, 0))
                                                          for k in ("throttle", "unavailable"))
         + f" / {result['proxy_faults'].get('reset_before', 0)}+"
           f"{result['proxy_faults'].get('reset_after', 0)}"),
        ("duplicates injected", sum(result["duplicates_injected"].values())),
        ("events published (distinct ids)", sum(published.values())),
        ("LOST", len(result["lost"])),
        ("DUPLICATED effects", len(result["duplicated"])),
        ("e-mail alerts repeated (SNS, apart)", result["alerts_repeated"]),
        ("e-mails sent twice (SES, same Message-ID, apart)", len(result["mail_repeated"])),
        ("STUCK", len(result["stuck"])),
        ("non-poison DLQ messages", len(result["dlq_non_poison"])),
        ("5xx other than 503", len(result["server_errors"])),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'what'.ljust(width)} | value |", f"|{'-' * (width + 2)}|------:|"]
    lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    return "\n".join(lines)


def report(result: dict[str, Any]) -> None:
    print(f"\nChaos run: {result['seconds']:.0f} s of load, seed {result['seed']}, settled in "
          f"{result['settle_seconds']} s, {os.cpu_count()} cores\n")
    print(table(result))
    print("\ncommitted by operation: " + ", ".join(f"{k} {v}" for k, v in
                                                   sorted(result["committed"].items())))
    print("answers: " + ", ".join(f"{k}: {v}" for k, v in result["answers"].items()))
    print("events published by topic: " + ", ".join(
        f"{k} {v}" for k, v in result["facts"]["events published"].items()))
    print("kills by process: " + ", ".join(f"{k} {v}" for k, v in sorted(result["kills"].items())))
    print("fault points armed: " + (", ".join(f"{k} {v}" for k, v in
                                              sorted(result["fault_points_armed"].items())) or "-"))
    print("fault points triggered: " + (", ".join(
        f"{k} {v}" for k, v in sorted(result["fault_points_triggered"].items())) or "none"))
    print("blackouts: " + ", ".join(f"{m} {s} s" for m, s in result["blackouts"]))
    print("duplicates injected: " + ", ".join(f"{k} {v}" for k, v in
                                              result["duplicates_injected"].items()))
    for key in ("recipes", "meetings", "ticks"):
        print(f"{key}: {result['facts'].get(key)}")
    for key in ("lost", "duplicated", "stuck", "dlq_non_poison", "server_errors"):
        if result[key]:
            print(f"\n{key} ({len(result[key])}):")
            for line in result[key][:25]:
                print(f"  - {line}")
            if len(result[key]) > 25:
                print(f"  ... and {len(result[key]) - 25} more")
    print("\nCPU seconds (every incarnation of each process): " + ", ".join(
        f"{k} {v}" for k, v in result["cpu_seconds"].items()))


def missed(result: dict[str, Any]) -> list[str]:
    return [k for k in ("lost", "duplicated", "stuck", "dlq_non_poison", "server_errors")
            if result[k]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180, help="load duration")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kills", type=int, default=24, help="SIGKILLs over the run")
    parser.add_argument("--blackouts", type=int, default=6, help="AWS outages of 2-10 s")
    parser.add_argument("--throttle", type=float, default=0.02,
                        help="share of AWS requests throttled (503s, resets in proportion)")
    parser.add_argument("--duplicate-rate", type=float, default=0.15,
                        help="share of published events delivered a second time")
    parser.add_argument("--settle", type=float, default=150,
                        help="longest wait for the queues to drain, s")
    parser.add_argument("--log-level", default="INFO", help="of the service processes")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the logs")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    failed = missed(result)
    print(f"\ntargets (lost 0, duplicated 0, stuck 0, non-poison DLQ 0, no 5xx but 503): "
          f"{'met' if not failed else 'NOT met: ' + ', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
