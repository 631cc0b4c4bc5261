"""What the meetings API works with: the meetings, the conversations and the calendar links,
built once per process by `build_container` (the API's ``ServiceSpec.container``). The
worker's mailer and mail ledger are its own (``worker.build``)."""

from __future__ import annotations

from dataclasses import dataclass

from services.meetings.events import MEETING_EVENTS
from services.meetings.settings import MeetingsSettings
from services.meetings.store import CalendarLinks, ConversationStore, MeetingStore
from shared.aws import AwsClients
from shared.outbox import open_outbox
from shared.topology import Resources


@dataclass(frozen=True)
class MeetingsContainer:
    store: MeetingStore
    conversations: ConversationStore
    calendar_links: CalendarLinks


async def build_container(aws: AwsClients, resources: Resources) -> MeetingsContainer:
    settings = MeetingsSettings.of(aws.settings)
    dynamodb = await aws.client("dynamodb")
    outbox = await open_outbox(aws, resources, MEETING_EVENTS)
    return MeetingsContainer(
        store=MeetingStore(dynamodb, meetings_table=resources.table("meetings"), outbox=outbox),
        conversations=ConversationStore(
            dynamodb, sessions_table=resources.table("meeting-sessions"),
            meetings_table=resources.table("meetings"), outbox=outbox,
            remember=settings.meetings_remembered_conversations),
        calendar_links=CalendarLinks(dynamodb, resources.table("meetings")),
    )
