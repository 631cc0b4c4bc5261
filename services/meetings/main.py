"""The meetings API process: ``uvicorn services.meetings.main:app``."""

from __future__ import annotations

from fastapi import FastAPI

from services.meetings.api import router
from services.meetings.events import MEETING_EVENTS
from services.meetings.settings import MeetingsSettings
from services.meetings.store import CalendarLinks, ConversationStore, MeetingStore
from shared.http import ServiceSpec, create_app, table_ready
from shared.outbox import open_outbox


async def on_startup(app: FastAPI) -> None:
    aws, resources = app.state.aws, app.state.resources
    dynamodb = await aws.client("dynamodb")
    outbox = await open_outbox(aws, resources, MEETING_EVENTS)
    app.state.store = MeetingStore(dynamodb, meetings_table=resources.table("meetings"),
                                   outbox=outbox)
    app.state.calendar_links = CalendarLinks(dynamodb, resources.table("meetings"))
    app.state.conversations = ConversationStore(
        dynamodb, sessions_table=resources.table("meeting-sessions"),
        meetings_table=resources.table("meetings"), outbox=outbox,
        remember=app.state.settings.meetings_remembered_conversations,
    )


def build_app(settings: MeetingsSettings | None = None) -> FastAPI:
    return create_app(
        ServiceSpec(
            name="meetings",
            prefix="/meetings",
            routers=[router],
            on_startup=on_startup,
            ready_check=table_ready("meetings"),
            idempotency_table="meetings-idempotency",
            clients=("dynamodb",),
            description="Meety: book meetings by chatting; admins approve them and get a "
            "calendar feed; attendees get their invitation by e-mail.",
        ),
        settings or MeetingsSettings.load(),
    )


app = build_app()
