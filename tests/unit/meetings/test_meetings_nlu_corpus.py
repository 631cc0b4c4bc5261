"""Accuracy of Meety's NLU over the labelled corpus in tests/data/meetings_nlu_corpus.yaml."""

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from services.meetings.nlu import Understanding, understand

CORPUS = Path(__file__).parents[2] / "data" / "meetings_nlu_corpus.yaml"
EXTRAS = ("week_of", "weekday", "vague_time", "meridiem", "correction")
TARGET_ACCURACY = 0.95


def load_corpus() -> list[dict[str, Any]]:
    """The corpus entries with the file's defaults applied."""
    document = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    defaults = document["defaults"]
    return [defaults | entry for entry in document["utterances"]]


def run(entry: dict[str, Any]) -> Understanding:
    """Understand one corpus entry with its clock, zone and hints."""
    return understand(
        entry["text"],
        now=datetime.fromisoformat(entry["now"]),
        timezone=entry["timezone"],
        expecting=entry.get("expecting"),
        day_first=entry.get("day_first", False),
    )


def mismatches(entry: dict[str, Any], got: Understanding) -> list[str]:
    """What differs between the labelled and the understood meaning (empty when correct)."""
    problems = []
    if got.intent != entry.get("intent"):
        problems.append(f"intent {got.intent!r} != {entry.get('intent')!r}")
    if dict(got.slots) != entry.get("slots", {}):
        problems.append(f"slots {dict(got.slots)!r} != {entry.get('slots', {})!r}")
    for extra in EXTRAS:
        if extra in entry:
            value = getattr(got, extra)
            value = value.isoformat() if extra == "week_of" and value else value
            if value != entry[extra]:
                problems.append(f"{extra} {value!r} != {entry[extra]!r}")
    return problems


def test_corpus_is_large_and_covers_every_intent_and_slot() -> None:
    """The corpus has at least 200 utterances and exercises every intent and slot."""
    corpus = load_corpus()
    assert len(corpus) >= 200
    intents = {e.get("intent") for e in corpus}
    assert intents >= {"greeting", "schedule_meeting", "cancel", "fallback"}
    slots = {name for e in corpus for name in e.get("slots", {})}
    assert slots == {"full_name", "date", "time", "duration_minutes", "email", "confirmation"}


def test_corpus_accuracy_meets_target() -> None:
    """At least 95% of the labelled utterances are understood exactly right."""
    corpus = load_corpus()
    failures = []
    for entry in corpus:
        problems = mismatches(entry, run(entry))
        if problems:
            failures.append(f"{entry['text']!r} [{entry.get('expecting')}]: {'; '.join(problems)}")
    accuracy = 1 - len(failures) / len(corpus)
    print(f"\nNLU corpus accuracy: {accuracy:.1%} ({len(corpus) - len(failures)}/{len(corpus)})")
    for failure in failures:
        print("  MISS", failure)
    assert accuracy >= TARGET_ACCURACY
