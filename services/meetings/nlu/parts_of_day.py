"""Vague times of day ("tomorrow morning", "tonight", "this afternoon")."""

import re
from dataclasses import dataclass
from typing import Literal

from .text import Utterance

PartOfDay = Literal["morning", "afternoon", "evening", "night"]


_PART_OF_DAY = re.compile(
    r"\b(?:(?P<this>this)\s+|(?:(?:early|late)\s+)?(?:in\s+the\s+|at\s+)?)"
    r"(?P<pod>morning|afternoon|evening|night|tonight)s?\b(?:\s+one\b)?"
)


_PARTS: dict[str, PartOfDay] = {
    "morning": "morning", "afternoon": "afternoon", "evening": "evening", "night": "night",
    "tonight": "evening",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PartOfDayMention:
    """A vague time of day ("tomorrow morning", "tonight") and where it was said."""

    part: PartOfDay
    start: int
    means_today: bool


def extract_part_of_day(u: Utterance) -> PartOfDayMention | None:
    """The part of day named in the text, if any ("this afternoon" also means today)."""
    match = _PART_OF_DAY.search(u.lower)
    if match is None:
        return None
    u.claim_match(match)
    word = match["pod"]
    return PartOfDayMention(_PARTS[word], match.start(), bool(match["this"]) or word == "tonight")
