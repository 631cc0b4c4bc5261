"""Meety's dialog engine as a pure state machine: whole conversations on a fixed clock."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.meetings.dialog import (
    CANCELLED,
    CONFIRM_QUESTION,
    DEFAULT_RULES,
    DENIED,
    FALLBACK,
    GREETING,
    PROMPTS,
    ConfirmationState,
    DialogState,
    Interval,
    SchedulingRules,
    Session,
    Turn,
    candidate_day,
    expecting,
    step,
)
from services.meetings.nlu import understand

NEW_YORK = "America/New_York"
WEDNESDAY = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # 10:00 in New York
NEXT_FRIDAY = date(2026, 3, 13)
EVERYTHING = "Book 30 minutes with me next Friday at 3pm, I'm Ana Lima, ana.lima@example.com"
SUMMARY_3PM = (
    "Meeting for Ana Lima (ana.lima@example.com) on Friday, March 13, 2026, "
    "3 PM to 3:30 PM (30 minutes)."
)


@dataclass
class Chat:
    """A user talking to the engine the way the HTTP API will: understand, fetch busy, step."""

    now: datetime = WEDNESDAY
    timezone: str = NEW_YORK
    rules: SchedulingRules = DEFAULT_RULES
    approved: dict[date, list[Interval]] = field(default_factory=dict)
    session: Session = field(default_factory=Session)
    day_first: bool = False

    def say(self, text: str) -> Turn:
        """One user utterance; returns the engine's turn and keeps its session."""
        understanding = understand(
            text,
            now=self.now,
            timezone=self.timezone,
            expecting=expecting(self.session),
            day_first=self.day_first,
            business_hours=self.rules.business_hours,
        )
        day = candidate_day(self.session, understanding, now=self.now, rules=self.rules)
        turn = step(
            self.session,
            understanding,
            now=self.now,
            timezone=self.timezone,
            rules=self.rules,
            busy=self.approved.get(day, []) if day else [],
        )
        self.session = turn.session
        return turn

    @property
    def state(self) -> DialogState:
        """The dialog state after the last turn."""
        return self.session.state


def chat_at_confirmation(**kwargs) -> Chat:
    """A chat that gave every slot in one sentence and is being asked to confirm."""
    chat = Chat(**kwargs)
    chat.say(EVERYTHING)
    assert chat.state == DialogState.CONFIRM_INTENT
    return chat


# --- the happy paths ---------------------------------------------------------------------------


def test_slot_by_slot_conversation_books_a_meeting() -> None:
    """GIVEN a greeting WHEN the user answers each prompt THEN a confirmed draft comes out."""
    chat = Chat()
    assert chat.say("Hello").messages == [GREETING]
    assert chat.state == DialogState.ELICIT_INTENT

    assert chat.say("I want to schedule a meeting").messages == [PROMPTS["full_name"]]
    assert chat.say("Ana Lima").messages == [PROMPTS["date"]]
    assert chat.say("next Friday").messages == [PROMPTS["time"]]
    assert chat.say("3pm").messages == [PROMPTS["duration_minutes"]]
    assert chat.say("30").messages == [PROMPTS["email"]]
    assert chat.session.slot_to_elicit == "email"

    turn = chat.say("ana.lima@example.com")
    assert turn.messages == [SUMMARY_3PM, CONFIRM_QUESTION]
    assert chat.state == DialogState.CONFIRM_INTENT

    turn = chat.say("yes")
    assert chat.state == DialogState.FULFILLED
    assert chat.session.confirmation == ConfirmationState.CONFIRMED
    assert turn.draft is not None
    assert turn.draft.model_dump(
        include={"attendee_name", "email", "date", "duration_minutes"}
    ) == {
        "attendee_name": "Ana Lima",
        "email": "ana.lima@example.com",
        "date": NEXT_FRIDAY,
        "duration_minutes": 30,
    }
    assert (turn.draft.start_time, turn.draft.end_time) == (time(15), time(15, 30))
    assert turn.messages == [
        "Thank you, Ana Lima! Your meeting request for Friday, March 13, 2026 at 3 PM "
        "has been sent and is waiting for approval."
    ]


def test_every_slot_in_one_sentence_goes_straight_to_confirmation() -> None:
    """One sentence with all five values skips every prompt and shows the summary."""
    chat = Chat()
    turn = chat.say(EVERYTHING)
    assert turn.messages == [SUMMARY_3PM, CONFIRM_QUESTION]
    assert chat.session.intent == "schedule_meeting"
    assert chat.session.slots.missing() == []


def test_giving_a_value_first_starts_the_booking_without_asking_for_intent() -> None:
    """'tomorrow at 3pm' as a first message starts scheduling and asks for the name."""
    chat = Chat()
    assert chat.say("tomorrow at 3pm").messages == [PROMPTS["full_name"]]
    assert chat.session.slots.date == date(2026, 3, 5)


def test_the_draft_carries_the_utc_offset_of_the_meeting_day() -> None:
    """A meeting booked before the DST switch for a day after it gets the summer offset."""
    chat = Chat()  # Wednesday March 4 (EST, UTC-5); DST starts Sunday March 8
    chat.say("I'm Ana, ana@example.com, Monday at 3pm for 30 minutes")
    draft = chat.say("yes").draft
    assert draft is not None and draft.date == date(2026, 3, 9)
    assert draft.starts_at.utcoffset() == timedelta(hours=-4)
    assert draft.starts_at.astimezone(UTC).time() == time(19, 0)


# --- corrections, denial, cancel ---------------------------------------------------------------


def test_a_correction_at_confirmation_overwrites_and_asks_again() -> None:
    """'actually make it 4pm' at the confirmation prompt changes the time and re-confirms."""
    chat = chat_at_confirmation()
    turn = chat.say("actually make it 4pm")
    assert chat.state == DialogState.CONFIRM_INTENT
    assert chat.session.slots.time == time(16)
    assert turn.messages[0].endswith("4 PM to 4:30 PM (30 minutes).")


def test_no_with_a_new_date_is_a_correction_not_a_denial() -> None:
    """'no, Thursday' at the confirmation prompt moves the meeting instead of denying it."""
    chat = chat_at_confirmation()
    chat.say("no, Thursday")
    assert chat.state == DialogState.CONFIRM_INTENT
    assert chat.session.slots.date == date(2026, 3, 5)
    assert chat.session.confirmation == ConfirmationState.NONE


def test_a_correction_mid_dialog_overwrites_the_slot() -> None:
    """A value given again while another slot is asked for replaces the earlier one."""
    chat = Chat()
    chat.say("Book a meeting tomorrow at 3pm")
    chat.say("Ana")
    chat.say("change the date to Friday")
    assert chat.session.slots.date == date(2026, 3, 6)
    assert chat.session.slot_to_elicit == "duration_minutes"


def test_denied_confirmation_asks_what_to_change_then_closes_on_a_second_no() -> None:
    """'no' denies (slots kept, bot asks what to change); another 'no' closes without booking."""
    chat = chat_at_confirmation()
    assert chat.say("no").messages == [DENIED]
    assert chat.state == DialogState.ELICIT_INTENT
    assert chat.session.confirmation == ConfirmationState.DENIED
    assert chat.session.slots.full_name == "Ana Lima"

    turn = chat.say("no")
    assert (chat.state, turn.messages, turn.draft) == (DialogState.CLOSE, [CANCELLED], None)


def test_after_a_denial_a_change_leads_back_to_confirmation() -> None:
    """GIVEN a denied confirmation WHEN the user changes the time THEN the bot re-confirms."""
    chat = chat_at_confirmation()
    chat.say("no")
    turn = chat.say("make it 10am")
    assert chat.state == DialogState.CONFIRM_INTENT
    assert chat.session.confirmation == ConfirmationState.NONE
    assert "10 AM to 10:30 AM" in turn.messages[0]
    assert chat.say("yes").draft is not None


@pytest.mark.parametrize("when", ["at the start", "mid-dialog", "at confirmation"])
def test_cancel_closes_the_dialog_at_any_point(when: str) -> None:
    """'never mind' closes politely whatever the bot was asking, and books nothing."""
    chat = Chat()
    if when == "mid-dialog":
        chat.say("Book a meeting")
    elif when == "at confirmation":
        chat.say(EVERYTHING)
    turn = chat.say("never mind")
    assert (chat.state, turn.messages, turn.draft) == (DialogState.CLOSE, [CANCELLED], None)


def test_a_closed_dialog_starts_afresh_on_the_next_message() -> None:
    """After Close, the next utterance begins a new session with no old slots."""
    chat = chat_at_confirmation()
    chat.say("cancel")
    assert chat.say("hi").messages == [GREETING]
    assert chat.session.slots.full_name is None


# --- retries and fallback ----------------------------------------------------------------------


def test_an_unusable_answer_is_reprompted_three_times_then_the_dialog_fails() -> None:
    """Each prompt is retried at most 3 times; the 4th unusable answer ends in Failed."""
    chat = Chat()
    chat.say("Book a meeting")
    for retry in range(1, 4):
        turn = chat.say("???")
        assert turn.messages == [f"Sorry, I did not get it. {PROMPTS['full_name']}"]
        assert chat.session.retries["full_name"] == retry
    turn = chat.say("???")
    assert (chat.state, turn.messages) == (DialogState.FAILED, [FALLBACK])


def test_an_unrecognised_first_message_gets_the_fallback_reply() -> None:
    """Text with no intent and no value gets 'Sorry, I did not get it. Could you try again?'."""
    chat = Chat()
    assert chat.say("purple elephant").messages == [FALLBACK]
    assert chat.state == DialogState.ELICIT_INTENT


def test_a_rejected_value_counts_as_a_retry() -> None:
    """Four dates in the past in a row exhaust the date prompt's retries."""
    chat = Chat()
    chat.say("Book a meeting, I'm Ana")
    for _ in range(3):
        chat.say("March 2, 2026")
        assert chat.state == DialogState.ELICIT_SLOT
    chat.say("March 2, 2026")
    assert chat.state == DialogState.FAILED


def test_a_useful_answer_to_another_question_is_not_a_retry() -> None:
    """Answering with a different slot's value fills it and re-asks without counting a retry."""
    chat = Chat()
    chat.say("Book a meeting")
    assert chat.say("tomorrow at 3pm").messages == [PROMPTS["full_name"]]
    assert chat.session.retries == {}


def test_an_idle_session_expires_like_lex() -> None:
    """A turn more than 5 minutes after the previous one starts a new session."""
    chat = chat_at_confirmation()
    chat.now += timedelta(seconds=301)
    assert chat.say("yes").messages == [FALLBACK]
    assert chat.session.slots.full_name is None


# --- validation --------------------------------------------------------------------------------


def test_a_past_date_is_rejected_with_a_reason() -> None:
    """A date before today is refused, explained, and asked for again."""
    chat = Chat()
    chat.say("Book a meeting, I'm Ana")
    turn = chat.say("March 3, 2026")
    assert turn.messages == ["Tuesday, March 3, 2026 is in the past.", PROMPTS["date"]]
    assert chat.session.slots.date is None


def test_a_time_already_past_today_is_rejected() -> None:
    """At 10:00, 'today at 9:30am' is refused; 'today at 11am' is fine."""
    chat = Chat()
    chat.say("I'm Ana")
    turn = chat.say("today at 9:30am")
    assert turn.messages == ["9:30 AM has already passed today.", PROMPTS["time"]]
    chat.say("11am")
    assert chat.session.slots.time == time(11)


def test_a_start_outside_business_hours_is_rejected() -> None:
    """8 PM is outside the default 9 AM to 6 PM."""
    chat = Chat()
    chat.say("I'm Ana, tomorrow")
    turn = chat.say("8pm")
    assert turn.messages == ["8 PM is outside business hours (9 AM to 6 PM).", PROMPTS["time"]]


def test_a_meeting_must_end_within_business_hours() -> None:
    """A 60-minute meeting at 5:30 PM would end at 6:30 PM, so the time is asked again."""
    chat = Chat()
    turn = chat.say("I'm Ana, tomorrow at 5:30pm for an hour")
    assert turn.messages == [
        "A 60-minute meeting must start by 5 PM to end within business hours (9 AM to 6 PM).",
        PROMPTS["time"],
    ]
    assert chat.session.slots.duration_minutes == 60


def test_a_weekend_day_is_rejected() -> None:
    """Saturday is not a workday under the default rules."""
    chat = Chat()
    chat.say("I'm Ana")
    turn = chat.say("Saturday")
    assert turn.messages == ["We don't meet on Saturdays.", PROMPTS["date"]]


def test_workdays_are_configurable() -> None:
    """With Saturday among the workdays, Saturday is accepted."""
    chat = Chat(rules=SchedulingRules(workdays=frozenset(range(6))))
    chat.say("I'm Ana")
    chat.say("Saturday")
    assert chat.session.slots.date == date(2026, 3, 7)


@pytest.mark.parametrize("length", ["5 minutes", "5 hours"])
def test_a_duration_out_of_range_is_rejected(length: str) -> None:
    """Meetings last 15 to 240 minutes by default."""
    chat = Chat()
    chat.say("I'm Ana, tomorrow at 10am")
    turn = chat.say(length)
    assert turn.messages == [
        "A meeting can last from 15 to 240 minutes.",
        PROMPTS["duration_minutes"],
    ]


def test_duration_limits_are_configurable() -> None:
    """With a 5-minute minimum, a 5-minute meeting is accepted."""
    chat = Chat(rules=SchedulingRules(min_duration_minutes=5))
    chat.say("I'm Ana, tomorrow at 10am")
    chat.say("5 minutes")
    assert chat.session.slots.duration_minutes == 5


# --- clashes with approved meetings ------------------------------------------------------------


def test_a_clash_offers_the_next_free_slot_and_yes_takes_it() -> None:
    """GIVEN 3-4 PM is approved WHEN the user asks for 3 PM THEN 4 PM is offered; yes books it."""
    chat = Chat(approved={NEXT_FRIDAY: [(time(15), time(16))]})
    turn = chat.say(EVERYTHING)
    assert turn.messages == ["3 PM is taken; 4 PM is free.", "Shall I book that?"]
    assert chat.session.pending.free_slot == time(16)
    assert expecting(chat.session) == "confirmation"

    turn = chat.say("yes")
    assert chat.state == DialogState.CONFIRM_INTENT
    assert "4 PM to 4:30 PM" in turn.messages[0]


def test_a_declined_offer_asks_for_another_time() -> None:
    """'no' to the offered slot asks for a different time, which is then used."""
    chat = Chat(approved={NEXT_FRIDAY: [(time(15), time(16))]})
    chat.say(EVERYTHING)
    assert chat.say("no").messages == ["Okay, what other time would you like?"]
    assert expecting(chat.session) == "time"
    chat.say("11am")
    assert chat.state == DialogState.CONFIRM_INTENT
    assert chat.session.slots.time == time(11)


def test_the_offer_skips_back_to_back_meetings() -> None:
    """With 3-4 PM and 4-5 PM approved, a 3 PM request is offered 5 PM."""
    chat = Chat(approved={NEXT_FRIDAY: [(time(15), time(16)), (time(16), time(17))]})
    assert chat.say(EVERYTHING).messages[0] == "3 PM is taken; 5 PM is free."


def test_a_clash_with_no_free_slot_later_asks_for_another_time() -> None:
    """When nothing of that length is free later that day, the bot asks for another time."""
    chat = Chat(approved={NEXT_FRIDAY: [(time(15), time(16)), (time(16), time(18))]})
    turn = chat.say(EVERYTHING)
    assert turn.messages == [
        "3 PM is taken and there is no free 30-minute slot later that day.",
        "What other time would you like?",
    ]
    assert chat.session.pending.free_slot is None


def test_changing_the_date_after_an_offer_rechecks_the_original_time() -> None:
    """GIVEN 4 PM was offered for Friday WHEN the user says Thursday THEN 3 PM Thursday stands."""
    chat = Chat(approved={NEXT_FRIDAY: [(time(15), time(16))]})
    chat.say(EVERYTHING)
    chat.say("what about next Thursday?")
    assert chat.state == DialogState.CONFIRM_INTENT
    assert (chat.session.slots.date, chat.session.slots.time) == (date(2026, 3, 12), time(15))


def test_a_meeting_approved_before_the_yes_is_caught_at_confirmation() -> None:
    """The slot is checked again when the user confirms, not only when it was given."""
    chat = chat_at_confirmation()
    chat.approved = {NEXT_FRIDAY: [(time(15), time(16))]}
    turn = chat.say("yes")
    assert turn.draft is None
    assert turn.messages == ["3 PM is taken; 4 PM is free.", "Shall I book that?"]


def test_candidate_day_names_the_day_step_will_check() -> None:
    """candidate_day() is the date in the new utterance, else the one already in the session."""
    session = Session()
    u = understand("next Friday", now=WEDNESDAY, timezone=NEW_YORK)
    assert candidate_day(session, u, now=WEDNESDAY) == NEXT_FRIDAY
    session = step(session, u, now=WEDNESDAY, timezone=NEW_YORK).session
    u = understand("at 3pm", now=WEDNESDAY, timezone=NEW_YORK)
    assert candidate_day(session, u, now=WEDNESDAY) == NEXT_FRIDAY


# --- clarifications ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "start"),
    [("PM", time(15)), ("3 PM", time(15)), ("the afternoon one", time(15)), ("AM", time(3))],
)
def test_an_ambiguous_time_is_asked_am_or_pm(answer: str, start: time) -> None:
    """With both 03:00 and 15:00 inside business hours, the bot asks '3 AM or 3 PM?'."""
    chat = Chat(rules=SchedulingRules(opens=time(1), closes=time(23)))
    turn = chat.say("I'm Ana, book tomorrow at 3 for 30 minutes, ana@example.com")
    assert turn.messages == ["3 AM or 3 PM?"]
    assert chat.session.pending.time_candidates == [time(3), time(15)]

    chat.say(answer)
    assert chat.session.slots.time == start
    assert chat.state == DialogState.CONFIRM_INTENT


def test_a_vague_part_of_day_asks_for_an_exact_time() -> None:
    """'tomorrow morning' leads to 'What time in the morning…?', and '10' then means 10 AM."""
    chat = Chat()
    chat.say("I'm Ana")
    turn = chat.say("tomorrow morning")
    assert turn.messages == ["What time in the morning would you like to meet?"]
    chat.say("10")
    assert chat.session.slots.time == time(10)


def test_the_part_of_day_said_earlier_settles_a_later_ambiguous_hour() -> None:
    """GIVEN 'in the evening' was said WHEN the user says 'at 7' THEN 7 PM is meant."""
    chat = Chat()
    chat.say("I'm Ana, tomorrow in the evening")
    turn = chat.say("at 7")
    assert turn.messages[0] == "7 PM is outside business hours (9 AM to 6 PM)."


def test_next_week_asks_which_day_and_places_it_in_that_week() -> None:
    """On a Monday, 'next week' then 'Tuesday' means next week's Tuesday, not tomorrow."""
    monday = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # 10:00 in New York (EDT)
    chat = Chat(now=monday)
    turn = chat.say("Can we meet next week? I'm Ana")
    assert turn.messages == ["Which day next week would you like to meet?"]
    chat.say("Tuesday")
    assert chat.session.slots.date == date(2026, 3, 17)


@pytest.mark.parametrize("day_first", [False, True])
def test_a_numeric_date_with_two_bookable_readings_is_asked_about(day_first: bool) -> None:
    """'6/3' may be June 3 or March 6, both workdays ahead: Meety asks, whatever the order."""
    chat = Chat(day_first=day_first)
    chat.say("I'm Ana")
    turn = chat.say("6/3")
    assert turn.messages == ["Did you mean Friday, March 6, 2026 or Wednesday, June 3, 2026?"]
    assert chat.session.slots.date is None
    assert chat.session.slot_to_elicit == "date"

    chat.say("June 3")
    assert chat.session.slots.date == date(2026, 6, 3)
    assert chat.session.pending.date_candidates == []
    assert chat.session.slot_to_elicit == "time"


def test_the_answer_to_which_date_can_be_a_weekday() -> None:
    """'Friday' answers 'March 6 or June 3?' with the Friday."""
    chat = Chat()
    chat.say("I'm Ana")
    chat.say("6/3")
    chat.say("Friday")
    assert chat.session.slots.date == date(2026, 3, 6)


def test_a_numeric_date_with_one_bookable_reading_follows_the_configured_order() -> None:
    """'5/3' is May 3 (a Sunday) month-first and March 5 day-first: no question either way."""
    chat = Chat(day_first=True)
    chat.say("I'm Ana")
    turn = chat.say("5/3")
    assert chat.session.slots.date == date(2026, 3, 5)
    assert turn.messages == [PROMPTS["time"]]

    chat = Chat()
    chat.say("I'm Ana")
    turn = chat.say("5/3")
    assert turn.messages == ["We don't meet on Sundays.", PROMPTS["date"]]


def test_an_unambiguous_numeric_date_is_not_asked_about() -> None:
    """'19/3' can only be March 19."""
    chat = Chat()
    chat.say("I'm Ana")
    chat.say("19/3")
    assert chat.session.slots.date == date(2026, 3, 19)
    assert chat.session.pending.date_candidates == []


def test_a_range_of_lengths_is_asked_about() -> None:
    """'30-45 mins' is not a length: Meety asks '30 or 45 minutes?', then '45' settles it."""
    chat = Chat()
    chat.say("I'm Ana, next Friday at 3pm")
    turn = chat.say("30-45 mins")
    assert turn.messages == ["How long should the meeting be: 30 or 45 minutes?"]
    assert chat.session.slots.duration_minutes is None

    chat.say("45")
    assert chat.session.slots.duration_minutes == 45
    assert chat.session.pending.duration_candidates == []
    assert chat.session.slot_to_elicit == "email"


def test_a_range_of_lengths_said_with_everything_else_is_asked_before_confirming() -> None:
    """'an hour or two' in a full request leads to the length question, not to a summary."""
    chat = Chat()
    turn = chat.say("Book next Friday at 10am for an hour or two, I'm Ana Lima, ana@example.com")
    assert turn.messages == ["How long should the meeting be: 60 or 120 minutes?"]
    chat.say("an hour")
    assert chat.state == DialogState.CONFIRM_INTENT
    assert chat.session.slots.duration_minutes == 60


def test_a_time_range_fills_start_and_length() -> None:
    """'from 3 to 4pm' next Friday is a 60-minute meeting at 3 PM."""
    chat = Chat()
    chat.say("I'm Ana Lima, ana@example.com")
    turn = chat.say("next Friday from 3 to 4pm")
    assert chat.state == DialogState.CONFIRM_INTENT
    assert turn.messages[0].endswith("3 PM to 4 PM (60 minutes).")


# --- the engine's contract ---------------------------------------------------------------------


def test_step_does_not_modify_the_session_it_is_given() -> None:
    """step() is pure: the input session is left exactly as it was."""
    session = Session()
    before = session.model_dump()
    understanding = understand(EVERYTHING, now=WEDNESDAY, timezone=NEW_YORK)
    step(session, understanding, now=WEDNESDAY, timezone=NEW_YORK)
    assert session.model_dump() == before


def test_a_session_survives_a_json_round_trip_mid_dialog() -> None:
    """The session can be stored as JSON between turns and resumed unchanged."""
    chat = Chat(approved={NEXT_FRIDAY: [(time(15), time(16))]})
    chat.say(EVERYTHING)
    restored = Session.model_validate_json(chat.session.model_dump_json())
    assert restored == chat.session
    chat.session = restored
    assert chat.say("yes").messages[1] == CONFIRM_QUESTION


@pytest.mark.parametrize(
    ("session", "hint"),
    [
        (Session(), None),
        (Session(state=DialogState.ELICIT_SLOT, slot_to_elicit="date"), "date"),
        (Session(state=DialogState.CONFIRM_INTENT), "confirmation"),
    ],
)
def test_expecting_maps_the_dialog_state_to_an_nlu_hint(session: Session, hint: str) -> None:
    """expecting() tells understand() which slot a bare answer fills."""
    assert expecting(session) == hint


@pytest.mark.parametrize(
    "rules",
    [
        {"opens": time(18), "closes": time(9)},
        {"min_duration_minutes": 60, "max_duration_minutes": 30},
        {"min_duration_minutes": 0},
    ],
)
def test_incoherent_rules_are_refused(rules: dict) -> None:
    """Scheduling rules that could never accept a meeting are rejected when built."""
    with pytest.raises(ValueError):
        SchedulingRules(**rules)
