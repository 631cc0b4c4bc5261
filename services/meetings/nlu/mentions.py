"""What the extractors share: a value found at a place in the text, and which one is meant.

Every extractor (`durations`, `parts_of_day`, `dates`, `times`) takes an `Utterance`
(`text`), claims what it reads, and returns resolved values. They run in a fixed order
(durations, part of day, dates, times) so that "30 minutes" is never a time, "5 March" is never
a time and "at 3" is never a date.
"""

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

CHANGE_VERB = re.compile(r"\b(?:change|changed|move|moved|switch|push|reschedule|update)\b")
_NEGATED = re.compile(r"\b(?:not|instead\s+of|rather\s+than)\s+$")
_FROM = re.compile(r"\bfrom\s+$")
DIGIT = re.compile(r"\d")


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Mention(Generic[T]):
    start: int
    value: T
    prep: str | None = None


def pick(mentions: list[Mention[T]], lower: str) -> Mention[T] | None:
    """The mention the user means: not negated ("not Monday"), not the old value of a change."""
    kept = [m for m in mentions if not _NEGATED.search(lower, 0, m.start)]
    if len(kept) > 1 and CHANGE_VERB.search(lower):
        kept = [m for m in kept if m.prep != "from" and not _FROM.search(lower, 0, m.start)]
    return kept[0] if kept else None
