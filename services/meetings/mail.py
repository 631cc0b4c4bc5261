"""The mail Meety sends: what each meeting event tells whom, built as MIME, sent through SES.

Building a message is pure; ``Mailer`` is the only part that talks to AWS.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, Protocol

from services.meetings import calendar_feed
from services.meetings.models import Meeting, MeetingStatus

if TYPE_CHECKING:
    from types_aiobotocore_ses import SESClient

# Status -> (file name, iTIP method, builder) of the calendar file the attendee gets.
ATTACHMENTS = {
    MeetingStatus.approved: ("invitation.ics", "REQUEST", calendar_feed.invitation),
    MeetingStatus.cancelled: ("cancel.ics", "CANCEL", calendar_feed.cancellation),
}


def _say_date(day: date) -> str:
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"


def _say_time(moment: time) -> str:
    minutes = f":{moment.minute:02d}" if moment.minute else ""
    return f"{moment.hour % 12 or 12}{minutes} {'AM' if moment.hour < 12 else 'PM'}"


def _when(meeting: Meeting) -> str:
    return (f"{_say_date(meeting.date)}, {_say_time(meeting.start_time)} to "
            f"{_say_time(meeting.end_time)} ({meeting.timezone})")


def _envelope(subject: str, *, sender: str, to: str | Address, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    # Derived from the event id: should a crash make SES send one event's mail twice, mail
    # clients still see a single message.
    domain = parseaddr(sender)[1].rpartition("@")[2]
    message["Message-ID"] = f"<{message_id}@{domain}>"
    return message


def request_notice(meeting: Meeting, *, sender: str, admin: str, message_id: str) -> EmailMessage:
    """Tells the admins that someone asked for a meeting."""
    message = _envelope(
        f"Meeting request: {meeting.attendee_name}, {_say_date(meeting.date)} at "
        f"{_say_time(meeting.start_time)}",
        sender=sender, to=admin, message_id=message_id,
    )
    message["Date"] = format_datetime(meeting.created_at)
    message.set_content(
        f"{meeting.attendee_name} <{meeting.email}> asked Meety for a meeting.\n\n"
        f"When:     {_when(meeting)}\n"
        f"Length:   {meeting.duration_minutes} minutes\n"
        f"Request:  {meeting.id}\n\n"
        f"Approve or reject it: PATCH /meetings/{meeting.id} with "
        '{"status": "approved"} or {"status": "rejected"}.\n'
    )
    return message


def digest_notice(held: list[tuple[str, Meeting]], *, start: datetime, end: datetime,
                  key: str, mailed: int, sender: str, admin: str) -> EmailMessage:
    """Tells the admins about the requests of one cap window that were not mailed one by one
    (``held``: event id and meeting, in the order they came). Its Message-ID derives from the
    window (``key``): a digest sent again after a crash is the same message."""
    count = len(held)
    requests = "request" if count == 1 else "requests"
    message = _envelope(f"Meeting requests: {count} more {requests} (digest)", sender=sender,
                        to=admin, message_id=f"digest-{key}")
    message["Date"] = format_datetime(end)
    lines = [
        f"{count} more meeting {requests} arrived between {_instant(start)} and "
        f"{_instant(end)}, after the {mailed} mailed one by one in that time (the cap on "
        "request e-mails). Each waits for a decision like any other:\n",
    ]
    for _, meeting in held:
        lines.append(
            f"- {meeting.attendee_name} <{meeting.email}>, asked {_instant(meeting.created_at)}\n"
            f"  When:    {_when(meeting)}, {meeting.duration_minutes} minutes\n"
            f"  Request: {meeting.id}  (PATCH /meetings/{meeting.id})\n")
    lines.append('Approve or reject each: PATCH /meetings/{id} with {"status": "approved"} or '
                 '{"status": "rejected"}; GET /meetings/pending lists every request waiting.\n')
    message.set_content("\n".join(lines))
    return message


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_DECISIONS = {
    MeetingStatus.approved: (
        "Your meeting on {day} is confirmed",
        "your meeting on {when} is confirmed. The attached invitation adds it to your "
        "calendar.",
    ),
    MeetingStatus.rejected: (
        "Your meeting request for {day} was declined",
        "sorry, we cannot meet on {when}. Meety will gladly find you another time.",
    ),
    MeetingStatus.cancelled: (
        "Cancelled: your meeting on {day}",
        "your meeting on {when} is cancelled. The attachment removes it from your calendar.",
    ),
}


def decision_notice(meeting: Meeting, *, sender: str, message_id: str) -> EmailMessage:
    """Tells the attendee that their meeting was approved, rejected or cancelled.

    An approval carries an invitation (METHOD:REQUEST), a cancellation a METHOD:CANCEL.
    """
    subject, text = _DECISIONS[meeting.status]
    day = f"{_say_date(meeting.date)} at {_say_time(meeting.start_time)}"
    attendee = Address(display_name=meeting.attendee_name, addr_spec=meeting.email)
    message = _envelope(subject.format(day=day), sender=sender, to=attendee,
                        message_id=message_id)
    message["Date"] = format_datetime(meeting.updated_at)
    message.set_content(f"Hi {meeting.attendee_name},\n\n{text.format(when=_when(meeting))}\n\n"
                        f"Meety\n")
    if meeting.status in ATTACHMENTS:
        filename, method, build = ATTACHMENTS[meeting.status]
        message.add_attachment(build(meeting, organizer=sender), maintype="text",
                               subtype="calendar", filename=filename,
                               params={"method": method, "charset": "utf-8"})
    return message


class MailSender(Protocol):
    """What the consumers need of a mailer: `Mailer`, or a test's double."""

    async def send(self, message: EmailMessage) -> str: ...


class Mailer:
    """Sends MIME messages with SES SendRawEmail; sender and recipients come from the headers."""

    def __init__(self, ses: SESClient) -> None:
        self.ses = ses

    async def send(self, message: EmailMessage) -> str:
        """Send ``message``; returns SES's message id."""
        response = await self.ses.send_raw_email(RawMessage={"Data": message.as_bytes()})
        return str(response["MessageId"])
