"""Meeting lengths in the user's words ("an hour and a half", "45 mins", "1h30", "30-45 mins").

- "1h30" and "for 2h" are lengths; "14h30" never is (an "h" after 5 to 23 or after "at" is a
  clock time, read by `times`);
- a range of lengths ("30-45 mins", "an hour or two") is a choice, not a length;
- "in an hour" says when, not how long: it is claimed but gives no length.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from .mentions import DIGIT, Mention, pick
from .text import NUMBER, Utterance, parse_number

_MINUTE_UNIT = r"(?:minutes?|mins?|m)(?![a-z])"


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
    if joined and ("hour" in lower or "hr" in lower or DIGIT.search(lower)):
        for m in _DURATION_CHOICE.finditer(lower):
            choice = _duration_choice(m)
            if choice is not None:
                options = options or choice
                u.claim_match(m)
    mentions: list[Mention[int]] = []
    ends: dict[int, int] = {}
    for hint, pattern, minutes in _DURATIONS:
        if hint not in lower:
            continue
        for match in pattern.finditer(u.lower):
            if _is_clock(match, u.lower):
                continue
            # "in an hour" says when, not how long; it is claimed but not a length.
            if not _IN.search(u.lower, 0, match.start()):
                mentions.append(Mention(match.start(), minutes(match)))
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
    chosen = pick(mentions, u.lower)
    length = chosen.value if chosen and chosen.value > 0 else None
    return DurationFinding(length, () if length else options)
