"""The kit's own CPU per HTTP request with tracing off and on, without AWS in the loop.

    python bench/bench_tracing.py                 # 3 rounds of 20,000 requests per mode
    python bench/bench_tracing.py --requests 5000 --rounds 1

A trivial route (a path parameter, a JSON answer) behind the kit's request middleware
(`shared.http.RequestContextMiddleware`: request id, log line, body cap, server span),
called straight through ASGI, so what is measured is the kit and FastAPI, not a socket or
the emulator. Each mode runs in a process of its own (tracing is per process): ``off`` as
the suites run, ``on`` recording every span to span files as `regatta up` does (the
BatchSpanProcessor's thread and the file writes count: process CPU, all threads). The
figure that carries to AWS is the difference: the OTLP exporter does the same work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODES = ("off", "on")


def build_app() -> Any:
    from fastapi import FastAPI

    from shared.http import RequestContextMiddleware
    from shared.logging import configure_logging
    from shared.telemetry import instrument_app

    configure_logging("WARNING", "json", service="bench")
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    app.add_middleware(RequestContextMiddleware, max_body_bytes=64 * 1024)
    instrument_app(app, "bench", metrics=False)
    return app


async def measure(requests: int) -> float:
    """CPU microseconds per request, this process (all threads)."""
    from shared.telemetry import shutdown_telemetry

    app = build_app()
    scope = {"type": "http", "method": "GET", "path": "/items/a1", "raw_path": b"/items/a1",
             "query_string": b"", "scheme": "http", "http_version": "1.1", "root_path": "",
             "server": ("bench", 80), "client": ("203.0.113.9", 5000),
             "headers": [(b"host", b"bench"), (b"accept", b"application/json")],
             "asgi": {"version": "3.0"}}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Any) -> None:
        return None

    for _ in range(1000):  # warm-up: imports, routing caches
        await app(dict(scope), receive, send)
    started = time.process_time()
    for _ in range(requests):
        await app(dict(scope), receive, send)
    shutdown_telemetry()  # the spans still queued are part of the cost
    return (time.process_time() - started) / requests * 1e6


def run_mode(mode: str, requests: int) -> float:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "REGATTA_TRACE"))}
    with tempfile.TemporaryDirectory() as spans:
        if mode == "on":
            env["REGATTA_TRACE_DIR"] = spans
        out = subprocess.run([sys.executable, __file__, "--child", str(requests)], env=env,
                             check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


def main(requests: int, rounds: int) -> int:
    print(f"{requests} requests per mode and round; CPU µs per request (process, all threads)")
    print("| round |     off |      on |  on - off |")
    print("|-------|---------|---------|-----------|")
    totals = dict.fromkeys(MODES, 0.0)
    for n in range(1, rounds + 1):
        figures = {mode: run_mode(mode, requests) for mode in MODES}
        for mode in MODES:
            totals[mode] += figures[mode]
        print(f"| {n:>5} | {figures['off']:>7.1f} | {figures['on']:>7.1f} "
              f"| {figures['on'] - figures['off']:>+9.1f} |", flush=True)
    off, on = totals["off"] / rounds, totals["on"] / rounds
    print(f"\nmean: off {off:.1f} µs, on {on:.1f} µs: tracing adds {on - off:.1f} µs "
          f"of CPU per request")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(asyncio.run(measure(int(sys.argv[2]))))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.exit(main(args.requests, args.rounds))
