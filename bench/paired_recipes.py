"""The recipes API of two commits against one emulator, measured in alternating slices.

    make bench-paired BASE=7540b05
    python bench/paired_recipes.py --base 7540b05 --rounds 10 --seconds 4 --clients 1 16 64

`side_by_side.py` runs each commit's whole benchmark in turn, each with an emulator of its
own, so a figure of one side and one of the other are minutes apart; on two cores the API's
CPU per request then differs by ±10-20 % from run to run, more than the changes it is asked
to show. Here one emulator serves both: this tree's recipes API and the base commit's (from
a temporary git worktree) run side by side against the same tables and the same seeded
recipes, and each round measures one, then the other (the order swapped every round), for
``--seconds`` each. A round's change is head / base of two slices seconds apart; the
medians of the rounds and of those changes are printed, with every round's value.

"CPU ms/req" is the serving process's own CPU (user + system) per answered request: what
carries to AWS, where DynamoDB is not in the same two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_recipes import seed  # noqa: E402
from bench.loadgen import CpuMeter, rate_limit_env, run_load  # noqa: E402
from bench.side_by_side import checkout, short_name  # noqa: E402
from devkit.cognito import DEMO_USERS, sign_in  # noqa: E402
from devkit.emulator import Emulator  # noqa: E402
from devkit.testing import ServiceProcess, start_local_stack  # noqa: E402
from shared.aws import AwsClients  # noqa: E402

SIDES = ("base", "head")
CASES = {"by-id": "GET /recipes/{id}", "list": "GET /recipes?limit=20"}


@dataclass
class Series:
    """One case at one client count: each round's CPU ms/req and req/s, by side."""

    cpu_ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    rps: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    errors: int = 0

    def changes(self) -> list[float]:
        """Each round's head / base - 1 of CPU per request, in %."""
        return [(h / b - 1) * 100 for b, h in zip(self.cpu_ms["base"], self.cpu_ms["head"],
                                                    strict=True)]


async def measure(url: str, server: ServiceProcess, clients: int, seconds: float,
                  series: Series, side: str) -> None:
    await run_load(url, clients, min(0.5, seconds))  # warm-up: connections, caches
    assert server.process is not None
    meter = CpuMeter({side: server.process.pid})
    meter.start()
    result = await run_load(url, clients, seconds)
    meter.stop()
    series.cpu_ms[side].append(meter.used[side] / max(result.requests, 1) * 1000)
    series.rps[side].append(result.rps)
    series.errors += result.errors


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the median of ``values`` (the sign test's: order
    statistics k and n - k + 1, k the largest with P(Binomial(n, 1/2) < k) <= (1 - c) / 2);
    the whole range when there are too few values for ``confidence``."""
    ordered, n = sorted(values), len(values)
    tail, k = 0.0, 0
    while k < n // 2:
        tail += math.comb(n, k) / 2**n
        if tail > (1 - confidence) / 2:
            break
        k += 1
    k = max(k, 1)
    return ordered[k - 1], ordered[n - k]


def report(name: str, clients: int, series: Series) -> None:
    def runs(values: list[float]) -> str:
        return " / ".join(f"{v:.2f}" for v in values)

    base, head = (statistics.median(series.cpu_ms[s]) for s in SIDES)
    changes = series.changes()
    print(f"\n{name}, {clients} clients ({len(changes)} rounds, {series.errors} errors)")
    for side in SIDES:
        print(f"  {side} CPU ms/req: {runs(series.cpu_ms[side])}   "
              f"req/s median {statistics.median(series.rps[side]):.0f}")
    print(f"  CPU ms/req median: base {base:.2f}, head {head:.2f} "
          f"({(head / base - 1) * 100:+.1f} %)")
    low, high = median_interval(changes)
    print(f"  change by round, head vs base: {' / '.join(f'{c:+.1f}' for c in changes)} %")
    print(f"  median change {statistics.median(changes):+.1f} % (95 % interval {low:+.1f} "
          f"to {high:+.1f} %)")


async def main(base_commit: str, head_commit: str, rounds: int, seconds: float,
               levels: list[int], chosen: list[str]) -> int:
    with checkout(base_commit) as tree, Emulator() as emulator:
        stack = await start_local_stack(emulator, DEMO_USERS)
        async with AwsClients(stack.settings) as aws:
            alice = next(u for u in DEMO_USERS if u.username == "alice")
            token = (await sign_in(aws, stack.settings.cognito_client_id, alice.username,
                                   alice.password))["AccessToken"]
        env = {**stack.env, "LOG_LEVEL": "WARNING", **rate_limit_env("off")}
        with ExitStack() as processes:
            servers = {
                "base": processes.enter_context(ServiceProcess.api(
                    "services.recipes.main:app", {**env, "PYTHONPATH": str(tree)}, cwd=tree)),
                "head": processes.enter_context(ServiceProcess.api(
                    "services.recipes.main:app", env)),
            }
            ids = await seed(servers["head"].url, token, 200)
            target = ids[len(ids) // 2]
            paths = {"by-id": f"/recipes/{target}", "list": "/recipes?limit=20"}
            cases = {CASES[case]: paths[case] for case in chosen}
            print(f"recipes API, base {base_commit} and head {head_commit} against one "
                  f"emulator; {rounds} rounds of {seconds:.0f} s a side per case and client "
                  f"count, the order swapped every round")
            for clients in levels:
                for name, path in cases.items():
                    series = Series()
                    for n in range(rounds):
                        for side in SIDES if n % 2 == 0 else SIDES[::-1]:
                            server = servers[side]
                            await measure(server.url + path, server, clients, seconds,
                                          series, side)
                    report(name, clients, series)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=sorted(CASES))
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.base, short_name("HEAD"), args.rounds, args.seconds,
                              args.clients, args.cases)))
