"""Accuracy of Meety's NLU on the everyday corpus: per-slot precision and recall, fully correct.

    python bench/nlu_corpus.py [--misses tuned]

The corpus has a tuned part (tests/data/meetings_nlu_everyday_tuned.yaml) and a held-out part
(tests/data/meetings_nlu_everyday_held_out.yaml) that the code is never tuned on. For each slot,
precision is the share of filled values that are right (a wrong value is the costly mistake:
Meety would confirm the wrong meeting), recall the share of labelled values that were found.
An utterance is fully correct when intent, every slot and every labelled extra match.
`--misses` lists the failures of one part; use it on the tuned part only.
"""

import argparse
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a plain checkout, not only an installed one

from services.meetings.nlu import SLOT_NAMES, Understanding, understand  # noqa: E402

DATA = ROOT / "tests" / "data"
PARTS = {
    "tuned": DATA / "meetings_nlu_everyday_tuned.yaml",
    "held_out": DATA / "meetings_nlu_everyday_held_out.yaml",
}
EXTRAS = (
    "week_of", "weekday", "vague_time", "meridiem", "correction", "date_alternative",
    "duration_options",
)  # fmt: skip
TARGET_FULLY_CORRECT = 0.97  # on the held-out part
TARGET_PRECISION = 0.995  # every slot, every part


def load(path: Path) -> list[dict[str, Any]]:
    """The entries of one corpus file with the file's defaults applied."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [document["defaults"] | entry for entry in document["utterances"]]


def run(entry: dict[str, Any]) -> Understanding:
    """Understand one corpus entry with its clock, zone and hints."""
    return understand(
        entry["text"],
        now=datetime.fromisoformat(entry["now"]),
        timezone=entry["timezone"],
        expecting=entry.get("expecting"),
        day_first=entry.get("day_first", False),
    )


def _extra(got: Understanding, name: str) -> Any:
    value = getattr(got, name, None)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return list(value) if isinstance(value, tuple) else value


def mismatches(entry: dict[str, Any], got: Understanding) -> list[str]:
    """What differs between the labelled and the understood meaning (empty when correct)."""
    problems = []
    if got.intent != entry.get("intent"):
        problems.append(f"intent {got.intent!r} != {entry.get('intent')!r}")
    if dict(got.slots) != entry.get("slots", {}):
        problems.append(f"slots {dict(got.slots)!r} != {entry.get('slots', {})!r}")
    for name in EXTRAS:
        if name in entry and _extra(got, name) != entry[name]:
            problems.append(f"{name} {_extra(got, name)!r} != {entry[name]!r}")
    return problems


@dataclass
class Score:
    """Counts over one part of the corpus."""

    size: int = 0
    fully_correct: int = 0
    filled: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SLOT_NAMES, 0))
    right: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SLOT_NAMES, 0))
    labelled: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SLOT_NAMES, 0))
    misses: list[str] = field(default_factory=list)

    def precision(self, slot: str) -> float:
        return self.right[slot] / self.filled[slot] if self.filled[slot] else 1.0

    def recall(self, slot: str) -> float:
        return self.right[slot] / self.labelled[slot] if self.labelled[slot] else 1.0

    @property
    def fully_correct_rate(self) -> float:
        return self.fully_correct / self.size if self.size else 0.0


def score(entries: list[dict[str, Any]]) -> Score:
    """Per-slot precision/recall counts and the fully-correct count of these entries."""
    result = Score(size=len(entries))
    for entry in entries:
        try:
            got = run(entry)
        except Exception as exc:  # a crash is a miss, not the end of the measurement
            result.misses.append(f"{entry['text']!r}: raised {exc!r}")
            for slot in entry.get("slots", {}):
                result.labelled[slot] += 1
            continue
        expected = entry.get("slots", {})
        for slot in SLOT_NAMES:
            if slot in expected:
                result.labelled[slot] += 1
            if slot in got.slots:
                result.filled[slot] += 1
                if slot in expected and got.slots[slot] == expected[slot]:  # type: ignore[literal-required]
                    result.right[slot] += 1
        problems = mismatches(entry, got)
        if problems:
            where = f" [{entry['expecting']}]" if entry.get("expecting") else ""
            result.misses.append(f"{entry['text']!r}{where}: {'; '.join(problems)}")
        else:
            result.fully_correct += 1
    return result


def report(name: str, result: Score) -> str:
    """A table of one part's figures."""
    lines = [f"{name}: {result.size} utterances, fully correct "
             f"{result.fully_correct_rate:.1%} ({result.fully_correct}/{result.size})"]  # fmt: skip
    lines.append(f"  {'slot':<17}{'precision':>18}{'recall':>18}")
    for slot in SLOT_NAMES:
        p = f"{result.precision(slot):.1%} ({result.right[slot]}/{result.filled[slot]})"
        r = f"{result.recall(slot):.1%} ({result.right[slot]}/{result.labelled[slot]})"
        lines.append(f"  {slot:<17}{p:>18}{r:>18}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", choices=["tuned"], help="list the failures of this part")
    args = parser.parse_args()
    for name, path in PARTS.items():
        result = score(load(path))
        print(report(name, result))
        if args.misses == name:
            for miss in result.misses:
                print("  MISS", miss)
    print(f"targets: fully correct >= {TARGET_FULLY_CORRECT:.0%} on held_out, "
          f"precision >= {TARGET_PRECISION:.1%} for every slot")  # fmt: skip


if __name__ == "__main__":
    main()
