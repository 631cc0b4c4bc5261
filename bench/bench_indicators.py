"""Ticks per second of the indicator engine on one core, in process.

    PYTHONPATH=. python bench/bench_indicators.py [--ticks 1000000] [--symbols 20] [--batch 500]

Feeds the ticks of many symbols, interleaved as a stream would deliver them, through one
`IndicatorEngine` per symbol in batches (the trend worker's shape), and prints a table for a
few batch sizes against the 500,000 ticks/s target. Tick generation is not timed.

Rates are per CPU second of this process (``time.process_time``), which a busy machine
disturbs far less than wall time; wall-clock rates are printed beside them.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import time

from services.trend.indicators import IndicatorEngine

TARGET = 500_000


def make_stream(
    ticks: int, symbols: int, seed: int
) -> dict[str, tuple[list[float], list[int], list[float]]]:
    """Per-symbol price/volume/timestamp columns of a seeded random walk."""
    rnd = random.Random(seed)
    per_symbol = ticks // symbols
    columns = {}
    for s in range(symbols):
        price = 50.0 + 10 * s
        prices, volumes, stamps = [], [], []
        at = 1_700_000_000.0
        for _ in range(per_symbol):
            price *= math.exp(rnd.gauss(0.0, 0.002))
            at += 0.25
            prices.append(round(price, 2))
            volumes.append(rnd.randrange(1, 100) * 100)
            stamps.append(at)
        columns[f"SYM{s:02d}"] = (prices, volumes, stamps)
    return columns


def run(
    columns: dict[str, tuple[list[float], list[int], list[float]]], batch: int
) -> tuple[float, float]:
    """CPU and wall seconds to push every tick through fresh engines, `batch` ticks per call."""
    engines = {symbol: IndicatorEngine(symbol) for symbol in columns}
    slices = []
    length = len(next(iter(columns.values()))[0])
    for start in range(0, length, batch):
        for symbol, (prices, volumes, stamps) in columns.items():
            end = start + batch
            slices.append(
                (engines[symbol], prices[start:end], volumes[start:end], stamps[start:end])
            )
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for engine, prices, volumes, stamps in slices:
        engine.update_many(prices, volumes, stamps)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    for engine in engines.values():
        engine.values()
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--batches", type=int, nargs="+", default=[10_000, 500, 50, 10])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    columns = make_stream(args.ticks, args.symbols, args.seed)
    total = sum(len(prices) for prices, _, _ in columns.values())
    print(f"{total:,} ticks, {args.symbols} symbols, best of {args.repeat}")
    print(f"{'batch':>8} {'cpu s':>7} {'ticks/cpu-s':>12} {'wall s':>7} {'ticks/s':>12}  target")
    rates = []
    for batch in args.batches:
        cpu, wall = min(run(columns, batch) for _ in range(args.repeat))
        rates.append(total / cpu)
        verdict = "met" if total / cpu >= TARGET else "MISSED"
        print(
            f"{batch:>8} {cpu:>7.3f} {total / cpu:>12,.0f} {wall:>7.3f} {total / wall:>12,.0f}"
            f"  {verdict}"
        )
    best = max(rates)
    print(f"{TARGET:,} ticks/s target {'met' if best >= TARGET else 'missed'}: best {best:,.0f}")


if __name__ == "__main__":
    main()
