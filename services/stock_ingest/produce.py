"""The tick producer process: ``python -m services.stock_ingest.produce [OPTIONS]``.

Sends ticks to ``POST /stocks/ticks``: mock (seeded GBM), yfinance (falls back to mock) or a
CSV file; batched, paced at ``--rate``, until ``--count`` or ``--duration`` (or Ctrl-C). Prints
a JSON report of what the service accepted and exits 1 if any tick was lost.
``--print-token`` prints the producers' machine access token instead.

It authenticates as the producers' machine client (``STOCK_PRODUCER_CLIENT_ID`` and
``STOCK_PRODUCER_CLIENT_SECRET``, token from ``COGNITO_TOKEN_URL``). Locally ``regatta
produce`` and ``regatta machine-token`` run it (infra/services.yaml, ``tools``) with the
environment ``regatta up`` wrote and ``REGATTA_SERVICE_URL``, this service's local URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import httpx

from services.stock_ingest.models import MAX_BATCH
from services.stock_ingest.producer import CsvSourceError, SourceUnavailableError
from services.stock_ingest.sender import (
    MissingCredentialError,
    TickSender,
    producer_auth,
    ticks_from,
)
from shared.cognito import TokenEndpointError
from shared.errors import RegattaError
from shared.progress import progress
from shared.settings import PlatformSettings

URL_VAR = "REGATTA_SERVICE_URL"


class ProduceError(RegattaError):
    """The run cannot go on; the message says why."""


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value
    return parse


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="regatta produce", description=__doc__.split("\n\n")[1],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    cli.add_argument("--symbols", default="AAPL", help="comma-separated symbols")
    cli.add_argument("--rate", type=_positive(float), default=10.0,
                     help="ticks per second, all symbols")
    cli.add_argument("--count", type=_positive(int), help="stop after this many ticks")
    cli.add_argument("--duration", type=_positive(float), help="stop after this many seconds")
    cli.add_argument("--source", default="mock", help="mock | yfinance | csv:PATH")
    cli.add_argument("--url", default=os.environ.get(URL_VAR),
                     help=f"stock-ingest base URL (default: ${URL_VAR})")
    cli.add_argument("--batch", type=_positive(int), default=MAX_BATCH,
                     help=f"ticks per request (at most {MAX_BATCH})")
    cli.add_argument("--concurrency", type=_positive(int), default=4,
                     help="requests in flight (a symbol always uses the same one)")
    cli.add_argument("--seed", type=int, default=0, help="mock: same seed, same prices")
    cli.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar (default: on a terminal, when the end is known)")
    cli.add_argument("--print-token", action="store_true",
                     help="print the machine access token and exit")
    return cli


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")


def produce(args: argparse.Namespace, settings: PlatformSettings) -> int:
    """Send the ticks ``args`` ask for; the exit status."""
    names = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    if not names:
        raise ProduceError("--symbols names no symbol")
    if args.batch > MAX_BATCH:
        raise ProduceError(f"--batch is at most {MAX_BATCH}")
    if not args.url:
        raise ProduceError(f"no service URL: pass --url or set {URL_VAR}")
    try:
        auth = producer_auth(settings)
    except MissingCredentialError as exc:
        raise ProduceError(str(exc)) from exc
    base = args.url.rstrip("/")
    _say(f"sending {args.source} ticks for {', '.join(names)} to {base} at {args.rate:g}/s")
    try:
        ticks: Iterator[Any] = ticks_from(args.source, names, rate=args.rate, count=args.count,
                                          duration=args.duration, seed=args.seed, warn=_say)
    except (OSError, ValueError, SourceUnavailableError) as exc:
        raise ProduceError(str(exc)) from exc
    total = args.count or (round(args.rate * args.duration) if args.duration else None)
    show = (args.progress if args.progress is not None
            else (total is not None and sys.stderr.isatty()))

    async def run() -> Any:
        async with httpx.AsyncClient(base_url=base, timeout=30, auth=auth) as client:
            bar, advance = progress(show, total, "ticks")
            with bar:
                sender = TickSender(client, batch=args.batch, concurrency=args.concurrency,
                                    on_progress=advance)
                return await sender.send(ticks, rate=args.rate, duration=args.duration)

    try:
        report = asyncio.run(run())
    except (OSError, CsvSourceError, SourceUnavailableError, TokenEndpointError) as exc:
        raise ProduceError(str(exc)) from exc
    sys.stdout.write(json.dumps({
        "sent": report.sent, "accepted": report.accepted, "duplicates": report.duplicates,
        "rejected": report.rejected, "lost": report.lost, "requests": report.requests,
        "retries": report.retries, "seconds": round(report.seconds, 2),
        "ticks_per_second": round(report.rate, 1), "errors": report.errors[:5],
    }) + "\n")
    return 1 if report.lost else 0


def print_token(settings: PlatformSettings) -> int:
    try:
        auth = producer_auth(settings)
        sys.stdout.write(asyncio.run(auth.token()) + "\n")
    except (MissingCredentialError, TokenEndpointError) as exc:
        raise ProduceError(str(exc)) from exc
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = PlatformSettings.load()
    try:
        with suppress(KeyboardInterrupt):
            return print_token(settings) if args.print_token else produce(args, settings)
        return 0
    except ProduceError as exc:
        _say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
