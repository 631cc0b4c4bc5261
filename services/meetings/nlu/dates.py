"""Dates in the user's words, resolved against the local `today`.

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
  fall on that date: it picks between the readings of "6/4", and a contradiction gives no date.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta

from .mentions import Mention, pick
from .text import CLAIMED, NUMBER, ORDINAL, Utterance, parse_number, parse_ordinal, words

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


def _resolve_date(today: date, month: int, day: int, year: str | None) -> date | None:
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
            reading = _resolve_date(today, month, day, m["y"])
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
    glue = _WEEKDAY_GLUE.match(lower, end)  # matches everywhere, if only the empty string
    return glue.end() if glue else end


def extract_date(u: Utterance, today: date, *, day_first: bool = False) -> DateFinding:
    """The day the text names, resolved against the local `today` (see module rules)."""
    # value: (date or None when the words contradict each other, weekday, other reading)
    mentions: list[Mention[tuple[date | None, int | None, date | None]]] = []
    weekday_ends: dict[int, int] = {}  # start -> end of each weekday mention

    def found(
        match: re.Match[str],
        value: date | None = None,
        weekday: int | None = None,
        alternative: date | None = None,
    ) -> None:
        mentions.append(Mention(match.start(), (value, weekday, alternative)))
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
        found(m, _resolve_date(today, int(m["m"]), int(m["d"]), m["y"]))
    composites = (_WEEKDAY_DAY_MONTH, _WEEKDAY_MONTH_DAY) if weekday_said else ()
    for pattern in composites:
        for m in pattern.finditer(u.lower):
            day = _resolve_date(today, _month_number(m), _day_number(m), m["y"])
            agreeing = _agreeing(m["wd"], [day])
            found(m, agreeing[0] if agreeing else None)
    for m in _WEEKDAY_ORDINAL.finditer(u.lower) if weekday_said else ():
        agreeing = _agreeing(m["wd"], [_next_day_of_month(today, _day_number(m))])
        found(m, agreeing[0] if agreeing else None)
    for m in _WEEKDAY_NUMERIC.finditer(u.lower) if weekday_said and "/" in lower else ():
        agreeing = _agreeing(m["wd"], list(_numeric_dates(m, today, day_first)))
        found(m, agreeing[0] if agreeing else None, None,
              agreeing[1] if len(agreeing) > 1 else None)
    for pattern in (_SLASH_DATE, _DOTTED_DATE):
        for m in pattern.finditer(u.lower):
            readings = _numeric_dates(m, today, day_first)
            found(m, readings[0] if readings else None, None,
                  readings[1] if len(readings) > 1 else None)
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        for m in pattern.finditer(u.lower):
            found(m, _resolve_date(today, _month_number(m), _day_number(m), m["y"]))
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
    chosen = pick([m for m in mentions if m.value[0] is not None], u.lower)
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
    u: Utterance, mentions: list[Mention[tuple[date | None, int | None, date | None]]]
) -> None:
    """Apply "a week from" / "two weeks on" to the date said right after it, in place."""
    by_start = {m.start: i for i, m in enumerate(mentions)}
    for m in _SHIFT.finditer(u.lower):
        i = by_start.get(m.end())
        if i is None:
            continue
        when = mentions[i].value[0]
        days = parse_number(m["n"] or "a") * _UNIT_DAYS[m["u"][0]]
        mentions[i] = Mention(
            m.start(), (when + timedelta(days=days) if when else None, None, None)
        )
        u.claim_match(m)


def bare_day_of_month(residue: str, today: date) -> date | None:
    """A lone number read as a day of the month ("12" when asked for a date)."""
    if residue.isdecimal() and 1 <= int(residue) <= 31:
        return _next_day_of_month(today, int(residue))
    return None
