"""The meetings worker's mail, read back from the emulator's SES: who gets what, exactly once.

Each test's attendee has an address of their own, so its mail is told apart from the others'.
"""

from __future__ import annotations

from email.message import EmailMessage

import httpx
import pytest
from icalendar import Calendar
from meetings_http import (
    Mailbox,
    approved,
    book,
    calendar_attachments,
    fresh_workday,
    set_status,
    unique_email,
)

from devkit.testing import LocalStack, eventually, queue_depth
from shared.aws import AwsClients
from shared.events import EventPublisher, event_type, new_event

ADMIN = "admin@example.com"
SENDER = "Meety <meetings@example.com>"


@pytest.fixture(scope="module")
def mailbox(stack: LocalStack) -> Mailbox:
    return Mailbox(stack.emulator.url)


async def delivered(mailbox: Mailbox, address: str, count: int) -> list[EmailMessage]:
    """The mail to ``address`` once ``count`` messages have arrived (waiting for the worker)."""

    async def arrived() -> list[EmailMessage]:
        messages = await mailbox.to(address)
        assert len(messages) >= count, f"{len(messages)} of {count} messages so far"
        return messages

    return list(await eventually(arrived, timeout=30))


async def drained(aws: AwsClients, stack: LocalStack) -> None:
    """Wait until the notifications queue holds nothing, visible or in flight."""

    async def empty() -> bool:
        depth = await queue_depth(aws, stack.resources, "meetings-notifications")
        assert depth == {"visible": 0, "in_flight": 0}, depth
        return True

    await eventually(empty, timeout=60)


async def test_a_request_mails_the_admins(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    """meeting.requested: one message to the admins' address naming who, when and the id."""
    address = unique_email()
    meeting = await book(client, fresh_workday(), "2pm", name="Ana Lima", address=address)

    async def arrived() -> list[EmailMessage]:
        found = await mailbox.mentioning(meeting["id"])
        assert found
        return found

    (message,) = await eventually(arrived, timeout=30)
    assert message["To"] == ADMIN
    assert message["From"] == SENDER
    assert message["Subject"].startswith("Meeting request: Ana Lima, ")
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert address in body and "2 PM to 2:30 PM" in body
    assert not list(message.iter_attachments())


async def test_an_approval_mails_the_attendee_an_invitation(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], mailbox: Mailbox
) -> None:
    """meeting.approved: the attendee gets a METHOD:REQUEST invitation matching the meeting."""
    address = unique_email()
    meeting = await approved(client, headers["admin"], fresh_workday(), "10am", minutes=45,
                             name="Ana Lima", address=address)

    (message,) = await delivered(mailbox, address, 1)

    assert message["To"].addresses[0].addr_spec == address
    assert message["To"].addresses[0].display_name == "Ana Lima"
    assert "is confirmed" in message["Subject"]
    ((filename, content, method),) = calendar_attachments(message)
    assert (filename, method) == ("invitation.ics", "REQUEST")
    calendar = Calendar.from_ical(content)
    assert calendar["method"] == "REQUEST"
    (event,) = calendar.events
    assert event.uid == f"{meeting['id']}@meetings.regatta"
    assert event.start.isoformat() == meeting["start"].replace("Z", "+00:00")
    assert event.end.isoformat() == meeting["end"].replace("Z", "+00:00")
    assert [str(a) for a in event.attendees] == [f"mailto:{address}"]
    assert str(event.organizer) == "mailto:meetings@example.com"


async def test_a_rejection_mails_the_attendee_without_an_invitation(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], mailbox: Mailbox
) -> None:
    """meeting.rejected: a plain message to the attendee, no calendar file."""
    address = unique_email()
    meeting = await book(client, fresh_workday(), address=address)
    assert (await set_status(client, headers["admin"], meeting["id"], "rejected")).status_code \
        == 200

    (message,) = await delivered(mailbox, address, 1)

    assert "declined" in message["Subject"]
    assert calendar_attachments(message) == []


async def test_a_cancellation_mails_a_cancel_for_the_same_event(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], mailbox: Mailbox
) -> None:
    """meeting.cancelled: METHOD:CANCEL with the invitation's UID and a higher SEQUENCE."""
    address = unique_email()
    meeting = await approved(client, headers["admin"], fresh_workday(), address=address)
    await set_status(client, headers["admin"], meeting["id"], "cancelled")

    messages = await delivered(mailbox, address, 2)

    # The relay may publish both events in one call and the worker mail them at once, so
    # either message can land first: tell them apart by their attachment's method.
    found = {method: (filename, ics) for message in messages
             for filename, ics, method in calendar_attachments(message)}
    assert set(found) == {"REQUEST", "CANCEL"} and found["CANCEL"][0] == "cancel.ics"
    invite_ics, cancel_ics = found["REQUEST"][1], found["CANCEL"][1]
    invite, cancel = Calendar.from_ical(invite_ics).events[0], Calendar.from_ical(
        cancel_ics).events[0]
    assert Calendar.from_ical(cancel_ics)["method"] == "CANCEL"
    assert cancel.uid == invite.uid
    assert cancel["status"] == "CANCELLED"
    assert cancel["sequence"] > invite["sequence"]


async def test_every_event_of_a_meeting_sends_exactly_one_message(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], mailbox: Mailbox,
    aws: AwsClients, stack: LocalStack,
) -> None:
    """requested, approved, cancelled: one admin message and two attendee messages, no more."""
    address = unique_email()
    meeting = await approved(client, headers["admin"], fresh_workday(), address=address)
    await set_status(client, headers["admin"], meeting["id"], "cancelled")

    await delivered(mailbox, address, 2)
    await drained(aws, stack)

    assert len(await mailbox.to(address)) == 2
    assert len(await mailbox.mentioning(meeting["id"])) == 1


async def test_a_duplicated_event_is_mailed_once(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], mailbox: Mailbox,
    aws: AwsClients, stack: LocalStack,
) -> None:
    """The same meeting.approved event delivered twice (same id) sends one message."""
    address = unique_email()
    meeting = await book(client, fresh_workday(), address=address)
    await drained(aws, stack)
    event = new_event("regatta/meetings", event_type("meetings", "meeting.approved"),
                      {**meeting, "status": "approved", "version": 2}, subject=meeting["id"])
    publisher = EventPublisher(await aws.client("sns"),
                               stack.resources.topic_arn("meetings-events"))

    await publisher.publish([event])
    await publisher.publish([event])

    await delivered(mailbox, address, 1)
    await drained(aws, stack)
    assert len(await mailbox.to(address)) == 1
    other = new_event("regatta/meetings", event_type("meetings", "meeting.approved"),
                      {**meeting, "status": "approved", "version": 2}, subject=meeting["id"])
    await publisher.publish([other])
    await delivered(mailbox, address, 2)  # the control: a different event id is mailed
