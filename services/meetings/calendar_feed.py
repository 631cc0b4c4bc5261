"""iCalendar files (RFC 5545, 5546): the admins' feed; an attendee's invitation or cancellation.

One meeting keeps one UID everywhere, so a calendar app that imported the feed or the
invitation recognises the cancellation as the same event.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.utils import parseaddr

from icalendar import STATUS, Calendar, Event, vCalAddress

from services.meetings.models import Meeting, MeetingStatus

PRODID = "-//Regatta//Meety meetings//EN"
CALENDAR_NAME = "Regatta meetings"
# RFC 5546: a cancellation must carry a higher SEQUENCE than the request it cancels.
SEQUENCE = {MeetingStatus.approved: 0, MeetingStatus.cancelled: 1}


def event_uid(meeting_id: str) -> str:
    """The iCalendar UID of a meeting, stable across the feed, invitation and cancellation."""
    return f"{meeting_id}@meetings.regatta"


def _organizer(sender: str) -> vCalAddress:
    name, address = parseaddr(sender)
    return vCalAddress.new(address, cn=name or None)


def _event(meeting: Meeting, *, organizer: str) -> Event:
    cancelled = meeting.status is MeetingStatus.cancelled
    return Event.new(
        uid=event_uid(meeting.id),
        # DTSTAMP is when this version of the meeting came to be: the same meeting in the
        # same state always gives the same file.
        stamp=meeting.updated_at,
        start=meeting.start,
        end=meeting.end,
        sequence=SEQUENCE.get(meeting.status, 0),
        status=STATUS.CANCELLED if cancelled else STATUS.CONFIRMED,
        summary=f"Meeting with {meeting.attendee_name}",
        description=(
            f"Meeting with {meeting.attendee_name} ({meeting.email}), "
            f"{meeting.duration_minutes} minutes. Booked through Meety, request {meeting.id}."
        ),
        organizer=_organizer(organizer),
        attendees=[
            vCalAddress.new(meeting.email, cn=meeting.attendee_name, role="REQ-PARTICIPANT",
                            partstat="NEEDS-ACTION", rsvp=False)
        ],
    )


def feed(meetings: Iterable[Meeting], *, organizer: str) -> bytes:
    """A subscribable calendar (METHOD:PUBLISH) holding ``meetings``."""
    calendar = Calendar.new(
        prodid=PRODID,
        method="PUBLISH",
        name=CALENDAR_NAME,
        subcomponents=[_event(m, organizer=organizer) for m in meetings],
    )
    return bytes(calendar.to_ical())


def invitation(meeting: Meeting, *, organizer: str) -> bytes:
    """The attendee's copy of an approved meeting (METHOD:REQUEST)."""
    return _scheduling_message(meeting, "REQUEST", organizer=organizer)


def cancellation(meeting: Meeting, *, organizer: str) -> bytes:
    """The attendee's notice that an approved meeting is off (METHOD:CANCEL)."""
    return _scheduling_message(meeting, "CANCEL", organizer=organizer)


def _scheduling_message(meeting: Meeting, method: str, *, organizer: str) -> bytes:
    calendar = Calendar.new(prodid=PRODID, method=method,
                            subcomponents=[_event(meeting, organizer=organizer)])
    return bytes(calendar.to_ical())
