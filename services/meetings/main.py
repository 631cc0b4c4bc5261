"""The meetings API process: ``uvicorn services.meetings.main:app``."""

from __future__ import annotations

from fastapi import FastAPI

from services.meetings.api import router
from services.meetings.container import build_container
from services.meetings.settings import MeetingsSettings
from shared.http import ServiceSpec, create_app, table_ready


def build_app(settings: MeetingsSettings | None = None) -> FastAPI:
    return create_app(
        ServiceSpec(
            name="meetings",
            prefix="/meetings",
            routers=[router],
            container=build_container,
            ready_check=table_ready("meetings"),
            idempotency_table="meetings-idempotency",
            clients=("dynamodb",),
            description="Meety: book meetings by chatting; admins approve them and get a "
            "calendar feed; attendees get their invitation by e-mail.",
        ),
        settings or MeetingsSettings.load(),
    )


app = build_app()
