"""What running Meety behind HTTP taught the pure NLU and dialog: fixes, and robustness.

- "Tuesday, January 12, 2027" (the bot's own way of saying a date) used to resolve to the
  next Tuesday, ignoring the calendar date after it.
- Any date was accepted, up to 9999-12-31, where converting to UTC overflows: the dialog now
  refuses dates beyond a booking horizon.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.meetings.dialog import (
    DEFAULT_RULES,
    DialogState,
    SchedulingRules,
    Session,
    candidate_day,
    expecting,
    step,
)
from services.meetings.nlu import understand

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("Tuesday, January 12, 2027", date(2027, 1, 12)),
        ("Tuesday January 12", date(2027, 1, 12)),
        ("on Tuesday, Jan 12", date(2027, 1, 12)),
        ("Friday 12 March 2027", date(2027, 3, 12)),
        ("Tuesday, 1/12", date(2027, 1, 12)),
        ("Tuesday, 2027-01-12 at 3pm", date(2027, 1, 12)),
    ],
)
def test_a_weekday_before_a_calendar_date_names_that_date(text: str, day: date) -> None:
    """The calendar date wins over the weekday that introduces it."""
    understanding = understand(text, now=NOW, timezone="UTC")
    assert understanding.slots["date"] == day.isoformat()
    assert understanding.weekday is None


@pytest.mark.parametrize(
    ("text", "day", "weekday"),
    [("Tuesday", date(2026, 12, 1), 1), ("next Tuesday", date(2026, 12, 1), None),
     ("Tuesday at 3", date(2026, 12, 1), 1), ("not Tuesday, Wednesday", date(2026, 12, 2), 2)],
)
def test_a_weekday_alone_still_means_the_coming_one(text: str, day: date,
                                                    weekday: int | None) -> None:
    """Without a calendar date after it, a weekday resolves as before (the control)."""
    understanding = understand(text, now=NOW, timezone="UTC")
    assert understanding.slots["date"] == day.isoformat()
    assert understanding.weekday == weekday


def test_the_bots_own_summary_date_can_be_said_back() -> None:
    """Repeating the date as Meety said it keeps that date (the conversation round-trips)."""
    session = Session()
    for text in ["I'm Ana, Tuesday, January 12, 2027 at 10am for 30 minutes, ana@example.com"]:
        u = understand(text, now=NOW, timezone="UTC", expecting=expecting(session))
        session = step(session, u, now=NOW, timezone="UTC").session
    assert session.state == DialogState.CONFIRM_INTENT
    assert session.slots.date == date(2027, 1, 12)


@pytest.mark.parametrize("text", ["December 31, 9999 at 3pm", "on 9999-12-31", "March 3 2200"])
def test_dates_beyond_the_horizon_are_refused_with_a_reason(text: str) -> None:
    """A date more than a year ahead is explained and asked again, never booked."""
    u = understand(f"Book a meeting {text}, I'm Ana", now=NOW, timezone="Etc/GMT+12")
    turn = step(Session(), u, now=NOW, timezone="Etc/GMT+12")
    assert turn.messages[0] == "Meetings can be booked up to 365 days ahead."
    assert turn.session.slots.date is None
    assert turn.session.slot_to_elicit == "date"


def test_the_horizon_is_a_rule() -> None:
    """horizon_days is configurable: 32 days takes Tuesday 29 December, refuses Wednesday 30."""
    rules = SchedulingRules(horizon_days=32)
    for days, accepted in ((32, True), (33, False)):
        day = NOW.date() + timedelta(days=days)
        u = understand(f"I'm Ana, book {day:%B} {day.day}, {day.year}", now=NOW, timezone="UTC")
        session = step(Session(), u, now=NOW, timezone="UTC", rules=rules).session
        assert (session.slots.date == day) is accepted


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=1024)
STATES = [
    [],
    ["Book a meeting"],
    ["Book a meeting, I'm Ana"],
    ["I'm Ana, next Friday"],
    ["Book 30 minutes with me next Friday at 3pm, I'm Ana Lima, ana.lima@example.com"],
    ["Can we meet next week? I'm Ana"],
]


@settings(max_examples=300, deadline=None, database=None)
@given(text=TEXT, history=st.sampled_from(STATES))
def test_any_text_at_any_point_of_a_dialog_is_a_normal_turn(text: str,
                                                            history: list[str]) -> None:
    """understand() + candidate_day() + step() never raise, whatever up to 1024 characters say."""
    session = Session()
    for line in [*history, text]:
        u = understand(line, now=NOW, timezone="Pacific/Kiritimati",
                       expecting=expecting(session), business_hours=DEFAULT_RULES.business_hours)
        candidate_day(session, u, now=NOW)
        turn = step(session, u, now=NOW, timezone="Pacific/Kiritimati")
        session = turn.session
        assert turn.messages
