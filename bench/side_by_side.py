"""Benchmarks of two commits side by side: base and head runs alternate, medians compared.

    make bench-compare BASE=7540b05 BENCH="recipes stock" ROUNDS=3
    python bench/side_by_side.py --base HEAD~1 --rounds 3 recipes meetings stock media

(7540b05 is the commit before issue 14's refactor: the kit v2 work starts with 3622470.)

The base commit is checked out in a temporary git worktree and each benchmark runs there and
in this tree in turn (base, head, base, head, ...), so the machine's drift and its neighbours
weigh on both sides alike; each side's figure is the median of its rounds, printed with every
round's value and the change from base to head. Each run's whole output is kept in ``--out``.

The figures are those both versions of a benchmark print (the older scripts print less): the
project's own CPU per unit of work where the script gives it, and figures that normalise the
machine away within a run (recipes: req/s against a floor app measured in the same run).
Both trees run with this tree's virtualenv; a base that needs other packages cannot be
compared this way.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

Figures = Iterator[tuple[str, float]]


def _recipes(text: str) -> Figures:
    for clients, by_id, listing in re.findall(
            r"(\d+) clients: GET by id ([\d.]+)\s+list ([\d.]+)", text):
        yield f"req/s vs floor, GET by id, {clients} clients (higher is better)", float(by_id)
        yield f"req/s vs floor, list, {clients} clients (higher is better)", float(listing)
    # The API process's own CPU per request, from the table's last-but-one column.
    for case, clients, cpu in re.findall(
            r"^\| (GET /recipes/\{id\}|GET /recipes\?limit=20)\s*\|\s*(\d+)\s*\|.*?"
            r"\|\s*([\d.]+)\s*\|\s*\d+\s*\|$", text, re.MULTILINE):
        yield f"CPU ms per request, {case}, {clients} clients", float(cpu)


def _meetings(text: str) -> Figures:
    line = re.search(r"CPU per turn \(paced\): (.*)", text)
    for name, ms in re.findall(r"([\w-]+) ([\d.]+) ms", line.group(1) if line else ""):
        yield f"CPU ms per turn (paced), {name}", float(ms)
    p99 = re.search(r"p99[^\d]*([\d,.]+) ?ms", text)
    if p99:
        yield "first p99 ms per turn printed", float(p99.group(1).replace(",", ""))


def _stock(text: str) -> Figures:
    ticks = re.search(r"^([\d,]+) ticks, ", text, re.MULTILINE)
    count = float(ticks.group(1).replace(",", "")) if ticks else 0.0
    line = re.search(r"CPU seconds used[^:]*: (.*)", text)
    # Neither the emulator's nor the bench's own (its name holds a comma): the project's.
    used = re.sub(r"bench \([^)]*\) [\d.]+,? ?", "", line.group(1)) if line else ""
    for name, seconds in re.findall(r"\s*([^,]+?) ([\d.]+)(?:,|$)", used):
        if count and "emulator" not in name:
            yield f"CPU ms per 1,000 ticks, {name.strip()}", float(seconds) / count * 1e6
    latency = re.search(r"latency 202 -> trend state: p50 ([\d,]+) ms", text)
    if latency:
        yield "latency 202 -> trend, p50 ms", float(latency.group(1).replace(",", ""))
    engine = re.search(r"^\| 500 \| ([\d,]+) \|", text, re.MULTILINE)
    if engine:
        yield "indicator engine ticks per CPU-s, 500 per update (higher is better)", float(
            engine.group(1).replace(",", ""))


def _media(text: str) -> Figures:
    row = re.search(r"^(single[^\n]*?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+\d+", text,
                    re.MULTILINE)
    if row:
        yield "single-decode ladder wall s", float(row.group(2))
        yield "single-decode ladder CPU s", float(row.group(4))


@dataclass(frozen=True)
class Bench:
    script: str
    args: tuple[str, ...]
    figures: Callable[[str], Figures]


BENCHES = {
    "recipes": Bench("bench/bench_recipes.py", ("--seconds", "5"), _recipes),
    "meetings": Bench("bench/bench_meetings.py", (), _meetings),
    "stock": Bench("bench/bench_stock.py", (), _stock),
    "media": Bench("bench/bench_media.py", ("--seconds", "20", "--repeat", "1"), _media),
}


def run(tree: Path, bench: Bench, log: Path) -> dict[str, float]:
    started = time.monotonic()
    # The tree's own packages first (the virtualenv's editable install points at this one),
    # for the script and every process it starts.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, bench.script, *bench.args], cwd=tree, text=True,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    log.write_text(done.stdout)
    figures = dict(bench.figures(done.stdout))
    status = "ok" if done.returncode == 0 and figures else f"FAILED (exit {done.returncode})"
    print(f"  {log.name}: {status}, {time.monotonic() - started:.0f} s", flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("benches", nargs="+", choices=sorted(BENCHES))
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3, help="runs per side")
    parser.add_argument("--out", type=Path, default=None, help="folder for the outputs")
    parser.add_argument("--outputs", type=Path, default=None,
                        help="read the outputs kept in this folder instead of running")
    args = parser.parse_args()
    if args.outputs:
        for name in args.benches:
            print(f"\n{name}: the outputs in {args.outputs}")
            report({side: [dict(BENCHES[name].figures(f.read_text())) for f in sorted(
                args.outputs.glob(f"{name}-{side}-*.txt"))] for side in ("base", "head")})
        return 0
    out = args.out or Path(tempfile.mkdtemp(prefix="side-by-side-"))
    out.mkdir(parents=True, exist_ok=True)
    head = short_name("HEAD")
    with checkout(args.base) as base:
        for name in args.benches:
            bench = BENCHES[name]
            print(f"\n{name}: {bench.script} {' '.join(bench.args)}, base {args.base} and head "
                  f"{head}, {args.rounds} rounds each, alternating; outputs in {out}")
            sides: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
            for n in range(args.rounds):
                for side, tree in (("base", base), ("head", ROOT)):
                    sides[side].append(run(tree, bench, out / f"{name}-{side}-{n + 1}.txt"))
            report(sides)
    return 0


def short_name(revision: str) -> str:
    """The abbreviated commit name of ``revision`` in this repository."""
    return subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, text=True,
                          capture_output=True, check=True).stdout.strip()


@contextmanager
def checkout(commit: str) -> Iterator[Path]:
    """``commit`` checked out in a temporary git worktree, removed afterwards."""
    tree = Path(tempfile.mkdtemp(prefix="side-by-side-base-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), commit],
                   cwd=ROOT, check=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                       check=False)


def report(sides: dict[str, list[dict[str, float]]]) -> None:
    labels = [k for k in sides["head"][0] if all(k in r for s in sides.values() for r in s)] \
        if sides["head"] and sides["head"][0] else []
    print("| figure | base runs | head runs | base median | head median | change |")
    print("|---|---|---|---:|---:|---:|")
    for label in labels:
        values = {side: [r[label] for r in runs] for side, runs in sides.items()}
        base, head = (statistics.median(values[s]) for s in ("base", "head"))
        change = f"{(head - base) / base * 100:+.1f} %" if base else "-"
        print(f"| {label} | {' / '.join(f'{v:,.2f}' for v in values['base'])} | "
              f"{' / '.join(f'{v:,.2f}' for v in values['head'])} | {base:,.2f} | "
              f"{head:,.2f} | {change} |")
    if not labels:
        print("(no figure found in both sides' outputs: see the kept outputs)")


if __name__ == "__main__":
    sys.exit(main())
