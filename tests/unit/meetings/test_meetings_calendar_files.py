"""iCalendar files without I/O: the admins' feed, the invitation and the cancellation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from services.meetings import calendar_feed
from services.meetings.models import Meeting, MeetingStatus

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
SENDER = "Meety <meetings@example.com>"


def meeting(status: MeetingStatus = MeetingStatus.approved, *, id_: str = "m-1",
            start: str = "2026-03-13T19:00:00Z", name: str = "Ana Lima") -> Meeting:
    begins = datetime.fromisoformat(start)
    return Meeting(
        id=id_, status=status, attendee_name=name, email="ana@example.com",
        date=begins.date(), start_time=begins.time(), end_time=(begins + timedelta(minutes=45)
                                                                ).time(),
        duration_minutes=45, timezone="America/New_York", start=begins,
        end=begins + timedelta(minutes=45), created_at=NOW, updated_at=NOW,
    )


def test_the_feed_is_a_publishable_calendar_of_the_meetings() -> None:
    """feed(): METHOD:PUBLISH, a name, one VEVENT per meeting with UID, UTC start/end, summary."""
    first, second = meeting(), meeting(id_="m-2", start="2026-03-14T09:00:00Z", name="Bo Li")

    calendar = Calendar.from_ical(calendar_feed.feed([first, second], organizer=SENDER))

    assert (calendar["method"], calendar["version"]) == ("PUBLISH", "2.0")
    assert str(calendar["x-wr-calname"]) == "Regatta meetings"
    assert [e.uid for e in calendar.events] == ["m-1@meetings.regatta", "m-2@meetings.regatta"]
    event = calendar.events[0]
    assert (event.start, event.end) == (first.start, first.end)
    assert event.start.tzinfo is not None and event.start.utcoffset() == timedelta(0)
    assert str(event["summary"]) == "Meeting with Ana Lima"
    assert str(event["status"]) == "CONFIRMED"
    assert event["dtstamp"].dt == NOW


def test_an_empty_feed_is_still_a_valid_calendar() -> None:
    """No approved meetings: a calendar with no events, which calendar apps accept."""
    calendar = Calendar.from_ical(calendar_feed.feed([], organizer=SENDER))
    assert calendar.events == []
    assert calendar["prodid"] == calendar_feed.PRODID


def test_the_invitation_is_an_itip_request_to_the_attendee() -> None:
    """invitation(): METHOD:REQUEST, the attendee with their name, the sender as organizer."""
    calendar = Calendar.from_ical(calendar_feed.invitation(meeting(), organizer=SENDER))

    assert calendar["method"] == "REQUEST"
    (event,) = calendar.events
    (attendee,) = event.attendees
    assert str(attendee) == "mailto:ana@example.com"
    assert attendee.params["CN"] == "Ana Lima"
    assert str(event.organizer) == "mailto:meetings@example.com"
    assert event.organizer.params["CN"] == "Meety"
    assert event["sequence"] == 0


def test_the_cancellation_supersedes_the_invitation() -> None:
    """cancellation(): METHOD:CANCEL, the same UID, STATUS:CANCELLED and a higher SEQUENCE."""
    invite = Calendar.from_ical(calendar_feed.invitation(meeting(), organizer=SENDER))
    cancel = Calendar.from_ical(calendar_feed.cancellation(
        meeting(MeetingStatus.cancelled), organizer=SENDER))

    assert cancel["method"] == "CANCEL"
    assert cancel.events[0].uid == invite.events[0].uid
    assert str(cancel.events[0]["status"]) == "CANCELLED"
    assert cancel.events[0]["sequence"] > invite.events[0]["sequence"]


@pytest.mark.parametrize("name", ["Zoë O'Brien, Jr.", "李小龍", 'Ana "Nana" Lima; x'])
def test_names_with_punctuation_and_scripts_round_trip(name: str) -> None:
    """Commas, quotes, semicolons and non-Latin names survive iCalendar escaping."""
    calendar = Calendar.from_ical(calendar_feed.invitation(meeting(name=name), organizer=SENDER))
    (event,) = calendar.events
    assert str(event["summary"]) == f"Meeting with {name}"
    assert event.attendees[0].params["CN"] == name
