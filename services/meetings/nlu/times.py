"""Clock times in the user's words ("3pm", "half past two", "at 3", "14h30", "from 2 to 3pm").

Resolution rules:
- a clock time without am/pm ("at 3", "3 o'clock", "half past two") is resolved by a part of day
  said alongside ("in the afternoon"), else by business hours: if exactly one of 03:00 and 15:00
  starts inside them it wins, otherwise both are returned as candidates;
- 24-hour forms ("14h30", "at 1400", "1400 hrs") are read as written; "14h30" is never a length,
  though "1h30" and "for 2h" are (`durations`);
- a range ("from 3 to 4pm", "2-3:30pm", "between 2 and 3") is a start and a length; the end's
  am/pm places the start, and a range of lengths ("30-45 mins") is a choice, not a length.
"""

import re
from dataclasses import dataclass
from datetime import time

from .mentions import CHANGE_VERB, DIGIT, Mention, pick
from .parts_of_day import PartOfDay, PartOfDayMention
from .text import CLAIMED, NUMBER, NUMBER_IN_WORDS, Utterance, parse_number

BusinessHours = tuple[time, time]
Clock = str | list[str]

_MERIDIEM = r"(?P<mer>[ap])\.?\s?m(?![a-z])\.?"

_PREP = (
    r"(?:\b(?P<prep>at|from|to|until|till|by|around|about|between|make\s+it|let's\s+do"
    r"|how\s+about|what\s+about)\s+)"
)
_HOUR_WORD = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_MINUTE_WORDS = (
    r"(?:oh[\s-](?:one|two|three|four|five|six|seven|eight|nine)|ten|eleven|twelve|thirteen"
    r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|(?:twenty|thirty|forty|fifty)"
    r"(?:[\s-](?:one|two|three|four|five|six|seven|eight|nine)\b)?)"
)
_TIMES: list[tuple[str, re.Pattern[str]]] = [
    (
        "noon",
        re.compile(rf"{_PREP}?\b(?:12\s*|twelve\s+)?(?:(?P<noon>noon|midday|mid-day)|midnight)\b"),
    ),
    (
        "relative",
        re.compile(
            rf"{_PREP}?\b(?P<q>half|(?:a\s+)?quarter|{NUMBER})(?:\s+minutes?)?\s+"
            rf"(?P<rel>past|after|to|till|til|before|of)\s+(?P<h>{NUMBER})\b(?:\s*{_MERIDIEM})?"
        ),
    ),
    (
        "clock",
        re.compile(
            rf"{_PREP}?(?<![\w:./-])(?P<h>{NUMBER})"
            rf"(?:[:.](?P<m>\d{{2}})|\s+(?P<mw>{NUMBER_IN_WORDS}))?\s*{_MERIDIEM}"
        ),
    ),
    # 24-hour forms: "14h30", "at 9h", "at 1400", "1400 hrs", "at 930".
    ("clock24", re.compile(rf"{_PREP}?(?<![\w:./-])(?P<h>\d{{1,2}})h(?P<m>[0-5]\d)?(?!\w)")),
    (
        "hhmm",
        re.compile(
            rf"{_PREP}(?P<hm>\d{{4}})(?:\s*(?:h|hrs|hours)\b)?(?![\w:./])"
            r"|(?<![\w:./-])(?P<hm2>\d{4})\s*(?:h|hrs|hours)\b"
        ),
    ),
    # "3ish", "about 10:30ish", "2 ish"
    (
        "ish",
        re.compile(rf"{_PREP}?(?<![\w:./-])(?P<h>{NUMBER})(?:[:.](?P<m>\d{{2}}))?\s*-?\s*ish\b"),
    ),
    # Spelled out without a preposition: "ten thirty", "two forty-five", "nine oh five".
    (
        "spelled",
        re.compile(
            rf"{_PREP}?(?<![\w:./-])(?P<h>{_HOUR_WORD})[\s-]+(?P<mw>{_MINUTE_WORDS})(?![\w-])"
            r"(?!\s*(?:minutes?|mins?|hours?|hrs?|people|of\b|to\b|past\b))"
        ),
    ),
    (
        "clock",
        re.compile(rf"{_PREP}?(?<![\w:./-])(?P<h>\d{{1,2}})[:.](?P<m>\d{{2}})(?![\w:]|\.\d)"),
    ),
    ("clock", re.compile(rf"{_PREP}?\b(?P<h>{NUMBER})\s*o'?\s?clock\b")),
    # A bare hour right after something already read, in practice a date: "Monday 10".
    (
        "clock",
        re.compile(
            rf"(?<={re.escape(CLAIMED)})\s+(?P<h>{NUMBER})\b(?!\s*(?:[:/.]\d|st\b|nd\b|rd\b|th\b|%))"
        ),
    ),
    (
        "clock",
        re.compile(
            rf"{_PREP}(?P<h>{NUMBER})(?:\s+(?P<mw>[0-5]\d|{NUMBER_IN_WORDS}))?\b"
            r"(?!\s*(?:[:/.]\d|%|(?:weeks?|days?|months?|years?|people|persons|guests)\b))"
        ),
    ),
]


def _range_end(i: int) -> str:
    return (
        rf"(?:(?P<hm{i}>(?:[01]\d|2[0-3])[0-5]\d)(?!\d)|(?P<noon{i}>noon|midday|midnight)"
        rf"|(?P<h{i}>\d{{1,2}}|{_HOUR_WORD})(?![\d])(?:(?P<sep{i}>[:.h])(?P<m{i}>[0-5]\d))?"
        rf"(?:\s*(?P<mer{i}>[ap])\.?\s?m(?![a-z])\.?)?)"
    )


# A start and an end: "from 3 to 4pm", "2-3:30pm", "10:00-10:45", "between 2 and 3".
_TIME_RANGE = re.compile(
    r"(?<![\w:./-])"
    rf"{_range_end(1)}\s*(?P<join>-|to|till|til|until|and)\s*{_range_end(2)}(?![\w:/]|\.\d)"
    r"(?!\s*(?:weeks?|days?|months?|years?|people|persons|guests|%|hours?|hrs?|minutes?|mins?)\b)"
)
_RANGE_PREP = re.compile(r"\b(?P<prep>from|between|at|around|about)\s+$")
_AFTER_CLAIM = re.compile(rf"{re.escape(CLAIMED)}\s*$")
_HOUR_WORD_SAID = re.compile(rf"\b{_HOUR_WORD}\b")
# Patterns that cannot match without these (skipped cheaply otherwise).
_TIME_HINTS: dict[str, re.Pattern[str]] = {
    "clock24": re.compile(r"\dh"),
    "hhmm": re.compile(r"\d{3}"),
    "ish": re.compile("ish"),
    "spelled": _HOUR_WORD_SAID,
}
_TRAILING_HOUR = re.compile(rf"(?<![\w:./-])(?P<h>{NUMBER})\s*$")
_BARE_TIME = re.compile(
    rf"(?P<h>{NUMBER})(?:(?::|\.|\s+)(?P<m>\d{{2}})|\s+(?P<mw>{NUMBER_IN_WORDS}))?"
)


def _format(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


def _resolve_clock(
    hour: int,
    minute: int,
    *,
    meridiem: str | None,
    part: PartOfDay | None,
    hours: BusinessHours,
    twenty_four: bool = False,
) -> Clock | None:
    """One reading of a clock time, or both when am/pm cannot be told (see module rules)."""
    if not (0 <= minute < 60 and 0 <= hour < 24):
        return None
    if meridiem is not None:
        if hour > 12:
            return _format(hour, minute) if meridiem == "p" else None
        return _format(hour % 12 + (12 if meridiem == "p" else 0), minute)
    if twenty_four or hour == 0 or hour > 12:
        return _format(hour, minute)
    morning, later = _format(hour % 12, minute), _format(hour % 12 + 12, minute)
    if part == "morning":
        return morning
    if part == "night":
        return morning if hour == 12 or hour < 5 else later
    if part is not None:
        return later
    opens, closes = hours
    fits_morning = opens <= time(hour % 12, minute) < closes
    fits_later = opens <= time(hour % 12 + 12, minute) < closes
    if fits_morning != fits_later:
        return morning if fits_morning else later
    return [morning, later]


def _reading(kind: str, m: re.Match[str]) -> tuple[int, int, str | None, bool] | None:
    """(hour, minute, meridiem, 24-hour) read from one time pattern's match."""
    if kind == "noon":
        return (12 if m["noon"] else 0), 0, None, True
    if kind == "hhmm":
        digits = m["hm"] or m["hm2"]
        if m["hm"] and int(digits[-2:]) % 5:
            return None  # "by 2026" is a year, not 20:26
        return int(digits[:2]), int(digits[2:]), None, True
    meridiem = m["mer"] if "mer" in m.re.groupindex else None
    if kind == "relative":
        q, rel = m["q"], m["rel"]
        if "quarter" in q:
            minutes = 15
        elif q == "half":
            if rel not in ("past", "after"):
                return None
            minutes = 30
        else:
            minutes = parse_number(q)
            # "one of two", "from 10 to 11", "2 to 4" are not clock times.
            if rel == "of" or m["prep"] in ("from", "between") or minutes % 5 or minutes >= 60:
                return None
            if rel not in ("past", "after") and q.isdecimal() and minutes < parse_number(m["h"]):
                return None  # "2 to 4" is a range, not 3:58
        hour = parse_number(m["h"])
        if rel in ("past", "after"):
            return hour, minutes, meridiem, False
        if hour <= 12:
            hour = (hour - 1) % 12 or 12
        else:
            hour -= 1
        return hour, 60 - minutes, meridiem, False
    groups = m.groupdict()
    minute_text = groups.get("m") or groups.get("mw")
    minute = parse_number(minute_text) if minute_text else 0
    twenty_four = kind == "clock24" or bool(groups.get("m") and m["h"].startswith("0"))
    return parse_number(m["h"]), minute, meridiem, twenty_four


@dataclass(frozen=True, slots=True)
class TimeFinding:
    """The start time the text names, plus a length when it was given as a range."""

    start: Clock | None = None
    range_minutes: int | None = None


def _range_readings(m: re.Match[str], i: int) -> tuple[list[int], bool] | None:
    """The minutes after midnight one end of a range may mean, and whether it is certain."""
    if m[f"noon{i}"]:
        return [0 if m[f"noon{i}"] == "midnight" else 720], True
    if m[f"hm{i}"]:
        digits = m[f"hm{i}"]
        return [int(digits[:2]) * 60 + int(digits[2:])], True
    hour, minute = parse_number(m[f"h{i}"]), int(m[f"m{i}"] or 0)
    meridiem = m[f"mer{i}"]
    if hour > 23 or (meridiem and not 1 <= hour <= 12):
        return None
    if meridiem:
        return [(hour % 12 + (12 if meridiem == "p" else 0)) * 60 + minute], True
    if hour == 0 or hour > 12 or m[f"sep{i}"] == "h" or m[f"h{i}"].startswith("0"):
        return [hour * 60 + minute], True
    return [(hour % 12) * 60 + minute, (hour % 12 + 12) * 60 + minute], False


def _time_range(
    u: Utterance, *, part: PartOfDay | None, hours: BusinessHours
) -> TimeFinding | None:
    """A range said as a start and an end; the end's am/pm also places the start."""
    for m in _TIME_RANGE.finditer(u.lower):
        said_prep = _RANGE_PREP.search(u.lower, 0, m.start())
        prep, join = (said_prep["prep"] if said_prep else None), m["join"]
        digits = m["h1"] is None or m["h1"].isdecimal()
        precise = any(m[g] for g in ("m1", "m2", "mer1", "mer2", "hm1", "hm2", "noon2"))
        begins = said_prep.start() if said_prep else m.start()
        after_date = _AFTER_CLAIM.search(u.lower, 0, begins) is not None
        if (join == "and") != (prep == "between"):
            continue
        if prep in ("from", "between"):
            if prep == "from" and CHANGE_VERB.search(u.lower):
                continue  # "change it from 2 to 3": 3 is the new start, not an end
        elif join == "-":
            if not (precise or after_date or prep):
                continue
        elif not (digits and precise):
            continue  # "five to six", "10 to 4" are clock times, read below
        first, second = _range_readings(m, 1), _range_readings(m, 2)
        if first is None or second is None:
            continue
        (starts, start_known), (ends, end_known) = first, second
        if not start_known and not end_known:
            resolved = _resolve_clock(
                parse_number(m["h1"]), int(m["m1"] or 0), meridiem=None, part=part, hours=hours
            )
            if isinstance(resolved, str):
                starts, start_known = [int(resolved[:2]) * 60 + int(resolved[3:])], True
        if start_known or not end_known:
            later = [e for e in ends if e > starts[0]]
            ends = later[:1]
        if end_known and not start_known:
            earlier = [s for s in starts if s < ends[0]]
            starts = earlier[-1:] or starts
            start_known = bool(earlier)
        length = ends[0] - starts[0] if ends else 0
        if not 0 < length <= 12 * 60:
            continue
        u.claim(begins, m.end())
        start: Clock = _format(*divmod(starts[0], 60))
        if not start_known:
            start = [_format(*divmod(s, 60)) for s in starts]
        return TimeFinding(start=start, range_minutes=length)
    return None


def extract_time(
    u: Utterance, *, part: PartOfDayMention | None, hours: BusinessHours
) -> TimeFinding:
    """The clock time the text names ("3pm", "half past two", "at 3", "from 2 to 3pm")."""
    part_of_day = part.part if part else None
    lower = u.lower
    if any(join in lower for join in ("-", " to ", " and ", "til")) and (
        DIGIT.search(lower) or _HOUR_WORD_SAID.search(lower)
    ):
        said_range = _time_range(u, part=part_of_day, hours=hours)
        if said_range is not None:
            return said_range
    mentions: list[Mention[Clock]] = []
    for kind, pattern in _TIMES:
        hint = _TIME_HINTS.get(kind)
        if hint is not None and hint.search(lower) is None:
            continue
        for m in pattern.finditer(u.lower):
            reading = _reading(kind, m)
            if reading is None:
                continue
            hour, minute, meridiem, twenty_four = reading
            clock = _resolve_clock(
                hour,
                minute,
                meridiem=meridiem,
                part=part_of_day,
                hours=hours,
                twenty_four=twenty_four,
            )
            if clock is not None:
                said_prep = m.groupdict().get("prep")
                prep = said_prep.split()[0] if said_prep else None
                mentions.append(Mention(m.start(), clock, prep))
                u.claim_match(m)
    if not mentions and part is not None:
        trailing = _TRAILING_HOUR.search(u.lower, 0, part.start)
        if trailing is not None:
            clock = _resolve_clock(
                parse_number(trailing["h"]), 0, meridiem=None, part=part_of_day, hours=hours
            )
            if clock is not None:
                mentions.append(Mention(trailing.start(), clock))
                u.claim_match(trailing)
    if not mentions:
        return TimeFinding()
    mentions.sort(key=lambda m: m.start)
    return _as_range(mentions, u.lower) or TimeFinding(start=_value(pick(mentions, u.lower)))


def _value(mention: Mention[Clock] | None) -> Clock | None:
    return mention.value if mention else None


def _as_range(mentions: list[Mention[Clock]], lower: str) -> TimeFinding | None:
    """A range ("from 2pm to 3pm") is a start and a length, unless 2pm is being changed."""
    if len(mentions) != 2 or CHANGE_VERB.search(lower):
        return None
    first, second = mentions
    if first.prep not in ("from", "between") or second.prep not in ("to", "until", "till", None):
        return None
    if not isinstance(first.value, str) or not isinstance(second.value, str):
        return TimeFinding(start=first.value)
    start, end = (int(v[:2]) * 60 + int(v[3:]) for v in (first.value, second.value))
    return TimeFinding(start=first.value, range_minutes=end - start if end > start else None)


def bare_time(residue: str, *, part: PartOfDay | None, hours: BusinessHours) -> Clock | None:
    """A lone clock time ("3", "3 30", "15") read as such because a time was asked for."""
    if len(residue) == 4 and residue.isdecimal():  # "1530"
        hour, minute = int(residue[:2]), int(residue[2:])
        if minute > 59:
            return None
        return _resolve_clock(hour, minute, meridiem=None, part=part, hours=hours, twenty_four=True)
    m = _BARE_TIME.fullmatch(residue)
    if m is None:
        return None
    minute_text = m["m"] or m["mw"]
    return _resolve_clock(
        parse_number(m["h"]),
        parse_number(minute_text) if minute_text else 0,
        meridiem=None,
        part=part,
        hours=hours,
    )
