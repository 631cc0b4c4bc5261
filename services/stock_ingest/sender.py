"""The producer's sending side: paced, batched POSTs to the ingest API, several in flight.

    sender = TickSender(client, batch=500, concurrency=4)
    report = await sender.send(mock_ticks(["AAPL", "MSFT"], count=10_000, rate=50), rate=100)

Ticks go out in ``{"ticks": [...]}`` requests of up to ``batch``. Each symbol belongs to one
of ``concurrency`` lanes, and a lane has one request in flight at a time, so a symbol's ticks
reach the service, and the trend worker after it, in the order the source produced them,
while the lanes run in parallel. A lane sends a partial batch once its oldest tick has waited
``linger`` seconds. A request that fails with a transport error, 429 or 5xx is retried as is
(same ticks, same ids: the service deduplicates) with jittered backoff, honouring Retry-After.

The service takes ticks only from machines: give the client ``auth=producer_auth(settings)``,
which sends a client-credentials access token (scope ``stocks/ingest``) of the machine client
named by ``STOCK_PRODUCER_CLIENT_ID`` and ``STOCK_PRODUCER_CLIENT_SECRET``, fetched from
``COGNITO_TOKEN_URL`` and renewed before it expires.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.stock_ingest.models import MAX_BATCH
from services.stock_ingest.producer import (
    SourceUnavailableError,
    TickDict,
    mock_ticks,
    open_source,
)
from shared.cognito import INGEST_SCOPE, ClientCredentialsAuth
from shared.errors import ConfigurationError
from shared.settings import PlatformSettings

TICKS_PATH = "/stocks/ticks"
_END = object()
CLIENT_ID_VAR = "STOCK_PRODUCER_CLIENT_ID"
CLIENT_SECRET_VAR = "STOCK_PRODUCER_CLIENT_SECRET"


class MissingCredentialError(ConfigurationError):
    """The producer's machine credential is not configured (the message says what to set)."""


def producer_auth(settings: PlatformSettings,
                  environ: Mapping[str, str] = os.environ) -> ClientCredentialsAuth:
    """httpx auth that sends the producer's machine token (scope stocks/ingest).

    The client id and secret come from ``STOCK_PRODUCER_CLIENT_ID`` and
    ``STOCK_PRODUCER_CLIENT_SECRET`` (``regatta up`` writes the local ones to
    .regatta/local.env; in AWS they are the Terraform machine client's, its secret in Secrets
    Manager); the token endpoint from ``settings.cognito_token_url``.
    """
    client_id, secret = environ.get(CLIENT_ID_VAR, ""), environ.get(CLIENT_SECRET_VAR, "")
    missing = [name for name, value in ((CLIENT_ID_VAR, client_id), (CLIENT_SECRET_VAR, secret),
                                        ("COGNITO_TOKEN_URL", settings.cognito_token_url))
               if not value]
    if missing:
        raise MissingCredentialError(
            f"POST /stocks/ticks needs a machine credential: set {', '.join(missing)} "
            "(locally `regatta up` writes them to .regatta/local.env)")
    return ClientCredentialsAuth(settings.cognito_token_url, client_id, secret, INGEST_SCOPE)


@dataclass(frozen=True)
class Delivery:
    """One request the service answered with 202."""

    lane: int
    ticks: list[TickDict]
    accepted: int
    duplicates: int
    rejected: int
    accepted_at: float
    """``time.perf_counter()`` when the 202 arrived."""


@dataclass
class ProduceReport:
    """What a `TickSender.send` run did."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    requests: int = 0
    retries: int = 0
    lost: int = 0
    """Ticks of requests that still failed after every attempt."""
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Accepted ticks per second of the run."""
        return self.accepted / self.seconds if self.seconds else 0.0


class TickSender:
    """Sends ticks to one ingest API; see the module docstring."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        batch: int = MAX_BATCH,
        concurrency: int = 4,
        linger: float = 0.5,
        attempts: int = 8,
        on_delivery: Callable[[Delivery], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        if not 1 <= batch <= MAX_BATCH:
            raise ValueError(f"batch must be 1..{MAX_BATCH}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.client = client
        self.batch = batch
        self.concurrency = concurrency
        self.linger = linger
        self.attempts = attempts
        self.on_delivery = on_delivery
        self.on_progress = on_progress
        self._lanes: dict[str, int] = {}

    async def send(
        self, ticks: Iterable[TickDict], *, rate: float | None = None,
        duration: float | None = None,
    ) -> ProduceReport:
        """Send every tick (at most ``rate`` per second, for at most ``duration`` seconds)."""
        report = ProduceReport()
        queues = [asyncio.Queue[Any](maxsize=2 * self.batch) for _ in range(self.concurrency)]
        lanes = [asyncio.create_task(self._lane(n, q, report)) for n, q in enumerate(queues)]
        started = time.perf_counter()
        try:
            await self._feed(iter(ticks), queues, report, rate, duration, started)
            for queue in queues:
                await queue.put(_END)
            await asyncio.gather(*lanes)
        finally:
            for lane in lanes:
                lane.cancel()
            report.seconds = time.perf_counter() - started
        return report

    async def _feed(self, ticks: Iterator[TickDict], queues: list[asyncio.Queue[Any]],
                    report: ProduceReport, rate: float | None, duration: float | None,
                    started: float) -> None:
        while True:
            # Sources may block (yfinance polls the network): pull them in a thread.
            chunk = await asyncio.to_thread(list, itertools.islice(ticks, 64))
            if not chunk:
                return
            for tick in chunk:
                now = time.perf_counter()
                if duration is not None and now - started >= duration:
                    return
                if rate:
                    ahead = started + report.sent / rate - now
                    if ahead > 0.002:
                        await asyncio.sleep(ahead)
                await queues[self._lane_of(str(tick.get("symbol", "")))].put(tick)
                report.sent += 1

    def _lane_of(self, symbol: str) -> int:
        if symbol not in self._lanes:
            self._lanes[symbol] = len(self._lanes) % self.concurrency
        return self._lanes[symbol]

    async def _lane(self, number: int, queue: asyncio.Queue[Any], report: ProduceReport) -> None:
        done = False
        while not done:
            first = await queue.get()
            if first is _END:
                return
            batch = [first]
            deadline = time.perf_counter() + self.linger
            while len(batch) < self.batch:
                try:
                    item = await asyncio.wait_for(queue.get(),
                                                  max(deadline - time.perf_counter(), 0))
                except TimeoutError:
                    break
                if item is _END:
                    done = True
                    break
                batch.append(item)
            await self._post(number, batch, report)

    async def _post(self, lane: int, ticks: list[TickDict], report: ProduceReport) -> None:
        report.requests += 1
        for attempt in range(self.attempts):
            delay = min(5.0, 0.1 * 2**attempt) * random.uniform(0.5, 1.0)
            try:
                response = await self.client.post(TICKS_PATH, json={"ticks": ticks})
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 202:
                    receipt = response.json()
                    self._count(report, Delivery(
                        lane, ticks, receipt["accepted"], receipt["duplicates"],
                        len(receipt["rejected"]), time.perf_counter()))
                    return
                if response.status_code in (401, 403):  # not the ticks: the credential
                    report.lost += len(ticks)
                    report.errors.append(f"{response.status_code}: {response.text[:300]}")
                    return
                if response.status_code < 500 and response.status_code != 429:
                    report.rejected += len(ticks)  # nothing valid (422), or a client error
                    report.errors.append(f"{response.status_code}: {response.text[:300]}")
                    return
                error = f"{response.status_code}: {response.text[:300]}"
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():
                    delay = max(delay, float(retry_after))
            if attempt + 1 < self.attempts:
                report.retries += 1
                await asyncio.sleep(delay)
        report.lost += len(ticks)
        report.errors.append(error)

    def _count(self, report: ProduceReport, delivery: Delivery) -> None:
        report.accepted += delivery.accepted
        report.duplicates += delivery.duplicates
        report.rejected += delivery.rejected
        if self.on_delivery:
            self.on_delivery(delivery)
        if self.on_progress:
            self.on_progress(len(delivery.ticks))


def ticks_from(
    spec: str, symbols: list[str], *, rate: float, count: int | None, duration: float | None,
    seed: int, warn: Callable[[str], None],
) -> Iterator[TickDict]:
    """The ticks of source ``spec`` (mock, csv:PATH, yfinance), ``count`` at most.

    Mock symbols each tick ``rate / len(symbols)`` times per simulated second, from now, so
    a paced run stamps ticks about when it sends them. yfinance is used only when it works:
    otherwise ``warn`` says why and mock ticks flow instead.
    """
    per_symbol = rate / max(len(symbols), 1)

    def mock() -> Iterator[TickDict]:
        return mock_ticks(symbols, count=count, duration=duration, rate=per_symbol, seed=seed)

    if spec == "mock":
        return mock()
    if spec == "yfinance":
        try:
            source = open_source(spec, symbols, interval=max(30.0, len(symbols) / rate))
            first = next(source)
        except (SourceUnavailableError, StopIteration) as exc:
            warn(f"yfinance unavailable ({exc}); sending mock ticks instead")
            return mock()
        return itertools.islice(itertools.chain([first], source), count)
    return itertools.islice(open_source(spec, symbols), count)
