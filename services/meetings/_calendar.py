"""Durations, dates and times in the user's words, resolved against the local `today`.

Every extractor takes an `Utterance`, claims what it reads, and returns resolved values. They run
in a fixed order (durations, part of day, dates, times) so that "30 minutes" is never a time,
"5 March" is never a time and "at 3" is never a date.

Resolution rules (the ones Lex users expect, written down):
- a date without a year prefers the future: "March 5" after March 5 means next year's;
- a bare weekday ("Friday", "on Friday") is its next occurrence, today excluded;
- "this Friday" is the Friday of the current ISO week, or the coming one once that has passed;
- "next Friday" / "Friday next week" is the Friday of the following ISO week;
- "the 12th" is the next 12th, today included, skipping months that lack the day (a 31st);
- "a week from Friday" / "two weeks on Monday" / "Tuesday week" shift the date they name;
  "in a fortnight" is 14 days ahead;
- "the first/second/.../last Monday of April" is in the coming April (next year's once past);
  "of next month" / "of the month" count from the current month;
- "end of (next) week" is that week's Friday, "start/beginning of (next) week" its Monday;
- a weekday said with a day of the month ("Monday the 16th", "Thu 19 March", "Mon 6/4") must
  fall on that date: it picks between the readings of "6/4", and a contradiction gives no date;
- a clock time without am/pm ("at 3", "3 o'clock", "half past two") is resolved by a part of day
  said alongside ("in the afternoon"), else by business hours: if exactly one of 03:00 and 15:00
  starts inside them it wins, otherwise both are returned as candidates;
- 24-hour forms ("14h30", "at 1400", "1400 hrs") are read as written; "14h30" is never a length,
  though "1h30" and "for 2h" are (an "h" after 5 to 23 or after "at" is a clock time);
- a range ("from 3 to 4pm", "2-3:30pm", "between 2 and 3") is a start and a length; the end's
  am/pm places the start, and a range of lengths ("30-45 mins") is a choice, not a length.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Generic, Literal, TypeVar

from ._text import (
    CLAIMED,
    NUMBER,
    NUMBER_IN_WORDS,
    ORDINAL,
    Utterance,
    parse_number,
    parse_ordinal,
    words,
)

BusinessHours = tuple[time, time]
PartOfDay = Literal["morning", "afternoon", "evening", "night"]
Clock = str | list[str]

_MONTHS = {
    name: n for n, name in enumerate(words("jan feb mar apr may jun jul aug sep oct nov dec"), 1)
}
_MONTH = (
    r"(?P<mon>january|february|march|april|may|june|july|august|september|october|november"
    r"|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
)
_WEEKDAY_NAMES = ["monday mon", "tuesday tues tue", "wednesday wed", "thursday thurs thur thu",
                  "friday fri", "saturday sat", "sunday sun"]  # fmt: skip
_WEEKDAYS = {name: day for day, names in enumerate(_WEEKDAY_NAMES) for name in names.split()}
# Ordinary words (and names) too: read as weekdays only with "on"/"next"/"this" or on their own.
_WORDLIKE_WEEKDAYS = frozenset({"wed", "sat", "sun"})
_WEEKDAY = "(?P<wd>" + "|".join(sorted(_WEEKDAYS, key=len, reverse=True)) + r")\b\.?"
_DAY_OF_MONTH = rf"(?:(?P<d>\d{{1,2}})(?:st|nd|rd|th)?|(?P<dw>{ORDINAL}))"
_YEAR = r"(?:,?\s+(?P<y>\d{4}))?"
_NOT_A_CLOCK = r"(?!\s*(?:[:.]\d|[ap]\.?\s?m(?![a-z])|o'?\s?clock))"
_MERIDIEM = r"(?P<mer>[ap])\.?\s?m(?![a-z])\.?"
_MINUTE_UNIT = r"(?:minutes?|mins?|m)(?![a-z])"
_CHANGE_VERB = re.compile(r"\b(?:change|changed|move|moved|switch|push|reschedule|update)\b")
_NEGATED = re.compile(r"\b(?:not|instead\s+of|rather\s+than)\s+$")
_FROM = re.compile(r"\bfrom\s+$")
_DIGIT = re.compile(r"\d")


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Mention(Generic[T]):
    start: int
    value: T
    prep: str | None = None


def _pick(mentions: list[_Mention[T]], lower: str) -> _Mention[T] | None:
    """The mention the user means: not negated ("not Monday"), not the old value of a change."""
    kept = [m for m in mentions if not _NEGATED.search(lower, 0, m.start)]
    if len(kept) > 1 and _CHANGE_VERB.search(lower):
        kept = [m for m in kept if m.prep != "from" and not _FROM.search(lower, 0, m.start)]
    return kept[0] if kept else None


# --- durations ---------------------------------------------------------------------------------

_FRACTION_OF_HOUR = {"half": 30, "quarter": 15, "three quarters": 45}
_FRACTION = r"(?P<frac>a\s+half|a\s+quarter|three[\s-]quarters)"
_HOURS = r"(?P<unit>hours?|hrs?|h)(?![a-z])"


def _fraction(m: re.Match[str]) -> int:
    return _FRACTION_OF_HOUR[" ".join(m["frac"].replace("-", " ").split()[-2:]).removeprefix("a ")]


def _hours_and(m: re.Match[str]) -> int:
    minutes = m["m"] or m["m2"] or m["m3"] or "0"
    extra = _fraction(m) if m["frac"] else parse_number(minutes)
    return parse_number(m["h"]) * 60 + extra


# (a substring the text must contain for the pattern to match at all, pattern, minutes)
_DURATIONS: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], int]]] = [
    (  # "1 1/2 hours", "1 and 1/2 hours", "3/4 of an hour"
        "/",
        re.compile(
            r"(?<![\w./])(?:(?P<w>\d)\s+(?:and\s+)?)?(?P<n>[1-3])/(?P<d>[234])"
            rf"\s*(?:of\s+)?(?:an?\s+)?{_HOURS}"
        ),
        lambda m: int(m["w"] or 0) * 60 + 60 * int(m["n"]) // int(m["d"]),
    ),
    (
        "h",
        re.compile(rf"(?<![\w.,])(?P<h>\d*[.,]\d+)\s*{_HOURS}"),
        lambda m: round(float(m["h"].replace(",", ".")) * 60),
    ),
    (  # "two and a half hours", "one and a quarter hours"
        " and ",
        re.compile(rf"\b(?P<h>{NUMBER}|an?)\s+and\s+{_FRACTION}\s+{_HOURS}"),
        lambda m: parse_number(m["h"]) * 60 + _fraction(m),
    ),
    ("half", re.compile(r"\b(?:a\s+)?half[\s-]+(?:an?\s+)?(?:hour|hr)(?![a-z])"), lambda m: 30),
    (
        "quarter",
        re.compile(
            r"\b(?:(?P<three>three|3)[\s-]+quarters?|(?:a\s+)?quarter)(?:\s+of)?[\s-]+"
            r"(?:an?\s+)?(?:hour|hr)(?![a-z])"
        ),
        lambda m: 45 if m["three"] else 15,
    ),
    (
        "h",
        re.compile(
            rf"\b(?P<h>{NUMBER}|an?)[\s-]*{_HOURS}(?:-long)?"
            rf"(?:\s*(?:and\s+)?(?:{_FRACTION}|(?P<m>{NUMBER})[\s-]*{_MINUTE_UNIT})"
            r"|(?<=h)(?P<m2>\d{1,2})(?![\d:])"
            r"|\s+(?P<m3>15|30|45)(?![\d:./]|\s*(?:[ap]\.?m\b|st\b|nd\b|rd\b|th\b|of\b"
            r"|o'?clock|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?"
        ),
        _hours_and,
    ),
    (  # "hour and a half" without "an"
        "hour and",
        re.compile(rf"(?<![\w|])hour\s+and\s+{_FRACTION}(?![a-z])"),
        lambda m: 60 + _fraction(m),
    ),
    (
        "m",
        re.compile(rf"(?<![\w.,:])(?P<m>{NUMBER})[\s-]*{_MINUTE_UNIT}"),
        lambda m: parse_number(m["m"]),
    ),
]
_UNIT_MINUTES = {"h": 60, "m": 1}
# A choice of lengths: "30-45 mins", "1 or 2 hours", "between 1 and 2 hours", "an hour or two".
_DURATION_CHOICE = re.compile(
    rf"(?:\bbetween\s+)?(?<![\w.,:/])(?P<a>{NUMBER}|an?|one)(?:\s*(?P<au>hours?|hrs?|h)\b)?"
    rf"\s*(?:-|to|or|and)\s*(?P<b>{NUMBER})\s*(?P<u>hours?|hrs?|h|minutes?|mins?|m)(?![a-z])"
    r"|\b(?P<one>an?|one)\s+(?P<u2>hour|hr)\s+or\s+(?P<two>two|2)\b"
)
_CLOCK_PREP = re.compile(r"\b(?:at|from|around|about|by|until|till|to|between)\s+$")
_FOR = re.compile(r"\bfor\s+$")


@dataclass(frozen=True, slots=True)
class DurationFinding:
    """A meeting length, or the lengths to choose from when a range was given."""

    minutes: int | None = None
    options: tuple[int, ...] = ()


def _duration_choice(m: re.Match[str]) -> tuple[int, ...] | None:
    if m["one"]:
        return 60, 120
    a, b = parse_number(m["a"]), parse_number(m["b"])
    unit = _UNIT_MINUTES[m["u"][0]]
    if m["au"] and m["au"][0] != m["u"][0]:
        return None
    if not 0 < a < b:
        return None
    return a * unit, b * unit


def _is_clock(m: re.Match[str], lower: str) -> bool:
    """Whether an "hours" match is a time: "14h30", "at 9h", "1400 hrs" (not "for 2h")."""
    if "m3" not in m.re.groupindex or _FOR.search(lower, 0, m.start()):
        return False
    h = m["h"]
    if m["unit"] == "h" and h.isdecimal():
        return 5 <= int(h) <= 23 or bool(_CLOCK_PREP.search(lower, 0, m.start()))
    return False


_IN = re.compile(r"\bin\s+$")
_OR = re.compile(r"\s*(?:or|-|to)\s*")


def extract_duration(u: Utterance) -> DurationFinding:
    """Minutes of a meeting length said in words or digits ("an hour and a half" -> 90)."""
    options: tuple[int, ...] = ()
    lower = u.lower
    joined = " or " in lower or "-" in lower or " to " in lower or " and " in lower
    if joined and ("hour" in lower or "hr" in lower or _DIGIT.search(lower)):
        for m in _DURATION_CHOICE.finditer(lower):
            choice = _duration_choice(m)
            if choice is not None:
                options = options or choice
                u.claim_match(m)
    mentions: list[_Mention[int]] = []
    ends: dict[int, int] = {}
    for hint, pattern, minutes in _DURATIONS:
        if hint not in lower:
            continue
        for match in pattern.finditer(u.lower):
            if _is_clock(match, u.lower):
                continue
            # "in an hour" says when, not how long; it is claimed but not a length.
            if not _IN.search(u.lower, 0, match.start()):
                mentions.append(_Mention(match.start(), minutes(match)))
                ends[match.start()] = match.end()
            u.claim_match(match)
    mentions.sort(key=lambda m: m.start)
    for first, second in zip(mentions, mentions[1:], strict=False):
        # "half an hour or an hour": two lengths to choose from.
        gap = _OR.fullmatch(u.lower, ends[first.start], second.start)
        if gap is not None and first.value != second.value:
            options = options or tuple(sorted((first.value, second.value)))
            mentions = [m for m in mentions if m not in (first, second)]
            break
    chosen = _pick(mentions, u.lower)
    minutes = chosen.value if chosen and chosen.value > 0 else None
    return DurationFinding(minutes, () if minutes else options)


# --- part of day -------------------------------------------------------------------------------

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


# --- dates -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DateFinding:
    """What the text says about the day: a date, and/or a week still missing its day."""

    when: date | None = None
    weekday: int | None = None  # set when the date came from an unqualified weekday name
    week_of: date | None = None  # Monday of "next week" / "this week" said without a day
    alternative: date | None = None  # the other reading of an ambiguous "5/3"


def _future(today: date, month: int, day: int) -> date | None:
    """The first `month`/`day` on or after today (Feb 29 waits for a leap year)."""
    for year in range(today.year, today.year + 9):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _calendar_date(today: date, month: int, day: int, year: str | None) -> date | None:
    if year is None:
        return _future(today, month, day)
    full_year = int(year) + (2000 if len(year) == 2 else 0)
    try:
        return date(full_year, month, day)
    except ValueError:
        return None


def _day_number(m: re.Match[str]) -> int:
    return int(m["d"]) if m["d"] else parse_ordinal(m["dw"])


def _month_number(m: re.Match[str]) -> int:
    return _MONTHS[m["mon"][:3]]


def _next_day_of_month(today: date, day: int) -> date | None:
    year, month = today.year, today.month
    for _ in range(13):
        try:
            candidate = date(year, month, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _monday(today: date) -> date:
    return today - timedelta(days=today.weekday())


def _weekday_date(today: date, weekday: int, qualifier: str | None, week: str | None) -> date:
    if "next" in (qualifier, week):
        return _monday(today) + timedelta(days=7 + weekday)
    if "this" in (qualifier, week):
        this_week = _monday(today) + timedelta(days=weekday)
        return this_week if this_week >= today else this_week + timedelta(days=7)
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


_RELATIVE_DAYS = [
    (re.compile(r"\b(?:the\s+)?day\s+after\s+(?:tomorrow|tmrw)\b"), 2),
    (re.compile(r"\b(?:tomorrow|tomorow|tommorow|tommorrow|tomorrrow|tmrw|tmr|tmrow)\b"), 1),
    (re.compile(r"\btoday\b"), 0),
]
_ISO_DATE = re.compile(r"\b(?P<y>\d{4})([-/.])(?P<m>\d{1,2})\2(?P<d>\d{1,2})\b")
_SLASH_DATE = re.compile(
    r"(?<![\w/.-])(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?(?![\w/])"
)
_DOTTED_DATE = re.compile(
    r"(?<![\w/.-])(?P<a>\d{1,2})\.(?P<b>\d{1,2})\.(?P<y>\d{4}|\d{2})(?!\w|\.\d)"
)
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+(?:the\s+)?{_DAY_OF_MONTH}\b{_NOT_A_CLOCK}{_YEAR}(?![\d:])")
# "at 3 May..." is a time; "3 may work" is a verb.
_DAY_MONTH = re.compile(
    rf"(?<!at\s)\b(?:the\s+)?{_DAY_OF_MONTH}\s+(?:of\s+)?{_MONTH}(?![a-z])"
    r"(?!(?<=may)\s+(?:be|work|suit|fit|not|also|still|do|help)\b)"
    rf"{_YEAR}"
)
_IN_DAYS = re.compile(
    rf"\b(?:in\s+(?P<n>{NUMBER}|an?)\s+(?P<u>days?|weeks?|fortnights?)(?!\s+or\b)(?:'s?\s+time\b)?"
    rf"|(?P<n2>{NUMBER}|an?)\s+(?P<u2>days?|weeks?|fortnights?)\s+from\s+(?:now|today))\b"
)
_UNIT_DAYS = {"d": 1, "w": 7, "f": 14}
# "a week from Friday", "two weeks from tomorrow", "a week on Monday", "a fortnight today":
# a shift of the date said right after it.
_SHIFT = re.compile(
    rf"\b(?:(?P<n>{NUMBER}|an?)\s+)?(?P<u>days?|weeks?|fortnights?)\s+"
    rf"(?:(?:from|after)\s+|(?=on\s|{re.escape(CLAIMED)}))"
)
_ANY_WEEKDAY = re.compile(r"\b(?:mon|tue|wed|thu|fri|sat|sun)")
_NTH = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4,
        "4th": 4, "fifth": 5, "5th": 5, "last": -1}  # fmt: skip
_NTH_WEEKDAY = re.compile(
    r"\b(?:the\s+)?(?P<nth>first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last)\s+"
    rf"{_WEEKDAY}\s+(?:of|in)\s+(?:{_MONTH}(?![a-z])|(?P<rel>next|this|the)\s+month\b)"
)
_WEEK_EDGE = re.compile(
    r"\b(?:(?:by|at)\s+)?(?:the\s+)?(?P<edge>end|start|beginning)\s+of\s+(?:the\s+|this\s+)?"
    r"(?P<next>next\s+)?week\b"
)
# A weekday with the day of the month: the two must agree ("Monday the 16th", "Thu 19 March").
_WEEKDAY_DAY_MONTH = re.compile(
    rf"\b{_WEEKDAY},?\s+(?:the\s+)?{_DAY_OF_MONTH}\s+(?:of\s+)?{_MONTH}(?![a-z]){_YEAR}"
)
_WEEKDAY_MONTH_DAY = re.compile(
    rf"\b{_WEEKDAY},?\s+{_MONTH}\s+(?:the\s+)?{_DAY_OF_MONTH}\b{_NOT_A_CLOCK}{_YEAR}(?![\d:])"
)
_WEEKDAY_ORDINAL = re.compile(
    rf"\b{_WEEKDAY},?\s+(?:(?:the\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)|the\s+(?P<dw>{ORDINAL}))\b"
)
_WEEKDAY_NUMERIC = re.compile(
    rf"\b{_WEEKDAY},?\s+(?P<a>\d{{1,2}})/(?P<b>\d{{1,2}})(?:/(?P<y>\d{{4}}|\d{{2}}))?(?![\w/])"
)
_WEEKDAY_DATE = re.compile(
    rf"\b(?:on\s+)?(?:(?P<q>next|this\s+coming|this|coming)\s+)?{_WEEKDAY}"
    r"(?:\s+(?:of\s+)?(?P<w>next|this)\s+week\b|(?P<wk>\s+week)(?![\w']))?"
)
_WEEK_THEN_WEEKDAY = re.compile(rf"\b(?P<w>next|this)\s+week(?:'s)?,?\s+(?:on\s+)?{_WEEKDAY}")
_ORDINAL_DAY = re.compile(
    rf"\b(?:on\s+)?(?:the\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)\b"
    rf"|\b(?:on\s+)?the\s+(?P<dw>{ORDINAL})\b(?!\s+(?:one|time|option|slot|choice))"
)
_WEEKDAY_GLUE = re.compile(r"[\s,]*")
_WEEK_ONLY = re.compile(
    r"\b(?:(?:some\s*time|later|early|sometime)\s+)?(?:the\s+)?(?:(?P<w>next|this|coming)\s+week"
    r"|week\s+after\s+(?P<after>next))\b"
)


def _numeric_dates(m: re.Match[str], today: date, day_first: bool) -> list[date]:
    """The readings of "5/3": the configured order's first, then the other one if possible."""
    a, b = int(m["a"]), int(m["b"])
    orders = [(b, a), (a, b)] if day_first else [(a, b), (b, a)]
    readings = []
    for month, day in orders:
        if month <= 12:
            reading = _calendar_date(today, month, day, m["y"])
            if reading is not None and reading not in readings:
                readings.append(reading)
    return readings


def _nth_weekday(m: re.Match[str], today: date) -> date | None:
    """ "the first Monday of April", "the last Friday of next month"."""
    weekday, nth = _WEEKDAYS[m["wd"]], _NTH[m["nth"]]
    if m["mon"]:
        month, year = _month_number(m), today.year
    else:
        month, year = today.month, today.year
        if m["rel"] == "next":
            month, year = (1, year + 1) if month == 12 else (month + 1, year)
    for _ in range(2):
        first = date(year, month, 1)
        if nth > 0:
            day = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
        else:
            following = date(year + month // 12, month % 12 + 1, 1)
            day = following - timedelta(days=(following.weekday() - weekday) % 7 or 7)
        if day.month != month:
            return None  # no fifth Monday that month
        if day >= today or not m["mon"]:
            return day if day >= today else None
        year += 1  # "the first Monday of March" once it has passed: next year's
    return None


def _week_edge(m: re.Match[str], today: date) -> date | None:
    """ "end of next week" is its Friday, "start of next week" its Monday (documented)."""
    monday = _monday(today) + timedelta(days=7 if m["next"] else 0)
    day = monday + timedelta(days=4 if m["edge"] == "end" else 0)
    return day if day >= today else None


def _agreeing(weekday: str, readings: list[date | None]) -> list[date]:
    """The readings that fall on the weekday said with them, in the order given."""
    wanted = _WEEKDAYS[weekday]
    return [d for d in readings if d is not None and d.weekday() == wanted]


def _glued_end(lower: str, end: int) -> int:
    """Where the next word starts after ``end``, past spaces and commas."""
    return end + len(_WEEKDAY_GLUE.match(lower, end).group())  # type: ignore[union-attr]


def extract_date(u: Utterance, today: date, *, day_first: bool = False) -> DateFinding:
    """The day the text names, resolved against the local `today` (see module rules)."""
    # value: (date or None when the words contradict each other, weekday, other reading)
    mentions: list[_Mention[tuple[date | None, int | None, date | None]]] = []
    weekday_ends: dict[int, int] = {}  # start -> end of each weekday mention

    def found(
        match: re.Match[str],
        value: date | None = None,
        weekday: int | None = None,
        alternative: date | None = None,
    ) -> None:
        mentions.append(_Mention(match.start(), (value, weekday, alternative)))
        u.claim_match(match)

    lower = u.lower
    weekday_said = _ANY_WEEKDAY.search(lower) is not None
    if weekday_said and ("of " in lower or "in " in lower):
        for m in _NTH_WEEKDAY.finditer(lower):
            found(m, _nth_weekday(m, today))
    if "week" in lower:
        for m in _WEEK_EDGE.finditer(lower):
            found(m, _week_edge(m, today))
    for m in _IN_DAYS.finditer(u.lower):
        count = parse_number(m["n"] or m["n2"])
        unit = m["u"] or m["u2"]
        found(m, today + timedelta(days=count * _UNIT_DAYS[unit[0]]))
    for pattern, days in _RELATIVE_DAYS:
        for m in pattern.finditer(u.lower):
            found(m, today + timedelta(days=days))
    for m in _ISO_DATE.finditer(u.lower):
        found(m, _calendar_date(today, int(m["m"]), int(m["d"]), m["y"]))
    composites = (_WEEKDAY_DAY_MONTH, _WEEKDAY_MONTH_DAY) if weekday_said else ()
    for pattern in composites:
        for m in pattern.finditer(u.lower):
            day = _calendar_date(today, _month_number(m), _day_number(m), m["y"])
            found(m, *_agreeing(m["wd"], [day])[:1])
    for m in _WEEKDAY_ORDINAL.finditer(u.lower) if weekday_said else ():
        found(m, *_agreeing(m["wd"], [_next_day_of_month(today, _day_number(m))])[:1])
    for m in _WEEKDAY_NUMERIC.finditer(u.lower) if weekday_said and "/" in lower else ():
        agreeing = _agreeing(m["wd"], list(_numeric_dates(m, today, day_first)))
        found(m, (agreeing or [None])[0], None, (agreeing[1:] or [None])[0])
    for pattern in (_SLASH_DATE, _DOTTED_DATE):
        for m in pattern.finditer(u.lower):
            readings = _numeric_dates(m, today, day_first)
            found(m, readings[0] if readings else None, None, (readings[1:] or [None])[0])
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        for m in pattern.finditer(u.lower):
            found(m, _calendar_date(today, _month_number(m), _day_number(m), m["y"]))
    for pattern in (_WEEK_THEN_WEEKDAY, _WEEKDAY_DATE):
        for m in pattern.finditer(u.lower):
            qualifier = m.groupdict().get("q")
            qualified = qualifier or m["w"] or m.group().startswith("on ")
            said_alone = m.group() == u.lower.strip(" .!?")
            if m["wd"] in _WORDLIKE_WEEKDAYS and not (qualified or said_alone):
                continue
            weekday = _WEEKDAYS[m["wd"]]
            if qualifier and "coming" in qualifier:
                qualifier = None
            bare = qualifier is None and m["w"] is None and not m.groupdict().get("wk")
            day = _weekday_date(today, weekday, qualifier, m["w"])
            if m.groupdict().get("wk"):
                day += timedelta(days=7)  # "Tuesday week": a week after Tuesday
            found(m, day, weekday if bare else None)
            weekday_ends[m.start()] = m.end()
    for m in _ORDINAL_DAY.finditer(u.lower):
        found(m, _next_day_of_month(today, _day_number(m)))

    if mentions and ("week" in u.lower or "fortnight" in u.lower or "day" in u.lower):
        _shift(u, mentions)
    mentions.sort(key=lambda m: m.start)
    # "Tuesday, January 12, 2027" (how the bot itself says dates): the weekday only names the
    # day of the calendar date right after it, so the calendar date is the mention.
    starts = {m.start for m in mentions}
    mentions = [
        m
        for m in mentions
        if m.start not in weekday_ends or _glued_end(u.lower, weekday_ends[m.start]) not in starts
    ]
    chosen = _pick([m for m in mentions if m.value[0] is not None], u.lower)
    if chosen is not None:
        return DateFinding(
            when=chosen.value[0], weekday=chosen.value[1], alternative=chosen.value[2]
        )
    week = _WEEK_ONLY.search(u.lower)
    if week is None:
        return DateFinding()
    u.claim_match(week)
    offset = 14 if week["after"] else 0 if week["w"] == "this" else 7
    return DateFinding(week_of=_monday(today) + timedelta(days=offset))


def _shift(
    u: Utterance, mentions: list[_Mention[tuple[date | None, int | None, date | None]]]
) -> None:
    """Apply "a week from" / "two weeks on" to the date said right after it, in place."""
    by_start = {m.start: i for i, m in enumerate(mentions)}
    for m in _SHIFT.finditer(u.lower):
        i = by_start.get(m.end())
        if i is None:
            continue
        when = mentions[i].value[0]
        days = parse_number(m["n"] or "a") * _UNIT_DAYS[m["u"][0]]
        mentions[i] = _Mention(
            m.start(), (when + timedelta(days=days) if when else None, None, None)
        )
        u.claim_match(m)


def bare_day_of_month(residue: str, today: date) -> date | None:
    """A lone number read as a day of the month ("12" when asked for a date)."""
    if residue.isdecimal() and 1 <= int(residue) <= 31:
        return _next_day_of_month(today, int(residue))
    return None


# --- times -------------------------------------------------------------------------------------

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
            if prep == "from" and _CHANGE_VERB.search(u.lower):
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
        _DIGIT.search(lower) or _HOUR_WORD_SAID.search(lower)
    ):
        said_range = _time_range(u, part=part_of_day, hours=hours)
        if said_range is not None:
            return said_range
    mentions: list[_Mention[Clock]] = []
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
                mentions.append(_Mention(m.start(), clock, prep))
                u.claim_match(m)
    if not mentions and part is not None:
        m = _TRAILING_HOUR.search(u.lower, 0, part.start)
        if m is not None:
            clock = _resolve_clock(
                parse_number(m["h"]), 0, meridiem=None, part=part_of_day, hours=hours
            )
            if clock is not None:
                mentions.append(_Mention(m.start(), clock))
                u.claim_match(m)
    if not mentions:
        return TimeFinding()
    mentions.sort(key=lambda m: m.start)
    return _as_range(mentions, u.lower) or TimeFinding(start=_value(_pick(mentions, u.lower)))


def _value(mention: _Mention[Clock] | None) -> Clock | None:
    return mention.value if mention else None


def _as_range(mentions: list[_Mention[Clock]], lower: str) -> TimeFinding | None:
    """A range ("from 2pm to 3pm") is a start and a length, unless 2pm is being changed."""
    if len(mentions) != 2 or _CHANGE_VERB.search(lower):
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
