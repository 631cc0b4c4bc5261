"""Request, response and domain models of the meetings service."""

from __future__ import annotations

import datetime as dt
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from services.meetings.dialog import ConfirmationState, DialogState, MeetingSlots, Session

_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")


def valid_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows, else ValueError."""
    # The pattern keeps paths and odd bytes away from zoneinfo's file lookup.
    if len(name) > 64 or not _ZONE_NAME.fullmatch(name):
        raise ValueError(f"{name[:64]!r} is not an IANA time zone such as 'Europe/Paris'")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{name!r} is not an IANA time zone such as 'Europe/Paris'") from None
    return name


def utc_text(moment: datetime) -> str:
    """The stored form of an instant: ISO 8601 in UTC to the second, e.g. 2026-03-13T15:00:00Z.

    One fixed width and zone, so that string order is time order on the by-status index.
    """
    # isoformat, not strftime: "%Y" drops the leading zeros of years below 1000 on glibc.
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def _in_utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError("a time zone offset is required")
    return moment.astimezone(UTC).replace(microsecond=0)


Timezone = Annotated[str, AfterValidator(valid_timezone)]
Instant = Annotated[datetime, AfterValidator(_in_utc), PlainSerializer(utc_text, return_type=str)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChatRequest(_Input):
    """Body of POST /meetings/chat: one thing the user said."""

    session_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,128}$")] | None = (
        Field(default=None, description="From the previous reply; omit to start a conversation")
    )
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=1024)]
    timezone: Timezone | None = Field(
        default=None, description="IANA zone the user speaks in, e.g. 'America/New_York'"
    )


class MeetingStatus(StrEnum):
    """Where a meeting request is in its life; see logic.TRANSITIONS for the moves."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    cancelled = "cancelled"


class Meeting(BaseModel):
    """A meeting request as stored and as returned."""

    id: str
    status: MeetingStatus
    attendee_name: str
    email: str
    date: dt.date = Field(description="Local date, in the meeting's time zone")
    start_time: dt.time = Field(description="Local start time")
    end_time: dt.time = Field(description="Local end time")
    duration_minutes: int
    timezone: str
    start: Instant = Field(description="Start instant, UTC")
    end: Instant = Field(description="End instant, UTC")
    version: int = 1
    created_at: Instant
    updated_at: Instant


class DialogView(BaseModel):
    """The conversation's state in Amazon Lex V2's vocabulary."""

    intent: str | None
    state: DialogState
    slot_to_elicit: str | None
    slots: MeetingSlots
    confirmation: ConfirmationState

    @classmethod
    def of(cls, session: Session) -> DialogView:
        return cls(intent=session.intent, state=session.state,
                   slot_to_elicit=session.slot_to_elicit, slots=session.slots,
                   confirmation=session.confirmation)


class ChatReply(BaseModel):
    """Meety's answer; send ``session_id`` back with the next message."""

    session_id: str
    messages: list[str]
    dialog: DialogView
    meeting: Meeting | None = Field(default=None,
                                    description="The request this turn created, if any")


class MeetingStatusChange(_Input):
    """Body of PATCH /meetings/{id}."""

    status: MeetingStatus


class MeetingPage(BaseModel):
    """One page of meetings in start order; pass ``next_cursor`` back as ``cursor``."""

    items: list[Meeting]
    next_cursor: str | None = None


class CalendarLink(BaseModel):
    """A calendar feed link: GET /meetings/calendar.ics?key=... without a token."""

    id: str
    created_by: str
    created_at: Instant


class NewCalendarLink(CalendarLink):
    """A link as created: the only time its key is shown (only a hash of it is kept)."""

    key: str
    url: str = Field(description="The feed with this key, to subscribe to in a calendar app")
