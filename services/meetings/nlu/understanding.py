"""Meety's natural-language understanding: one utterance in, an intent and slot values out.

`understand()` is a pure function (no I/O, no clock: `now` is passed in). It plays the part
Amazon Lex V2 plays in the original bot: intent recognition (greeting, schedule_meeting, cancel,
fallback) and slot resolution in the spirit of the built-in slot types AMAZON.FirstName,
AMAZON.Date, AMAZON.Time, AMAZON.Duration, AMAZON.EmailAddress and AMAZON.Confirmation.

Reading order matters and is fixed: greeting words, e-mail, duration, part of day, date, time,
name, then the yes/no answer and the intent; each step claims the words it used (see `text`).

Decisions worth knowing:
- `slots` holds only what the text said; context-dependent hints live in the other fields.
- A yes/no answer fills `confirmation` only when the text carries no other value and it either
  is the whole answer ("yes please") or a confirmation is expected. "No, Thursday" is therefore
  a *correction* (date + `correction=True`), never a denial.
- With `expecting` set, a bare answer is read as that slot: "Ana Lima" -> full_name, "3" -> time,
  "45" -> duration_minutes, "12" -> the next 12th.
- "5/3" is month-first (May 3) unless `day_first=True`; an impossible reading ("25/3") falls back
  to the other convention. When both readings exist, the other one is `date_alternative`, so
  the dialog can ask instead of trusting the convention.
- A range of lengths ("30-45 mins", "an hour or two") fills no `duration_minutes`; the choices
  are `duration_options`. A time range ("2-3:30pm") fills `time` and `duration_minutes`.
- Shorthand and typos ("tmrw", "nxt", "mtg", "pls") are spelled out, and obfuscated e-mail
  symbols ("(at)", "[dot]") restored, before anything is read (`text.normalise`).
- E-mail addresses come out in lower case.
"""

import re
from datetime import date, datetime, time
from typing import Literal, NamedTuple, get_args
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from .dates import bare_day_of_month, extract_date
from .durations import extract_duration
from .emails import extract_email
from .names import bare_name, extract_name
from .parts_of_day import PartOfDay, extract_part_of_day
from .text import NUMBER, Utterance, parse_number, words
from .times import BusinessHours, bare_time, extract_time

Intent = Literal["greeting", "schedule_meeting", "cancel", "fallback"]
SlotName = Literal["full_name", "date", "time", "duration_minutes", "email", "confirmation"]
SLOT_NAMES: tuple[SlotName, ...] = get_args(SlotName)
DEFAULT_BUSINESS_HOURS: BusinessHours = (time(9, 0), time(18, 0))


class Slots(TypedDict, total=False):
    """Slot values said in one utterance; a key is present only when the text filled it."""

    full_name: str
    date: str  # YYYY-MM-DD
    time: str | list[str]  # HH:MM, or the candidates when am/pm cannot be told
    duration_minutes: int
    email: str
    confirmation: bool


class Understanding(BaseModel):
    """What one utterance means: an intent (None when it only fills slots) and slot values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intent: Intent | None = None
    slots: Slots = Field(default_factory=lambda: Slots())
    week_of: date | None = Field(
        default=None, description="Monday of a week named without its day ('next week')."
    )
    weekday: int | None = Field(
        default=None,
        ge=0,
        le=6,
        description="0=Monday; set when the date came from a bare weekday name, so a dialog "
        "that asked 'which day next week?' can place it in that week.",
    )
    vague_time: PartOfDay | None = Field(
        default=None, description="A part of day said without a clock time ('in the morning')."
    )
    meridiem: Literal["am", "pm"] | None = Field(
        default=None, description="A bare 'AM'/'PM' answer, for a '3 AM or 3 PM?' question."
    )
    correction: bool = Field(
        default=False, description="The text changes a value ('actually', 'no, Thursday')."
    )
    date_alternative: date | None = Field(
        default=None,
        description="The other reading of an ambiguous numeric date ('5/3': the `date` slot "
        "holds the configured order's reading), so the dialog can ask which one was meant.",
    )
    duration_options: tuple[int, ...] = Field(
        default=(),
        description="Lengths in minutes to choose from when a range was said ('30-45 mins', "
        "'an hour or two'); `duration_minutes` is then left empty.",
    )

    @property
    def has_values(self) -> bool:
        """Whether the text gives something to schedule with (a yes/no alone does not count)."""
        said = any(name != "confirmation" for name in self.slots)
        vague = self.week_of is not None or self.vague_time is not None
        return said or vague or bool(self.duration_options)


# --- yes / no, intents -------------------------------------------------------------------------

_LEADING_FILLERS = frozenset(words("oh um uh er erm hmm ah well so"))
_COURTESY = frozenset(
    words("please thanks thank you very much it that then so meety sir great that's perfect")
)
_YES_PHRASES = (
    "yes", "yeah", "yea", "yep", "yup", "ya", "yah", "y", "sure", "ok", "okay", "k", "alright",
    "all right", "confirm", "confirmed", "please do", "do it", "go ahead", "go for it", "book it",
    "that's right", "that is right", "that's correct", "that's fine", "that's perfect",
    "that's great", "that works", "works for me", "correct", "right", "absolutely", "of course",
    "definitely", "certainly", "perfect", "great", "sounds good", "sounds great", "affirmative",
)  # fmt: skip
_NO_PHRASES = (
    "no", "nope", "nah", "nay", "n", "negative", "not really", "not now", "no thanks",
    "no thank you", "don't", "do not", "please don't", "i don't", "i do not", "i don't think so",
    "wrong", "incorrect", "that's wrong",
)  # fmt: skip


def _phrases(phrases: tuple[str, ...]) -> re.Pattern[str]:
    longest_first = sorted(phrases, key=len, reverse=True)
    return re.compile("(?:" + "|".join(map(re.escape, longest_first)) + ")(?= |$)")


_YES, _NO = _phrases(_YES_PHRASES), _phrases(_NO_PHRASES)
# Words that may follow a yes / a no without changing it: "yes please do", "no no, don't".
_YES_WORDS = frozenset(" ".join(_YES_PHRASES).split())
_NO_WORDS = frozenset(" ".join(_NO_PHRASES).split())
_CORRECTION = re.compile(
    r"^\W*(?:no|nope|nah|not)\b|\b(?:actually|change|changed|make\s+it|instead|rather"
    r"|move\s+it|switch|i\s+meant|i\s+mean|correction|update|wait|oops)\b"
)
_GREETING_OPENER = re.compile(
    r"^\W*(?:hi|hello|hey|hiya|heya|howdy|hallo|hola|greetings|yo"
    r"|good\s+(?:morning|afternoon|evening|day))\b(?:\s+there\b)?"
)
_GREETING_ANYWHERE = re.compile(r"\b(?:meety|help|what\s+can\s+you\s+do|who\s+are\s+you)\b")
_CANCEL = re.compile(
    r"\b(?:never\s*mind|nvm|stop|cancel|forget\s+(?:about\s+)?(?:it|that)|quit|exit|abort"
    r"|i\s+changed\s+my\s+mind)\b"
)
_SCHEDULE = re.compile(
    r"\b(?:meet|meeting|meetings|appointment|appointments|appt|call|sync|catch[\s-]?up|chat"
    r"|session|get[\s-]together|one[\s-]on[\s-]one|1[\s-]on[\s-]1|1:1|book|booking|schedule"
    r"|reschedule|set\s+up|setup|arrange|organi[sz]e|reserve|slot|available|availability|free"
    r"|time\s+with\s+you|fit\s+me\s+in)\b"
)
_FILLERS = frozenset(
    words(
        """
        please pls ok okay um uh er erm hmm so well let's lets say make it maybe about around
        the thanks thank you just then how what like i think guess would prefer is sure yes yeah
        """
    )
)
_BARE_NUMBER = re.compile(NUMBER)
_BARE_MERIDIEM = re.compile(r"(?:in )?(?P<mer>[ap]) ?m(?: one)?")
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def _claim_greeting(u: Utterance) -> bool:
    greeted = False
    for pattern in (_GREETING_OPENER, _GREETING_ANYWHERE):
        for m in pattern.finditer(u.lower):
            u.claim_match(m)
            greeted = True
    return greeted


class _Answer(NamedTuple):
    yes: bool
    alone: bool  # nothing but the answer and courtesy: "yes please", as opposed to "no, Thursday"


def _yes_no(words: list[str]) -> _Answer | None:
    """The yes or no the text starts with, if any."""
    while words and words[0] in _LEADING_FILLERS:
        words = words[1:]
    said = " ".join(words)
    for pattern, yes, vocabulary in ((_YES, True, _YES_WORDS), (_NO, False, _NO_WORDS)):
        m = pattern.match(said)
        if m is not None:
            rest = said[m.end() :].split()
            return _Answer(yes, all(word in _COURTESY or word in vocabulary for word in rest))
    return None


def _intent(u: Utterance, *, greeted: bool, answered: bool) -> Intent | None:
    if not answered and _SCHEDULE.search(u.lower):
        return "schedule_meeting"
    return "greeting" if greeted else None


# --- the whole utterance -----------------------------------------------------------------------


def understand(
    text: str,
    *,
    now: datetime,
    timezone: str,
    expecting: SlotName | None = None,
    day_first: bool = False,
    business_hours: BusinessHours = DEFAULT_BUSINESS_HOURS,
) -> Understanding:
    """Read one utterance; relative dates resolve against `now` in the IANA `timezone`.

    `expecting` is the slot the dialog just asked for; it lets a bare answer fill it.
    `day_first` reads "5/3" as 5 March instead of May 3. `business_hours` decides am/pm for
    "at 3": the one reading that starts inside them wins, otherwise both are returned.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(ZoneInfo(timezone)).date()
    u = Utterance(text)
    greeted = _claim_greeting(u)
    email = extract_email(u)
    length = extract_duration(u)
    duration = length.minutes
    part = extract_part_of_day(u)
    day = extract_date(u, today, day_first=day_first)
    clock = extract_time(u, part=part, hours=business_hours)
    name = extract_name(u, expecting_name=expecting == "full_name")

    when, start = day.when, clock.start
    if clock.range_minutes and duration is None:
        duration = clock.range_minutes
    # What nobody claimed, minus filler words: a bare answer to the question the dialog asked.
    residue_words = [w for w in _WORD.findall(u.text) if w.lower() not in _FILLERS]
    residue = " ".join(residue_words).lower()
    if expecting == "time" and start is None:
        start = bare_time(residue, part=part.part if part else None, hours=business_hours)
    elif expecting == "duration_minutes" and duration is None and _BARE_NUMBER.fullmatch(residue):
        duration = parse_number(residue)
    elif expecting == "date" and when is None and day.week_of is None:
        when = bare_day_of_month(residue, today)
    elif expecting == "full_name" and name is None:
        name = bare_name(residue_words)
    if when is None and part is not None and part.means_today:
        when = today

    slots = Slots()
    if name:
        slots["full_name"] = name
    if when:
        slots["date"] = when.isoformat()
    if start:
        slots["time"] = start
    if duration:
        slots["duration_minutes"] = duration
    if email:
        slots["email"] = email
    vague_time = part.part if part and start is None else None
    week_of = day.week_of if when is None else None
    meridiem_match = _BARE_MERIDIEM.fullmatch(residue) if start is None else None
    meridiem: Literal["am", "pm"] | None = None
    if meridiem_match is not None:
        meridiem = "am" if meridiem_match["mer"] == "a" else "pm"
    options = length.options if duration is None else ()
    has_values = bool(slots) or week_of is not None or vague_time is not None or bool(options)

    cancelled = bool(_CANCEL.search(u.lower))
    answer = _yes_no(u.unclaimed_words())
    if answer and not (cancelled or has_values) and (answer.alone or expecting == "confirmation"):
        slots["confirmation"] = answer.yes
    intent: Intent | None = (
        "cancel" if cancelled else _intent(u, greeted=greeted, answered="confirmation" in slots)
    )
    if intent is None and not (has_values or slots or meridiem):
        intent = "fallback"
    changes = (answer is not None and not answer.yes) or bool(_CORRECTION.search(u.lower))
    return Understanding(
        intent=intent,
        slots=slots,
        week_of=week_of,
        weekday=day.weekday if when == day.when else None,
        vague_time=vague_time,
        meridiem=meridiem,
        correction=has_values and changes,
        date_alternative=day.alternative if when == day.when else None,
        duration_options=options,
    )
