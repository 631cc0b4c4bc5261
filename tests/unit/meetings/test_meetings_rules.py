"""The meetings rules without I/O: the status state machine, clashes, day bounds, busy times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.meetings import logic
from services.meetings.dialog import DEFAULT_RULES, MeetingDraft, Session, step
from services.meetings.dialog import expecting as expected_slot
from services.meetings.models import Meeting, MeetingStatus
from services.meetings.nlu import understand
from shared.errors import ConflictError

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
STATUSES = list(MeetingStatus)
ALLOWED = {("pending", "approved"), ("pending", "rejected"), ("approved", "cancelled")}


def meeting(start: str = "2026-03-13T15:00:00Z", minutes: int = 30, *,
            status: MeetingStatus = MeetingStatus.pending, id_: str = "m-1") -> Meeting:
    begins = datetime.fromisoformat(start)
    return Meeting(
        id=id_, status=status, attendee_name="Ana Lima", email="ana@example.com",
        date=begins.date(), start_time=begins.time(),
        end_time=(begins + timedelta(minutes=minutes)).time(), duration_minutes=minutes,
        timezone="UTC", start=begins, end=begins + timedelta(minutes=minutes),
        created_at=NOW, updated_at=NOW,
    )


# --- the state machine -------------------------------------------------------------------------


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_only_the_three_moves_of_the_state_machine_are_allowed(
    current: MeetingStatus, target: MeetingStatus
) -> None:
    """pending -> approved | rejected and approved -> cancelled pass; all 13 others are 409."""
    subject = meeting(status=current)
    if (current.value, target.value) in ALLOWED:
        logic.ensure_transition(subject, target)
        return
    with pytest.raises(ConflictError) as refused:
        logic.ensure_transition(subject, target)
    assert refused.value.extra == {
        "current": current.value, "allowed": [s.value for s in logic.TRANSITIONS[current]]}


def test_final_states_say_so() -> None:
    """A refusal from a final state explains that nothing is allowed any more."""
    with pytest.raises(ConflictError) as refused:
        logic.ensure_transition(meeting(status=MeetingStatus.rejected), MeetingStatus.approved)
    assert "none, it is final" in refused.value.detail
    assert refused.value.extra["allowed"] == []


def test_a_move_bumps_version_and_time_and_keeps_the_rest() -> None:
    """moved() sets status, version + 1 and updated_at; identity and schedule are unchanged."""
    later = NOW + timedelta(hours=1)
    before = meeting()
    after = logic.moved(before, MeetingStatus.approved, now=later)

    assert (after.status, after.version, after.updated_at) == ("approved", 2, later)
    assert after.model_dump(exclude={"status", "version", "updated_at"}) == before.model_dump(
        exclude={"status", "version", "updated_at"})


# --- clashes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("other_start", "other_minutes", "clashes"),
    [
        ("2026-03-13T15:00:00Z", 30, True),  # the same slot
        ("2026-03-13T14:45:00Z", 30, True),  # overlaps the start
        ("2026-03-13T15:15:00Z", 60, True),  # overlaps the end
        ("2026-03-13T14:00:00Z", 180, True),  # contains it
        ("2026-03-13T15:10:00Z", 5, True),  # inside it
        ("2026-03-13T14:30:00Z", 30, False),  # ends as it starts
        ("2026-03-13T15:30:00Z", 30, False),  # starts as it ends
        ("2026-03-14T15:00:00Z", 30, False),  # another day
    ],
)
def test_overlap_is_half_open(other_start: str, other_minutes: int, clashes: bool) -> None:
    """Meetings clash when their [start, end) intervals intersect; touching ones do not."""
    other = meeting(other_start, other_minutes, id_="m-2", status=MeetingStatus.approved)
    assert bool(logic.overlapping(meeting(), [other])) is clashes


def test_a_meeting_never_clashes_with_itself() -> None:
    """Re-checking an approved meeting against the list that holds it finds nothing."""
    assert logic.overlapping(meeting(), [meeting()]) == []


def test_ensure_free_names_every_clashing_meeting() -> None:
    """The 409 lists the ids of the approved meetings in the way, in the order given."""
    others = [meeting("2026-03-13T14:50:00Z", 20, id_="a"),
              meeting("2026-03-13T16:00:00Z", 20, id_="b"),
              meeting("2026-03-13T15:20:00Z", 20, id_="c")]
    with pytest.raises(ConflictError) as refused:
        logic.ensure_free(meeting(), others)
    assert refused.value.extra == {"conflicts": ["a", "c"]}
    logic.ensure_free(meeting(), others[1:2])


# --- days and busy times -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "zone", "start", "hours"),
    [
        (date(2026, 3, 13), "UTC", "2026-03-13T00:00:00+00:00", 24),
        (date(2026, 3, 13), "America/New_York", "2026-03-13T04:00:00+00:00", 24),
        (date(2026, 3, 8), "America/New_York", "2026-03-08T05:00:00+00:00", 23),  # spring
        (date(2026, 11, 1), "America/New_York", "2026-11-01T04:00:00+00:00", 25),  # fall
        (date(2026, 3, 13), "Pacific/Kiritimati", "2026-03-12T10:00:00+00:00", 24),
    ],
)
def test_day_bounds_follow_the_zone_and_daylight_saving(
    day: date, zone: str, start: str, hours: int
) -> None:
    """A local day is [its midnight, the next midnight) in UTC: 23 or 25 hours on DST days."""
    first, last = logic.day_bounds(day, zone)
    assert first.isoformat() == start
    assert last - first == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("day", "zone"),
    [(date.max, "UTC"), (date.max, "America/New_York"), (date.min, "Pacific/Kiritimati"),
     (date.min, "UTC")],
)
def test_day_bounds_at_the_ends_of_the_calendar_do_not_overflow(day: date, zone: str) -> None:
    """Year 1 and 9999 (a fuzzer's favourites) give clamped bounds, not an OverflowError."""
    first, last = logic.day_bounds(day, zone)
    assert first < last
    assert logic.shifted(first, -timedelta(days=1)) <= first
    assert logic.shifted(last, timedelta(days=1)) >= last


def test_busy_times_are_local_to_the_callers_zone_and_clipped_to_the_day() -> None:
    """UTC intervals become local (start, end) times of that day; spill-overs are clipped."""
    day, zone = date(2026, 3, 13), "Europe/Paris"  # UTC+1 in March

    def utc(text: str) -> datetime:
        return datetime.fromisoformat(text)

    busy = logic.busy_intervals(
        [
            (utc("2026-03-13T14:00:00+00:00"), utc("2026-03-13T15:00:00+00:00")),
            (utc("2026-03-12T22:30:00+00:00"), utc("2026-03-12T23:30:00+00:00")),  # 23:30-0:30
            (utc("2026-03-13T22:00:00+00:00"), utc("2026-03-13T23:30:00+00:00")),  # 23:00-0:30
            (utc("2026-03-12T10:00:00+00:00"), utc("2026-03-12T11:00:00+00:00")),  # day before
            (utc("2026-03-13T08:00:00+00:00"), utc("2026-03-13T09:00:00+00:00")),
        ],
        day, zone,
    )

    assert busy == [(time(0, 0), time(0, 30)), (time(9, 0), time(10, 0)),
                    (time(15, 0), time(16, 0)), (time(23, 0), time.max)]


def test_a_confirmed_draft_becomes_a_pending_meeting_in_utc() -> None:
    """new_meeting(): fresh id, pending, version 1, the local schedule kept, instants in UTC."""
    draft = MeetingDraft(
        attendee_name="Ana Lima", email="ana@example.com", date=date(2026, 3, 13),
        start_time=time(15), end_time=time(15, 30), duration_minutes=30,
        timezone="America/New_York",
        starts_at=datetime(2026, 3, 13, 15, tzinfo=ZoneInfo("America/New_York")),
        ends_at=datetime(2026, 3, 13, 15, 30, tzinfo=ZoneInfo("America/New_York")),
    )
    first, second = logic.new_meeting(draft, now=NOW), logic.new_meeting(draft, now=NOW)

    assert first.id != second.id
    assert (first.status, first.version) == ("pending", 1)
    assert first.model_dump(mode="json")["start"] == "2026-03-13T19:00:00Z"
    assert first.model_dump(mode="json")["end"] == "2026-03-13T19:30:00Z"
    assert (first.date, first.start_time, first.timezone) == (
        date(2026, 3, 13), time(15), "America/New_York")


def test_session_ids_are_long_and_unique() -> None:
    """Conversation ids carry 256 random bits: 43 URL-safe characters, never repeated."""
    ids = {logic.new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 43 and i.replace("-", "").replace("_", "").isalnum() for i in ids)


# --- when the chat needs the busy-time lookup --------------------------------------------------

BUSY = [(time(9), time(18))]  # the whole day is taken: any clash check changes the outcome
CONVERSATIONS = [
    ["Hi", "Book a meeting", "Ana Lima", "next Friday", "3pm", "30", "ana@example.com", "yes"],
    ["Book 30 minutes with me next Friday at 3pm, I'm Ana Lima, ana.lima@example.com", "yes"],
    ["I'm Ana, next Friday", "in the morning", "10", "an hour", "no, Thursday", "ana@x.io"],
    ["Can we meet next week?", "Tuesday", "3pm", "45 minutes", "cancel"],
    ["tomorrow at 3 for 30 minutes", "Ana", "actually 4pm", "ana@example.com", "no", "no"],
]


@pytest.mark.parametrize("lines", CONVERSATIONS)
def test_a_turn_that_skips_the_lookup_is_the_turn_with_it(lines: list[str]) -> None:
    """When checks_clashes() is false after a pass without busy times, busy times change nothing."""
    session, skipped = Session(), 0
    for text in lines:
        understanding = understand(text, now=NOW, timezone="America/New_York",
                                   expecting=expected_slot(session))
        free = step(session, understanding, now=NOW, timezone="America/New_York")
        busy = step(session, understanding, now=NOW, timezone="America/New_York", busy=BUSY)
        if not logic.checks_clashes(free.session):
            skipped += 1
            assert busy == free, text
        session = busy.session
    assert skipped > 0


def test_checks_clashes_is_true_whenever_busy_times_change_a_turn() -> None:
    """The converse, on the turn that gives the last slot: busy times matter, and are fetched."""
    understanding = understand("Book 30 minutes next Friday at 3pm, I'm Ana, ana@example.com",
                               now=NOW, timezone="UTC")
    free = step(Session(), understanding, now=NOW, timezone="UTC", rules=DEFAULT_RULES)
    busy = step(Session(), understanding, now=NOW, timezone="UTC", busy=BUSY)
    assert busy != free
    assert logic.checks_clashes(free.session)
