"""Queue handlers of the meetings service."""

from __future__ import annotations

from services.meetings import mail
from services.meetings.models import Meeting
from services.meetings.store import MEETING_EVENTS
from shared.events import CloudEvent
from shared.logging import get_logger

log = get_logger("meetings.consumers")

REQUESTED = MEETING_EVENTS.type_of("meeting.requested")
DECIDED = {
    MEETING_EVENTS.type_of("meeting.approved"),
    MEETING_EVENTS.type_of("meeting.rejected"),
    MEETING_EVENTS.type_of("meeting.cancelled"),
}


class Notifier:
    """E-mails the admins about new requests and attendees about decisions, once per event."""

    def __init__(self, mailer: mail.Mailer, *, sender: str, admin: str) -> None:
        self.mailer = mailer
        self.sender = sender
        self.admin = admin

    async def __call__(self, event: CloudEvent) -> None:
        if event.type != REQUESTED and event.type not in DECIDED:
            return
        meeting = Meeting.model_validate(event.data)
        if event.type == REQUESTED:
            message = mail.request_notice(meeting, sender=self.sender, admin=self.admin,
                                          message_id=event.id)
        else:
            message = mail.decision_notice(meeting, sender=self.sender, message_id=event.id)
        ses_id = await self.mailer.send(message)
        log.info("mail.sent", meeting_id=meeting.id, status=meeting.status.value,
                 ses_message_id=ses_id)
