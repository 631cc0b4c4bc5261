"""Meety's dialog engine: a pure state machine in the vocabulary of Amazon Lex V2.

One user turn is `step(session, understanding, ...) -> Turn`: the new `Session`, the bot's
messages, and a `MeetingDraft` once the user confirmed. Nothing here does I/O or reads a clock.

Clash checking stays pure by asking the caller for the approved meetings of one day:

    understanding = understand(text, now=now, timezone=tz, expecting=expecting(session),
                               business_hours=rules.business_hours)
    day = candidate_day(session, understanding, now=now, rules=rules)
    busy = await store.approved_intervals(day) if day else []      # the caller's I/O
    turn = step(session, understanding, now=now, timezone=tz, rules=rules, busy=busy)

Flow (Lex V2 terms): ElicitIntent until the user asks for a meeting (or simply gives a value);
then ElicitSlot in the order full_name, date, time, duration_minutes, email, except that a value
just rejected or needing a clarification ("3 AM or 3 PM?", "which day next week?", "4 PM is
free, shall I book that?", "Friday, March 6, 2026 or Wednesday, June 3, 2026?" for a numeric date
whose two readings are both bookable, "30 or 45 minutes?" for a range of lengths) is asked
about first; then ConfirmIntent with a summary. "Yes" ->
Fulfilled with a draft; "no" -> Denied: the bot asks what to change (ElicitIntent, slots kept)
and closes on a second "no". "Cancel" closes at any point. Every prompt is re-asked at most
`max_retries` times; an unusable answer and a rejected value both count. One more failure ends
the dialog as Failed with the fallback message. A corrected value overwrites the slot and
everything is validated again. A dialog in a final state (Fulfilled, Failed, Close) or idle
longer than `idle_timeout` starts afresh on the next turn.
"""

import datetime as dt
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .nlu import PartOfDay, SlotName, Understanding

MeetingSlot = Literal["full_name", "date", "time", "duration_minutes", "email"]
SLOT_ORDER: tuple[MeetingSlot, ...] = get_args(MeetingSlot)
Interval = tuple[time, time]

GREETING = "Hi! I'm Meety, your meeting assistant. How can I help you schedule a meeting today?"
FALLBACK = "Sorry, I did not get it. Could you try again?"
CONFIRM_QUESTION = "Do you want to proceed with the meeting?"
CANCELLED = "Okay, no meeting was booked. Come back anytime you want to schedule one."
DENIED = "Okay, I won't book it. What would you like to change? You can also say 'cancel'."
NOT_UNDERSTOOD = "Sorry, I did not get it."
PROMPTS: dict[MeetingSlot, str] = {
    "full_name": "What is your name?",
    "date": "What date would you like to meet?",
    "time": "What time would you like to meet?",
    "duration_minutes": "How long should the meeting be, in minutes? (30 or 60)",
    "email": "What is your email address?",
}


class DialogState(StrEnum):
    """Where the conversation is, in Lex V2's dialog-action and intent-state vocabulary."""

    ELICIT_INTENT = "ElicitIntent"
    ELICIT_SLOT = "ElicitSlot"
    CONFIRM_INTENT = "ConfirmIntent"
    FULFILLED = "Fulfilled"
    FAILED = "Failed"
    CLOSE = "Close"


FINAL_STATES = frozenset({DialogState.FULFILLED, DialogState.FAILED, DialogState.CLOSE})


class ConfirmationState(StrEnum):
    """The user's answer to the confirmation prompt, as Lex V2 names it."""

    NONE = "None"
    CONFIRMED = "Confirmed"
    DENIED = "Denied"


class SchedulingRules(BaseModel):
    """When meetings may take place, and how patient the bot is."""

    model_config = ConfigDict(frozen=True)

    opens: time = time(9, 0)
    closes: time = time(18, 0)
    workdays: frozenset[int] = frozenset(range(5))  # 0=Monday
    min_duration_minutes: int = 15
    max_duration_minutes: int = 240
    max_retries: int = 3
    # How far ahead a meeting may be booked; also keeps every date far from datetime's limits.
    horizon_days: int = Field(default=365, ge=1, le=3650)
    idle_timeout: timedelta = timedelta(seconds=300)  # the original bot's Lex setting

    @model_validator(mode="after")
    def _coherent(self) -> "SchedulingRules":
        if not self.opens < self.closes:
            raise ValueError("opens must be before closes")
        if not 0 < self.min_duration_minutes <= self.max_duration_minutes:
            raise ValueError("need 0 < min_duration_minutes <= max_duration_minutes")
        return self

    @property
    def business_hours(self) -> tuple[time, time]:
        """(opens, closes), the shape `understand(business_hours=...)` takes."""
        return self.opens, self.closes


DEFAULT_RULES = SchedulingRules()


class MeetingSlots(BaseModel):
    """The meeting request collected so far."""

    full_name: str | None = None
    date: dt.date | None = None
    time: dt.time | None = None
    duration_minutes: int | None = None
    email: str | None = None

    def missing(self) -> list[MeetingSlot]:
        """Unfilled slots, in the order the bot asks for them."""
        return [name for name in SLOT_ORDER if getattr(self, name) is None]


class Pending(BaseModel):
    """Questions the bot asked that a short answer ("yes", "PM", "Tuesday") resolves."""

    free_slot: time | None = None  # offered after a clash: "4 PM is free. Shall I book that?"
    taken_time: time | None = None  # the time that clashed, retried if the date/length changes
    time_candidates: list[time] = Field(default_factory=list)  # "3 AM or 3 PM?"
    week_of: date | None = None  # "next week" -> which day?
    part_of_day: PartOfDay | None = None  # "in the morning" -> what time exactly?
    date_candidates: list[date] = Field(default_factory=list)  # "5/3": 5 March or May 3?
    duration_candidates: list[int] = Field(default_factory=list)  # "30-45 mins": 30 or 45?


class Session(BaseModel):
    """The dialog state carried between turns (Lex V2's sessionState)."""

    intent: Literal["schedule_meeting"] | None = None
    state: DialogState = DialogState.ELICIT_INTENT
    slot_to_elicit: MeetingSlot | None = None
    slots: MeetingSlots = Field(default_factory=MeetingSlots)
    confirmation: ConfirmationState = ConfirmationState.NONE
    retries: dict[str, int] = Field(default_factory=dict)  # re-asks per prompt
    pending: Pending = Field(default_factory=Pending)
    updated_at: datetime | None = None


class MeetingDraft(BaseModel):
    """A confirmed meeting request, ready to be stored as pending approval."""

    attendee_name: str
    email: str
    date: date
    start_time: time
    end_time: time
    duration_minutes: int
    timezone: str
    starts_at: datetime
    ends_at: datetime


class Turn(BaseModel):
    """The outcome of one user turn."""

    session: Session
    messages: list[str]
    draft: MeetingDraft | None = None


def expecting(session: Session) -> SlotName | None:
    """The slot hint to pass to `understand()` for the user's next utterance."""
    if session.state == DialogState.CONFIRM_INTENT:
        return "confirmation"
    if session.state == DialogState.ELICIT_SLOT:
        return "confirmation" if session.pending.free_slot else session.slot_to_elicit
    return None


def candidate_day(
    session: Session,
    understanding: Understanding,
    *,
    now: datetime,
    rules: SchedulingRules = DEFAULT_RULES,
) -> date | None:
    """The day `step` will check for clashes, so the caller can fetch its approved meetings."""
    session = _current(session, now, rules)
    if "date" in understanding.slots:
        return _said_date(session.pending, understanding)
    return None if understanding.week_of else session.slots.date


def step(
    session: Session,
    understanding: Understanding,
    *,
    now: datetime,
    timezone: str,
    rules: SchedulingRules = DEFAULT_RULES,
    busy: Sequence[Interval] = (),
) -> Turn:
    """Advance the dialog by one user utterance.

    `busy` holds the (start, end) local times of approved meetings on
    `candidate_day(session, understanding, now=now)`.
    """
    return _Step(session, understanding, now, timezone, rules, busy).run()


# --- internals ---------------------------------------------------------------------------------


def _current(session: Session, now: datetime, rules: SchedulingRules) -> Session:
    idle = session.updated_at is not None and now - session.updated_at > rules.idle_timeout
    return Session() if session.state in FINAL_STATES or idle else session


def _said_date(pending: Pending, understanding: Understanding) -> date:
    if pending.week_of is not None and understanding.weekday is not None:
        return pending.week_of + timedelta(days=understanding.weekday)  # "next week" + "Tuesday"
    return date.fromisoformat(understanding.slots["date"])


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _at(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def _say_time(t: time) -> str:
    hour = t.hour % 12 or 12
    minutes = f":{t.minute:02d}" if t.minute else ""
    return f"{hour}{minutes} {'AM' if t.hour < 12 else 'PM'}"


def _say_date(d: date) -> str:
    return f"{d:%A}, {d:%B} {d.day}, {d.year}"


class _Step:
    """One turn being worked out; `run()` returns its `Turn`."""

    def __init__(
        self,
        session: Session,
        understanding: Understanding,
        now: datetime,
        timezone: str,
        rules: SchedulingRules,
        busy: Sequence[Interval],
    ) -> None:
        self.session = _current(session, now, rules).model_copy(deep=True)
        self.session.updated_at = now
        self.u = understanding
        self.local_now = now.astimezone(ZoneInfo(timezone))
        self.timezone = timezone
        self.rules = rules
        self.busy = busy
        self.messages: list[str] = []
        self.offered = False  # a clash was found this turn
        self.offer_declined = False

    # - flow -

    def run(self) -> Turn:
        s, u = self.session, self.u
        if u.intent == "cancel":
            return self._close(DialogState.CLOSE, CANCELLED)
        if s.intent is None:
            if not u.has_values and u.intent != "schedule_meeting":
                if u.intent == "greeting":
                    return self._reply(GREETING)
                return self._retry("intent", FALLBACK)
            s.intent = "schedule_meeting"
        if s.confirmation == ConfirmationState.DENIED and not u.has_values:
            if u.slots.get("confirmation") is False:
                return self._close(DialogState.CLOSE, CANCELLED)
            return self._retry("change", f"{NOT_UNDERSTOOD} What would you like to change?")
        if s.state == DialogState.CONFIRM_INTENT and not u.has_values:
            answer = u.slots.get("confirmation")
            if answer is True:
                return self._fulfil_if_valid()
            if answer is False:
                s.state, s.confirmation = DialogState.ELICIT_INTENT, ConfirmationState.DENIED
                return self._reply(DENIED)
            return self._retry("confirmation", f"{NOT_UNDERSTOOD} {CONFIRM_QUESTION}")
        s.confirmation = ConfirmationState.NONE
        progressed = self._absorb()
        return self._next(self._validate(), progressed=progressed)

    def _next(self, problems: dict[MeetingSlot, str], *, progressed: bool) -> Turn:
        s, pending = self.session, self.session.pending
        rejected = [slot for slot in SLOT_ORDER if slot in problems]
        for slot in rejected:
            s.retries[slot] = s.retries.get(slot, 0) + 1
            if s.retries[slot] > self.rules.max_retries:
                return self._close(DialogState.FAILED, FALLBACK)
        if rejected:
            self.messages.extend(problems[slot] for slot in rejected)
            return self._elicit(rejected[0])
        if not progressed and s.state == DialogState.ELICIT_SLOT and s.slot_to_elicit:
            prompt = self._prompt(s.slot_to_elicit)
            return self._retry(s.slot_to_elicit, f"{NOT_UNDERSTOOD} {prompt}")
        if self.offered or self.offer_declined or pending.time_candidates or pending.part_of_day:
            return self._elicit("time")
        if pending.week_of or pending.date_candidates:
            return self._elicit("date")
        if pending.duration_candidates:
            return self._elicit("duration_minutes")
        missing = s.slots.missing()
        if missing:
            return self._elicit(missing[0])
        return self._confirm()

    def _fulfil_if_valid(self) -> Turn:
        # Time has moved on and meetings may have been approved since the summary was shown.
        problems = self._validate()
        if problems or self.offered:
            return self._next(problems, progressed=True)
        s, slots = self.session, self.session.slots
        assert slots.full_name and slots.date and slots.time and slots.duration_minutes
        assert slots.email
        zone = ZoneInfo(self.timezone)
        starts_at = datetime.combine(slots.date, slots.time, zone)
        end_time = _at(_minutes(slots.time) + slots.duration_minutes)
        draft = MeetingDraft(
            attendee_name=slots.full_name,
            email=slots.email,
            date=slots.date,
            start_time=slots.time,
            end_time=end_time,
            duration_minutes=slots.duration_minutes,
            timezone=self.timezone,
            starts_at=starts_at,
            ends_at=datetime.combine(slots.date, end_time, zone),
        )
        s.confirmation = ConfirmationState.CONFIRMED
        return self._close(
            DialogState.FULFILLED,
            f"Thank you, {slots.full_name}! Your meeting request for {_say_date(slots.date)} at "
            f"{_say_time(slots.time)} has been sent and is waiting for approval.",
            draft=draft,
        )

    # - slot filling -

    def _absorb(self) -> bool:
        """Copy what the user said into the session; whether anything was usable."""
        s, u, pending = self.session.slots, self.u, self.session.pending
        said = u.slots
        changed = False
        if pending.free_slot is not None and "time" not in said and not u.vague_time:
            answer = said.get("confirmation")
            if answer is not None:
                s.time = pending.free_slot if answer else None
                pending.free_slot = pending.taken_time = None
                changed, self.offer_declined = True, not answer
        if "full_name" in said:
            s.full_name, changed = said["full_name"], True
        if "date" in said:
            day, other = _said_date(pending, u), u.date_alternative
            if other is not None and pending.week_of is None and self._bookable(day, other):
                # "6/3" with both readings bookable: ask rather than trust the configured order.
                s.date, pending.date_candidates = None, sorted((day, other))
            else:
                s.date, pending.date_candidates = day, []
            changed = True
            pending.week_of = None
            self._drop_offer()
        elif u.week_of:
            s.date, pending.week_of, changed = None, u.week_of, True
        changed = self._absorb_time() or changed
        if "duration_minutes" in said:
            s.duration_minutes, changed = said["duration_minutes"], True
            pending.duration_candidates = []
            self._drop_offer()
        elif u.duration_options:
            s.duration_minutes, changed = None, True
            pending.duration_candidates = list(u.duration_options)
        if "email" in said:
            s.email, changed = said["email"], True
        return changed

    def _absorb_time(self) -> bool:
        s, u, pending = self.session.slots, self.u, self.session.pending
        said = u.slots.get("time")
        if isinstance(said, str):
            s.time = time.fromisoformat(said)
        elif isinstance(said, list):
            candidates = [time.fromisoformat(t) for t in said]
            chosen = self._choose(candidates, pending.part_of_day)
            if chosen is None:
                is_new = candidates != pending.time_candidates
                s.time, pending.time_candidates = None, candidates
                pending.free_slot = pending.taken_time = None
                return is_new
            s.time = chosen
        elif pending.time_candidates and (u.meridiem or u.vague_time):
            s.time = self._choose(pending.time_candidates, u.vague_time, u.meridiem)
        elif u.vague_time:
            s.time, pending.part_of_day = None, u.vague_time
            pending.time_candidates = []
            pending.free_slot = pending.taken_time = None
            return True
        else:
            return False
        pending.time_candidates, pending.part_of_day = [], None
        pending.free_slot = pending.taken_time = None
        return True

    @staticmethod
    def _choose(
        candidates: list[time], part: PartOfDay | None, meridiem: str | None = None
    ) -> time | None:
        if meridiem is None and part is not None:
            meridiem = "am" if part == "morning" else "pm"
        if meridiem is None:
            return None
        wanted = [t for t in candidates if (t.hour < 12) == (meridiem == "am")]
        return wanted[0] if wanted else None

    def _bookable(self, *days: date) -> bool:
        """Whether every day is one the rules accept (not past, within the horizon, a workday)."""
        today, rules = self.local_now.date(), self.rules
        last = today + timedelta(days=rules.horizon_days)
        return all(today <= d <= last and d.weekday() in rules.workdays for d in days)

    def _drop_offer(self) -> None:
        """A new date or length makes an offered slot stale: check the original time again."""
        pending = self.session.pending
        if pending.free_slot is not None:
            self.session.slots.time = pending.taken_time
            pending.free_slot = pending.taken_time = None

    # - validation -

    def _validate(self) -> dict[MeetingSlot, str]:
        """Clear and explain the values the rules refuse; offer a free slot on a clash."""
        slots, rules = self.session.slots, self.rules
        today = self.local_now.date()
        problems: dict[MeetingSlot, str] = {}
        hours = f"{_say_time(rules.opens)} to {_say_time(rules.closes)}"
        if slots.date is not None:
            if slots.date < today:
                problems["date"] = f"{_say_date(slots.date)} is in the past."
            elif slots.date > today + timedelta(days=rules.horizon_days):
                problems["date"] = f"Meetings can be booked up to {rules.horizon_days} days ahead."
            elif slots.date.weekday() not in rules.workdays:
                problems["date"] = f"We don't meet on {slots.date:%A}s."
        if slots.time is not None:
            if not rules.opens <= slots.time < rules.closes:
                problems["time"] = f"{_say_time(slots.time)} is outside business hours ({hours})."
            elif slots.date == today and slots.time <= self.local_now.time():
                problems["time"] = f"{_say_time(slots.time)} has already passed today."
        length = slots.duration_minutes
        if length is not None and not (
            rules.min_duration_minutes <= length <= rules.max_duration_minutes
        ):
            problems["duration_minutes"] = (
                f"A meeting can last from {rules.min_duration_minutes} to "
                f"{rules.max_duration_minutes} minutes."
            )
        for slot in problems:
            setattr(slots, slot, None)
        if slots.time and slots.duration_minutes:
            latest = _minutes(rules.closes) - slots.duration_minutes
            if _minutes(slots.time) > latest:
                problems["time"] = (
                    f"A {slots.duration_minutes}-minute meeting must start by "
                    f"{_say_time(_at(max(latest, 0)))} to end within business hours ({hours})."
                )
                slots.time = None
        if slots.date and slots.time and slots.duration_minutes:
            self._check_clash()
        return problems

    def _check_clash(self) -> None:
        slots, pending = self.session.slots, self.session.pending
        assert slots.time is not None and slots.duration_minutes is not None
        start, length = _minutes(slots.time), slots.duration_minutes
        busy = [(_minutes(a), _minutes(b)) for a, b in self.busy]

        def clashes(begin: int) -> bool:
            return any(begin < b_end and b_start < begin + length for b_start, b_end in busy)

        if not clashes(start):
            return
        later = sorted({end for _, end in busy if end > start})
        closes = _minutes(self.rules.closes)
        free = next((t for t in later if t + length <= closes and not clashes(t)), None)
        taken = _say_time(slots.time)
        pending.taken_time, slots.time = slots.time, None
        self.offered = True
        if free is None:
            pending.free_slot = None
            self.messages.append(
                f"{taken} is taken and there is no free {length}-minute slot later that day."
            )
            return
        pending.free_slot = _at(free)
        self.messages.append(f"{taken} is taken; {_say_time(_at(free))} is free.")

    # - replies -

    def _prompt(self, slot: MeetingSlot) -> str:
        pending = self.session.pending
        if slot == "time":
            if pending.free_slot is not None:
                return "Shall I book that?"
            if self.offer_declined:
                return "Okay, what other time would you like?"
            if self.offered:
                return "What other time would you like?"
            if pending.time_candidates:
                return " or ".join(_say_time(t) for t in pending.time_candidates) + "?"
            if pending.part_of_day:
                where = (
                    "at night"
                    if pending.part_of_day == "night"
                    else (f"in the {pending.part_of_day}")
                )
                return f"What time {where} would you like to meet?"
        if slot == "date" and pending.date_candidates:
            return "Did you mean " + " or ".join(map(_say_date, pending.date_candidates)) + "?"
        if slot == "duration_minutes" and pending.duration_candidates:
            lengths = " or ".join(str(m) for m in pending.duration_candidates)
            return f"How long should the meeting be: {lengths} minutes?"
        if slot == "date" and pending.week_of is not None:
            this_monday = self.local_now.date() - timedelta(days=self.local_now.weekday())
            week = "this week" if pending.week_of == this_monday else "next week"
            if pending.week_of > this_monday + timedelta(days=7):
                week = f"in the week of {pending.week_of:%B} {pending.week_of.day}"
            return f"Which day {week} would you like to meet?"
        return PROMPTS[slot]

    def _elicit(self, slot: MeetingSlot) -> Turn:
        s = self.session
        s.state, s.slot_to_elicit = DialogState.ELICIT_SLOT, slot
        return self._reply(self._prompt(slot))

    def _confirm(self) -> Turn:
        s, slots = self.session, self.session.slots
        assert slots.date and slots.time and slots.duration_minutes
        end = _at(_minutes(slots.time) + slots.duration_minutes)
        s.state, s.slot_to_elicit = DialogState.CONFIRM_INTENT, None
        summary = (
            f"Meeting for {slots.full_name} ({slots.email}) on {_say_date(slots.date)}, "
            f"{_say_time(slots.time)} to {_say_time(end)} ({slots.duration_minutes} minutes)."
        )
        return self._reply(summary, CONFIRM_QUESTION)

    def _retry(self, prompt: str, message: str) -> Turn:
        s = self.session
        s.retries[prompt] = s.retries.get(prompt, 0) + 1
        if s.retries[prompt] > self.rules.max_retries:
            return self._close(DialogState.FAILED, FALLBACK)
        return self._reply(message)

    def _close(self, state: DialogState, message: str, draft: MeetingDraft | None = None) -> Turn:
        s = self.session
        s.state, s.slot_to_elicit = state, None
        s.pending = Pending()
        return Turn(session=s, messages=[message], draft=draft)

    def _reply(self, *messages: str) -> Turn:
        return Turn(session=self.session, messages=[*self.messages, *messages])
