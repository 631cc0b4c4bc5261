"""Recipes read throughput and latency against a floor measured in the same run.

    make bench-recipes            # 1, 16, 64 clients, 20 s each
    python bench/bench_recipes.py --seconds 5 --clients 1 16
    python bench/bench_recipes.py --rate-limits on   # the limiters on, nothing refused
    python bench/bench_recipes.py --tracing          # + the reads from a traced recipes API

Starts its own emulator, provisions it, runs the recipes API and the floor app (one GetItem
per request, bench/floor_app.py) as uvicorn processes, seeds recipes, then measures.
Target: recipes/floor >= 0.8 at 64 clients for GET /recipes/{id}, with zero errors.

The reads are not rate-limited routes; ``POST /recipes/{id}/likes`` (alice liking the same
recipe again: a token check, a GetItem and a cancelled transaction, no change) is a
per-user limited one, so ``--rate-limits on`` shows the limiter's cost there and none on the
reads. ``--tracing`` runs a second recipes API that records every request's span (to span
files, as `regatta up` does; in AWS the OTLP exporter does the same work) and measures its
reads right after the untraced ones, so both see the same machine: the "traced" rows and the
overhead lines are what tracing costs. "CPU ms/req" is the serving process's own CPU (user +
system) per request.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import (  # noqa: E402
    RATE_LIMIT_MODES,
    CpuMeter,
    LoadResult,
    rate_limit_env,
    run_load,
)
from devkit.cognito import DEMO_USERS, sign_in  # noqa: E402
from devkit.emulator import Emulator  # noqa: E402
from devkit.testing import ServiceProcess, start_local_stack  # noqa: E402
from shared.aws import AwsClients  # noqa: E402


async def seed(url: str, token: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        ids = []
        for n in range(count):
            body = {
                "title": f"Bench recipe {n}",
                "ingredients": [{"description": "flour"}],
                "steps": [{"description": "bake"}],
                "tags": ["bench"],
            }
            response = await client.post("/recipes", json=body)
            response.raise_for_status()
            ids.append(response.json()["id"])
        return ids


def row(name: str, result: LoadResult, cpu_ms: float) -> str:
    return (
        f"| {name:<28} | {result.clients:>7} | {result.rps:>8.1f} | {result.p50:>8.2f} "
        f"| {result.p99:>8.2f} | {cpu_ms:>10.2f} | {result.errors:>6} |"
    )


async def main(seconds: float, levels: list[int], seed_count: int,
               rate_limits: str = "off", tracing: bool = False) -> int:
    with Emulator() as emulator:
        stack = await start_local_stack(emulator, DEMO_USERS)
        async with AwsClients(stack.settings) as aws:
            alice = next(u for u in DEMO_USERS if u.username == "alice")
            token = (
                await sign_in(aws, stack.settings.cognito_client_id, alice.username, alice.password)
            )["AccessToken"]
        env = {**stack.env, "LOG_LEVEL": "WARNING", **rate_limit_env(rate_limits)}
        with ExitStack() as processes:
            recipes = processes.enter_context(
                ServiceProcess.api("services.recipes.main:app", env))
            floor = processes.enter_context(ServiceProcess.api("bench.floor_app:app", env))
            traced = None
            if tracing:
                spans = processes.enter_context(tempfile.TemporaryDirectory())
                traced = processes.enter_context(ServiceProcess.api(
                    "services.recipes.main:app", {**env, "REGATTA_TRACE_DIR": spans}))
            ids = await seed(recipes.url, token, seed_count)
            target = ids[len(ids) // 2]
            signed_in = {"Authorization": f"Bearer {token}"}
            # (name, url, method, headers, the process serving it)
            cases = [
                ("floor GetItem", f"{floor.url}/floor/{target}", "GET", None, floor),
                ("GET /recipes/{id}", f"{recipes.url}/recipes/{target}", "GET", None, recipes),
                ("floor Query (index)", f"{floor.url}/floor", "GET", None, floor),
                ("GET /recipes?limit=20", f"{recipes.url}/recipes?limit=20", "GET", None,
                 recipes),
                ("POST /recipes/{id}/likes", f"{recipes.url}/recipes/{target}/likes", "POST",
                 signed_in, recipes),
            ]
            if traced is not None:
                cases[2:2] = [("GET /recipes/{id} traced", f"{traced.url}/recipes/{target}",
                               "GET", None, traced)]
                cases[5:5] = [("GET /recipes?limit=20 traced", f"{traced.url}/recipes?limit=20",
                               "GET", None, traced)]
            mode = ("on (enabled, limits too high to refuse anything: the limiter's cost)"
                    if rate_limits == "on" else "off (RATE_LIMITS_ENABLED=false, as always before)")
            print(f"\n{seed_count} recipes seeded; {seconds:.0f} s per measurement; "
                  f"rate limits: {mode}\n")
            print("| case                         | clients |    req/s |   p50 ms |   p99 ms "
                  "| CPU ms/req | errors |")
            print("|------------------------------|---------|----------|----------|----------"
                  "|------------|--------|")
            results: dict[tuple[str, int], LoadResult] = {}
            cpu: dict[tuple[str, int], float] = {}
            for clients in levels:
                for name, url, method, headers, server in cases:
                    await run_load(url, clients, min(2.0, seconds), headers, method)  # warm-up
                    meter = CpuMeter({name: server.process.pid})
                    meter.start()
                    result = await run_load(url, clients, seconds, headers, method)
                    meter.stop()
                    results[name, clients] = result
                    cpu_ms = meter.used[name] / max(result.requests, 1) * 1000
                    cpu[name, clients] = cpu_ms
                    print(row(name, result, cpu_ms), flush=True)
            print("\nratio recipes / floor (req/s):")
            errors = sum(r.errors for r in results.values())
            for clients in levels:
                by_id = (
                    results["GET /recipes/{id}", clients].rps
                    / results["floor GetItem", clients].rps
                )
                listing = (
                    results["GET /recipes?limit=20", clients].rps
                    / results["floor Query (index)", clients].rps
                )
                print(f"  {clients:>3} clients: GET by id {by_id:.2f}   list {listing:.2f}")
            if traced is not None:
                print("\ntracing's cost (traced / untraced, same run):")
                for clients in levels:
                    for case in ("GET /recipes/{id}", "GET /recipes?limit=20"):
                        plain, with_spans = cpu[case, clients], cpu[f"{case} traced", clients]
                        print(f"  {clients:>3} clients: {case:<22} CPU ms/req {plain:.2f} -> "
                              f"{with_spans:.2f} ({(with_spans / plain - 1) * 100:+.1f}%)")
            if 64 in levels:
                ratio = results["GET /recipes/{id}", 64].rps / results["floor GetItem", 64].rps
                verdict = "met" if ratio >= 0.8 and errors == 0 else "NOT met"
                print(f"\ntarget (by-id ratio >= 0.8 at 64 clients, zero errors): {verdict}")
            return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seed", type=int, default=200, help="recipes to create first")
    parser.add_argument("--rate-limits", choices=RATE_LIMIT_MODES, default="off",
                        help="off: limits disabled, as the suites run; on: the kit's limiters "
                             "enabled with limits no request reaches (their cost)")
    parser.add_argument("--tracing", action="store_true",
                        help="also measure the reads on a recipes API that records spans")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.seconds, args.clients, args.seed, args.rate_limits,
                              args.tracing)))
