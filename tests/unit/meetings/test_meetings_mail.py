"""The mail Meety sends, built without I/O: recipients, subjects, bodies and attachments."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from icalendar import Calendar

from services.meetings import mail
from services.meetings.models import Meeting, MeetingStatus

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
SENDER = "Meety <meetings@example.com>"
ADMIN = "admins@example.com"


def meeting(status: MeetingStatus = MeetingStatus.pending, name: str = "Ana Lima") -> Meeting:
    begins = datetime(2026, 3, 13, 19, 0, tzinfo=UTC)
    return Meeting(
        id="6ac82a4b-6cc9-479c-bed5-b375774777fe", status=status, attendee_name=name,
        email="ana@example.com", date=begins.date(), start_time=datetime(2026, 1, 1, 15).time(),
        end_time=datetime(2026, 1, 1, 15, 30).time(), duration_minutes=30,
        timezone="America/New_York", start=begins, end=begins + timedelta(minutes=30),
        created_at=NOW, updated_at=NOW + timedelta(hours=1),
    )


def sent(message: EmailMessage) -> EmailMessage:
    """The message as the recipient's mail client parses it from the wire."""
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def calendars(message: EmailMessage) -> list[tuple[str | None, str | None, Calendar]]:
    return [(part.get_filename(), part.get_param("method"),
             Calendar.from_ical(part.get_payload(decode=True)))
            for part in message.iter_attachments() if part.get_content_type() == "text/calendar"]


def test_a_request_notice_goes_to_the_admins_with_the_details() -> None:
    """To the admins' address, from the sender; who, when (local, with zone), length and id."""
    message = sent(mail.request_notice(meeting(), sender=SENDER, admin=ADMIN,
                                       message_id="event-1"))

    assert (message["To"], message["From"]) == (ADMIN, SENDER)
    assert message["Subject"] == "Meeting request: Ana Lima, Friday, March 13, 2026 at 3 PM"
    body = text_of(message)
    assert "Ana Lima <ana@example.com>" in body
    assert "Friday, March 13, 2026, 3 PM to 3:30 PM (America/New_York)" in body
    assert "30 minutes" in body and meeting().id in body
    assert calendars(message) == []


def test_the_message_id_comes_from_the_event_id() -> None:
    """The same event always makes the same Message-ID, so clients fold a resent copy."""
    first = mail.request_notice(meeting(), sender=SENDER, admin=ADMIN, message_id="event-1")
    again = mail.request_notice(meeting(), sender=SENDER, admin=ADMIN, message_id="event-1")
    other = mail.request_notice(meeting(), sender=SENDER, admin=ADMIN, message_id="event-2")

    assert first["Message-ID"] == again["Message-ID"] == "<event-1@example.com>"
    assert other["Message-ID"] != first["Message-ID"]


def test_an_approval_carries_an_invitation() -> None:
    """approved: to the attendee by name, 'confirmed', invitation.ics as text/calendar REQUEST."""
    message = sent(mail.decision_notice(meeting(MeetingStatus.approved), sender=SENDER,
                                        message_id="event-2"))

    (recipient,) = message["To"].addresses
    assert (recipient.display_name, recipient.addr_spec) == ("Ana Lima", "ana@example.com")
    assert message["Subject"] == "Your meeting on Friday, March 13, 2026 at 3 PM is confirmed"
    assert "Hi Ana Lima," in text_of(message)
    ((filename, method, calendar),) = calendars(message)
    assert (filename, method, calendar["method"]) == ("invitation.ics", "REQUEST", "REQUEST")
    assert calendar.events[0].uid == f"{meeting().id}@meetings.regatta"


def test_a_rejection_is_plain_text() -> None:
    """rejected: a polite 'declined' message to the attendee and no calendar file."""
    message = sent(mail.decision_notice(meeting(MeetingStatus.rejected), sender=SENDER,
                                        message_id="event-3"))

    assert message["Subject"] == "Your meeting request for Friday, March 13, 2026 at 3 PM " \
        "was declined"
    assert "another time" in text_of(message)
    assert calendars(message) == []


def test_a_cancellation_carries_a_cancel() -> None:
    """cancelled: cancel.ics as text/calendar METHOD=CANCEL for the same event."""
    message = sent(mail.decision_notice(meeting(MeetingStatus.cancelled), sender=SENDER,
                                        message_id="event-4"))

    assert message["Subject"].startswith("Cancelled: your meeting on Friday, March 13, 2026")
    ((filename, method, calendar),) = calendars(message)
    assert (filename, method, calendar["method"]) == ("cancel.ics", "CANCEL", "CANCEL")
    assert str(calendar.events[0]["status"]) == "CANCELLED"


def test_a_pending_meeting_has_no_decision_to_tell() -> None:
    """decision_notice() is only for decided meetings; a pending one is a programming error."""
    with pytest.raises(KeyError):
        mail.decision_notice(meeting(), sender=SENDER, message_id="event-5")


@pytest.mark.parametrize("name", ["Zoë O'Brien, Jr.", "李小龍", 'Ana "Nana" Lima'])
def test_any_name_makes_a_valid_address_header(name: str) -> None:
    """Commas, quotes and non-ASCII names are encoded, never split into several recipients."""
    message = sent(mail.decision_notice(meeting(MeetingStatus.approved, name=name),
                                        sender=SENDER, message_id="event-6"))

    (recipient,) = message["To"].addresses
    assert (recipient.display_name, recipient.addr_spec) == (name, "ana@example.com")


class FakeSes:
    """Stands in for the SES client: records what SendRawEmail received."""

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    async def send_raw_email(self, **request: object) -> dict[str, str]:
        self.calls.append(request)
        return {"MessageId": "ses-1"}


async def test_the_mailer_sends_the_mime_bytes_and_lets_headers_address_them() -> None:
    """Mailer.send(): one SendRawEmail with the message bytes; no Source/Destinations override."""
    ses = FakeSes()
    message = mail.request_notice(meeting(), sender=SENDER, admin=ADMIN, message_id="e")

    assert await mail.Mailer(ses).send(message) == "ses-1"
    assert ses.calls == [{"RawMessage": {"Data": message.as_bytes()}}]
