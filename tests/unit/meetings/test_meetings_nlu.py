"""Resolution rules of Meety's NLU, one form at a time, against fixed clocks."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.meetings.nlu import SLOT_NAMES, Understanding, understand

NEW_YORK = "America/New_York"
# Wednesday 2026-03-04, 10:00 in New York.
WEDNESDAY = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
EMPTY = Understanding().model_dump(exclude={"intent"})


def read(text: str, now: datetime = WEDNESDAY, zone: str = NEW_YORK, **hints) -> Understanding:
    """Understand `text` on the given clock (default: Wednesday 2026-03-04 10:00 New York)."""
    return understand(text, now=now, timezone=zone, **hints)


def slot(text: str, name: str, now: datetime = WEDNESDAY, zone: str = NEW_YORK, **hints):
    """The value of one slot read from `text` (None when absent)."""
    return read(text, now, zone, **hints).slots.get(name)


# --- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", "2026-03-04"),
        ("tomorrow", "2026-03-05"),
        ("the day after tomorrow", "2026-03-06"),
        ("in 3 days", "2026-03-07"),
        ("in a week", "2026-03-11"),
        ("2 weeks from today", "2026-03-18"),
    ],
)
def test_relative_days_count_from_the_local_today(text: str, expected: str) -> None:
    """Relative days are counted from today's date in the caller's zone."""
    assert slot(text, "date") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wednesday", "2026-03-11"),  # today is Wednesday: a bare weekday means next week's
        ("Thursday", "2026-03-05"),
        ("on Tuesday", "2026-03-10"),
        ("Sunday", "2026-03-08"),
        ("this Wednesday", "2026-03-04"),  # the current week's, today included
        ("this Tuesday", "2026-03-10"),  # already past this week: the coming one
        ("this Friday", "2026-03-06"),
        ("next Thursday", "2026-03-12"),  # the following ISO week, not tomorrow
        ("next Monday", "2026-03-09"),
        ("Thursday next week", "2026-03-12"),
        ("next week Thursday", "2026-03-12"),
    ],
)
def test_weekdays_follow_the_documented_week_rules(text: str, expected: str) -> None:
    """Bare weekdays are the next occurrence; 'this'/'next' name the current/following ISO week."""
    assert slot(text, "date") == expected


def test_next_weekday_counts_iso_weeks_even_on_a_sunday() -> None:
    """ISO weeks end on Sunday, so on a Sunday 'next Friday' is five days away, not twelve."""
    sunday = datetime(2026, 3, 8, 15, 0, tzinfo=UTC)
    assert slot("next Friday", "date", now=sunday) == "2026-03-13"
    assert slot("this Friday", "date", now=sunday) == "2026-03-13"  # this week's is past
    assert slot("Friday", "date", now=sunday) == "2026-03-13"


def test_a_bare_weekday_reports_which_weekday_it_was() -> None:
    """A bare weekday also sets `weekday`, so a dialog can place it in a week it asked about."""
    understood = read("Friday")
    assert (understood.slots["date"], understood.weekday) == ("2026-03-06", 4)
    assert read("next Friday").weekday is None


@pytest.mark.parametrize(
    ("text", "week_of"),
    [
        ("next week", "2026-03-09"),
        ("sometime next week", "2026-03-09"),
        ("this week", "2026-03-02"),
    ],
)
def test_a_week_without_a_day_is_a_flag_not_a_date(text: str, week_of: str) -> None:
    """'next week' yields the Monday of that week in `week_of` and no date slot."""
    understood = read(text)
    assert "date" not in understood.slots
    assert understood.week_of is not None and understood.week_of.isoformat() == week_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-05", "2026-03-05"),
        ("March 5", "2026-03-05"),
        ("5 March", "2026-03-05"),
        ("March 5th", "2026-03-05"),
        ("the 5th of March", "2026-03-05"),
        ("Mar. 5, 2027", "2027-03-05"),
        ("March 4", "2026-03-04"),  # today is not past
        ("March 3", "2027-03-03"),  # without a year, a past date rolls to next year
        ("Feb 29", "2028-02-29"),  # ...and Feb 29 waits for a leap year
    ],
)
def test_calendar_dates_prefer_the_future(text: str, expected: str) -> None:
    """Dates with a month name resolve to the next such day unless a year is given."""
    assert slot(text, "date") == expected


def test_numeric_dates_follow_the_convention_parameter() -> None:
    """'5/3' is month-first by default and day-first on request; impossible readings swap."""
    assert slot("5/3", "date") == "2026-05-03"
    assert slot("5/3", "date", day_first=True) == "2026-03-05"
    assert slot("25/12", "date") == "2026-12-25"
    assert slot("12/25", "date", day_first=True) == "2026-12-25"
    assert slot("3/5/27", "date") == "2027-03-05"


@pytest.mark.parametrize(
    ("now", "text", "expected"),
    [
        (WEDNESDAY, "the 12th", "2026-03-12"),
        (WEDNESDAY, "the 4th", "2026-03-04"),  # today counts
        (WEDNESDAY, "the 3rd", "2026-04-03"),  # passed this month: next month
        (datetime(2026, 4, 10, 12, tzinfo=UTC), "the 31st", "2026-05-31"),  # April has no 31st
        (datetime(2026, 12, 20, 12, tzinfo=UTC), "the 5th", "2027-01-05"),  # rolls the year
        (datetime(2027, 1, 31, 12, tzinfo=UTC), "the 30th", "2027-03-30"),  # skips February
    ],
)
def test_a_day_of_month_is_its_next_occurrence(now: datetime, text: str, expected: str) -> None:
    """'the 12th' is the next 12th, rolling over months (and years) that lack that day."""
    assert slot(text, "date", now=now, zone="UTC") == expected


def test_tomorrow_crosses_the_year_end() -> None:
    """On December 31, 'tomorrow' is January 1 of the next year."""
    new_years_eve = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert slot("tomorrow", "date", now=new_years_eve, zone="Europe/Lisbon") == "2027-01-01"


def test_tomorrow_reaches_a_leap_day() -> None:
    """On February 28 of a leap year, 'tomorrow' is February 29."""
    assert slot("tomorrow", "date", now=datetime(2028, 2, 28, 9, tzinfo=UTC)) == "2028-02-29"


def test_the_date_is_the_one_in_the_callers_zone_not_utc() -> None:
    """GIVEN 02:00 UTC on March 5 WHEN read in Tokyo and Los Angeles THEN 'today' differs."""
    now = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
    assert slot("today", "date", now=now, zone="Asia/Tokyo") == "2026-03-05"
    assert slot("today", "date", now=now, zone="America/Los_Angeles") == "2026-03-04"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Spring forward in New York: 2026-03-08 02:00 EST -> 03:00 EDT.
        (datetime(2026, 3, 8, 4, 30, tzinfo=UTC), "2026-03-08"),  # Mar 7, 23:30 EST
        (datetime(2026, 3, 8, 7, 30, tzinfo=UTC), "2026-03-09"),  # Mar 8, 03:30 EDT
        # Fall back: 2026-11-01 02:00 EDT -> 01:00 EST.
        (datetime(2026, 11, 1, 3, 30, tzinfo=UTC), "2026-11-01"),  # Oct 31, 23:30 EDT
        (datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "2026-11-02"),  # Nov 1, 01:30 EDT (first)
        (datetime(2026, 11, 2, 4, 30, tzinfo=UTC), "2026-11-02"),  # Nov 1, 23:30 EST
    ],
)
def test_tomorrow_at_3pm_across_daylight_saving_switches(now: datetime, expected: str) -> None:
    """'tomorrow at 3pm' is the next local calendar day at 15:00 local, whatever the offset."""
    understood = read("tomorrow at 3pm", now=now)
    assert understood.slots == {"date": expected, "time": "15:00"}


def test_now_must_be_timezone_aware() -> None:
    """A naive `now` is refused rather than silently read as local or UTC."""
    with pytest.raises(ValueError, match="aware"):
        understand("tomorrow", now=datetime(2026, 3, 4, 10, 0), timezone=NEW_YORK)


# --- times -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3pm", "15:00"),
        ("3 p.m.", "15:00"),
        ("15:00", "15:00"),
        ("3:30 pm", "15:30"),
        ("12pm", "12:00"),
        ("12am", "00:00"),
        ("noon", "12:00"),
        ("midnight", "00:00"),
        ("half past two", "14:30"),
        ("quarter to 4", "15:45"),
        ("quarter past 3", "15:15"),
        ("quarter to 1", "12:45"),
        ("3 o'clock", "15:00"),
        ("07:30", "07:30"),  # a leading zero means a 24-hour clock
    ],
)
def test_clock_times(text: str, expected: str) -> None:
    """Each spoken or written clock form resolves to HH:MM."""
    assert slot(text, "time") == expected


@pytest.mark.parametrize(
    ("text", "hours", "expected"),
    [
        ("at 3", (time(9), time(18)), "15:00"),  # only 15:00 is in business hours
        ("at 10", (time(9), time(18)), "10:00"),  # only 10:00 is
        ("at 7", (time(9), time(18)), ["07:00", "19:00"]),  # neither is
        ("at 6", (time(9), time(18)), ["06:00", "18:00"]),  # 18:00 is closing time, not inside
        ("at 3", (time(1), time(23)), ["03:00", "15:00"]),  # both are
        ("at 7", (time(6), time(14)), "07:00"),  # the business hours are a parameter
        ("at 3 in the morning", (time(9), time(18)), "03:00"),  # a part of day decides first
        ("at 9 tonight", (time(9), time(18)), "21:00"),
    ],
)
def test_hours_without_am_pm_are_resolved_by_business_hours(text, hours, expected) -> None:
    """'at 3' picks the one reading inside business hours, else returns both candidates."""
    assert slot(text, "time", business_hours=hours) == expected


def test_at_3_is_never_a_date_and_5_march_is_never_a_time() -> None:
    """Numbers are read in context: 'at 3' is a time, '5 March' a date, both together both."""
    assert read("at 3").slots == {"time": "15:00"}
    assert read("5 March").slots == {"date": "2026-03-05"}
    assert read("5 March at 3").slots == {"date": "2026-03-05", "time": "15:00"}


def test_a_bare_number_is_a_time_only_when_a_time_is_expected() -> None:
    """'3' means 15:00 after 'What time?', and means nothing on its own."""
    assert slot("3", "time", expecting="time") == "15:00"
    assert read("3").intent == "fallback"


@pytest.mark.parametrize(
    ("text", "part"),
    [("in the morning", "morning"), ("afternoon", "afternoon"), ("this evening", "evening")],
)
def test_a_part_of_day_alone_is_a_vague_time(text: str, part: str) -> None:
    """'in the morning' fills no time slot; it sets `vague_time` so the dialog asks for one."""
    understood = read(text)
    assert "time" not in understood.slots
    assert understood.vague_time == part


def test_bare_am_pm_answers_set_the_meridiem() -> None:
    """'PM' answers a '3 AM or 3 PM?' question through `meridiem`."""
    assert read("PM", expecting="time").meridiem == "pm"
    assert read("a.m. please", expecting="time").meridiem == "am"


def test_a_time_range_gives_a_start_and_a_length() -> None:
    """'from 2pm to 3:30pm' is a start at 14:00 lasting 90 minutes."""
    assert read("from 2pm to 3:30pm").slots == {"time": "14:00", "duration_minutes": 90}


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("30 minutes", 30),
        ("30 min", 30),
        ("45 mins", 45),
        ("90 min", 90),
        ("thirty minutes", 30),
        ("forty five minutes", 45),
        ("half an hour", 30),
        ("quarter of an hour", 15),
        ("an hour", 60),
        ("1 hour", 60),
        ("2 hours", 120),
        ("1h30", 90),
        ("1h 30m", 90),
        ("1.5 hours", 90),
        ("one and a half hours", 90),
        ("an hour and a half", 90),
        ("1 hour and 15 minutes", 75),
    ],
)
def test_durations(text: str, minutes: int) -> None:
    """Each duration form resolves to whole minutes."""
    assert slot(text, "duration_minutes") == minutes


def test_a_bare_number_is_minutes_only_when_a_duration_is_expected() -> None:
    """'45' is 45 minutes after 'How long?', and nothing otherwise."""
    assert slot("45", "duration_minutes", expecting="duration_minutes") == 45
    assert slot("sixty", "duration_minutes", expecting="duration_minutes") == 60
    assert read("45").slots == {}


# --- e-mail ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("ana.lima@example.com", "ana.lima@example.com"),
        ("write to ana.lima+meetings@example.co.uk please", "ana.lima+meetings@example.co.uk"),
        ("j_doe-2@mail.example.org.", "j_doe-2@mail.example.org"),
        ("ana dot lima at example dot com", "ana.lima@example.com"),
        ("j underscore doe at example dot org", "j_doe@example.org"),
        ("mary dash jane at example dot com", "mary-jane@example.com"),
        ("ana plus work at example dot com", "ana+work@example.com"),
    ],
)
def test_email_addresses_written_or_spoken(text: str, email: str) -> None:
    """RFC-valid addresses (with + . - _) are read whether typed or spelled out."""
    assert slot(text, "email") == email


@pytest.mark.parametrize("text", ["ana@example", "ana at example", "ana@.com", "@example.com"])
def test_invalid_addresses_are_not_emails(text: str) -> None:
    """Something that is not a deliverable address fills no email slot."""
    assert slot(text, "email") is None


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hints", "name"),
    [
        ("I'm Ana", {}, "Ana"),
        ("my name is ana lima", {}, "Ana Lima"),
        ("this is Ana", {}, "Ana"),
        ("Call me Bob, thanks", {}, "Bob"),
        ("I'm Ana Lima from Acme", {}, "Ana Lima"),
        ("my name is ana da silva", {}, "Ana da Silva"),
        ("i am o'brien", {}, "O'Brien"),
        ("Ana Lima", {"expecting": "full_name"}, "Ana Lima"),
        ("it's José", {"expecting": "full_name"}, "José"),
    ],
)
def test_names_after_a_cue_or_when_asked(text: str, hints: dict, name: str) -> None:
    """Names come after 'I'm'/'my name is'/'this is', or bare when the name was asked for."""
    assert slot(text, "full_name", **hints) == name


@pytest.mark.parametrize("text", ["I'm free tomorrow", "I'm looking for a slot", "this is great"])
def test_states_after_im_are_not_names(text: str) -> None:
    """'I'm free' or 'this is great' describe, they do not introduce."""
    assert slot(text, "full_name") is None


def test_a_bare_name_needs_the_name_to_be_expected() -> None:
    """'Ana Lima' alone is a name after 'What is your name?', and nothing otherwise."""
    assert read("Ana Lima").intent == "fallback"


# --- yes/no, corrections, intents --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [("yes", True), ("sure", True), ("that's right", True), ("please do", True),
     ("no", False), ("nope", False), ("don't", False)],
)  # fmt: skip
def test_confirmation_answers(text: str, answer: bool) -> None:
    """Yes/no words fill `confirmation` when a confirmation is expected."""
    assert slot(text, "confirmation", expecting="confirmation") is answer


def test_no_with_a_new_value_is_a_correction_not_a_denial() -> None:
    """'no, Thursday' carries a date and a correction marker, but no confirmation=False."""
    understood = read("no, Thursday", expecting="confirmation")
    assert understood.slots == {"date": "2026-03-05"}
    assert understood.correction


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        ("actually make it 4pm", {"time": "16:00"}),
        ("change the date to Monday", {"date": "2026-03-09"}),
        ("change it from 3pm to 4pm", {"time": "16:00"}),
        ("Tuesday instead of Monday", {"date": "2026-03-10"}),
    ],
)
def test_corrections_carry_the_new_value(text: str, slots: dict) -> None:
    """A correction yields the new value (not the one being replaced) and the marker."""
    understood = read(text)
    assert understood.slots == slots
    assert understood.correction


def test_a_yes_without_context_is_only_read_when_it_is_the_whole_answer() -> None:
    """'yes' alone is a confirmation; 'sure, I'm Ana' is just a name."""
    assert read("yes").slots == {"confirmation": True}
    assert read("sure, I'm Ana").slots == {"full_name": "Ana"}


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("hi", "greeting"),
        ("Hi, I want to book a meeting", "schedule_meeting"),  # asking beats greeting
        ("stop, I don't want to book a meeting", "cancel"),  # cancelling beats asking
        ("what's the capital of France", "fallback"),
    ],
)
def test_intent_precedence(text: str, intent: str) -> None:
    """Cancel beats schedule_meeting, which beats greeting; nothing recognised is fallback."""
    assert read(text).intent == intent


def test_slot_only_answers_have_no_intent() -> None:
    """An answer that only fills slots has intent None (the dialog keeps its own)."""
    assert read("tomorrow at 3pm").intent is None


# --- properties --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=60),
    expecting=st.sampled_from([None, *SLOT_NAMES]),
)
def test_any_text_yields_only_the_known_slots(text: str, expecting) -> None:
    """Any text gives only the six slot keys, and 'fallback' exactly when nothing else was read."""
    understood = read(text, expecting=expecting)
    assert set(understood.slots) <= set(SLOT_NAMES)
    nothing_else = understood.model_dump(exclude={"intent"}) == EMPTY
    if understood.intent == "fallback":
        assert nothing_else
    if nothing_else:
        assert understood.intent is not None


@settings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["UTC", NEW_YORK, "Europe/Lisbon", "Asia/Kolkata", "Pacific/Auckland"]),
)
def test_tomorrow_is_always_the_day_after_the_local_today(now: datetime, zone: str) -> None:
    """For any instant and zone, 'tomorrow' is one calendar day after the local date."""
    local_today = now.astimezone(ZoneInfo(zone)).date()
    assert slot("tomorrow", "date", now=now, zone=zone) == str(local_today + timedelta(days=1))
