"""Meety's natural-language understanding: one utterance in, an intent and slot values out.

The entry point is `understand()` (`understanding`); the extractors it runs, in order, each
read one kind of value from the `text.Utterance` and claim the words they used:

    emails        written or spoken e-mail addresses
    durations     meeting lengths ("an hour and a half", "30-45 mins")
    parts_of_day  "tomorrow morning", "tonight"
    dates         days, resolved against the local today ("next Friday", "5/3")
    times         clock times and time ranges ("half past two", "from 2 to 3pm")
    names         people's names ("my name is Ana Lima", "Ana here")

`mentions` holds what the extractors share; `text` the utterance and spelled-out numbers.
"""

from .parts_of_day import PartOfDay
from .times import BusinessHours
from .understanding import (
    DEFAULT_BUSINESS_HOURS,
    SLOT_NAMES,
    Intent,
    SlotName,
    Slots,
    Understanding,
    understand,
)

__all__ = [
    "DEFAULT_BUSINESS_HOURS",
    "SLOT_NAMES",
    "BusinessHours",
    "Intent",
    "PartOfDay",
    "SlotName",
    "Slots",
    "Understanding",
    "understand",
]
