"""Throughput of Meety's NLU: the whole labelled corpus, understood again and again in-process.

    python bench/bench_nlu.py [--seconds 3]

Prints calls per second on one core and whether the 10,000 calls/s target is met.
"""

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a plain checkout, not only an installed one

from services.meetings.nlu import understand  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "meetings_nlu_corpus.yaml"
TARGET_CALLS_PER_SECOND = 10_000


def load_calls() -> list[tuple[str, dict[str, Any]]]:
    """Each corpus utterance with the keyword arguments `understand` gets for it."""
    document = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    calls = []
    for entry in document["utterances"]:
        entry = document["defaults"] | entry
        kwargs = {
            "now": datetime.fromisoformat(entry["now"]),
            "timezone": entry["timezone"],
            "expecting": entry.get("expecting"),
            "day_first": entry.get("day_first", False),
        }
        calls.append((entry["text"], kwargs))
    return calls


def one_round(calls: list[tuple[str, dict[str, Any]]]) -> float:
    """Seconds to understand every utterance once."""
    started = time.perf_counter()
    for text, kwargs in calls:
        understand(text, **kwargs)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to measure")
    args = parser.parse_args()

    calls = load_calls()
    one_round(calls)  # warm-up: imports, zone cache, regex cache
    rounds: list[float] = []
    deadline = time.perf_counter() + args.seconds
    while time.perf_counter() < deadline:
        rounds.append(one_round(calls))

    per_second = [len(calls) / seconds for seconds in rounds]
    total_calls = len(calls) * len(rounds)
    overall = total_calls / sum(rounds)
    rows = [
        ("utterances in corpus", f"{len(calls)}"),
        ("rounds", f"{len(rounds)}"),
        ("calls", f"{total_calls}"),
        ("calls/s (overall)", f"{overall:,.0f}"),
        ("calls/s (median round)", f"{statistics.median(per_second):,.0f}"),
        ("calls/s (slowest round)", f"{min(per_second):,.0f}"),
        ("mean latency", f"{1e6 / overall:,.1f} µs"),
        ("target", f"{TARGET_CALLS_PER_SECOND:,} calls/s"),
        ("target met", "yes" if overall >= TARGET_CALLS_PER_SECOND else "NO"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"NLU benchmark (Python {sys.version.split()[0]}, one core)")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>14}")


if __name__ == "__main__":
    main()
