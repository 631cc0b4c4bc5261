"""HTTP routes of the meetings service (prefix /meetings)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.datastructures import URL

from services.meetings import calendar_feed, logic
from services.meetings.container import MeetingsContainer
from services.meetings.dialog import (
    Interval,
    SchedulingRules,
    Session,
    candidate_day,
    expecting,
    step,
)
from services.meetings.models import (
    ChatReply,
    ChatRequest,
    DialogView,
    Meeting,
    MeetingPage,
    MeetingStatus,
    MeetingStatusChange,
    NewCalendarLink,
    Timezone,
)
from services.meetings.nlu import understand
from services.meetings.settings import MeetingsSettings
from services.meetings.store import (
    CalendarLinks,
    Conversation,
    ConversationStore,
    MeetingStore,
    StaleConversationError,
)
from shared.auth import AdminUser, OptionalUser, ensure_admin
from shared.dynamo import decode_cursor, encode_cursor
from shared.errors import AuthError, ProblemError
from shared.faults import fault_point
from shared.http import Responses, from_container, settings_of
from shared.idempotency_keys import IDEMPOTENT_CREATE, IdempotentRoute, NewId
from shared.ratelimit import RATE_LIMITED, ClientRateLimited

router = APIRouter(prefix="/meetings", tags=["meetings"], route_class=IdempotentRoute)


Store = Annotated[MeetingStore, Depends(from_container(MeetingsContainer, lambda c: c.store))]
Conversations = Annotated[ConversationStore,
                          Depends(from_container(MeetingsContainer, lambda c: c.conversations))]
Links = Annotated[CalendarLinks,
                  Depends(from_container(MeetingsContainer, lambda c: c.calendar_links))]
Settings = Annotated[MeetingsSettings, Depends(settings_of(MeetingsSettings))]
MeetingId = Annotated[str, "the meeting's id"]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]
ZoneQuery = Annotated[Timezone | None, Query(description="IANA zone of from/to; default: the "
                                             "service's (UTC unless configured)")]

ADMINS: Responses = {401: {"description": "No valid bearer token"},
                     403: {"description": "Not in the admins group"}}
NOT_FOUND: Responses = {404: {"description": "No meeting has this id"}}
ICS = "text/calendar"


@router.post("/chat", summary="Talk to Meety, the scheduling assistant (anyone)",
             responses={409: {"description": "Another message of this conversation is being "
                                             "handled right now"}, **RATE_LIMITED})
async def chat(body: ChatRequest, conversations: Conversations, store: Store,
               settings: Settings, _limited: ClientRateLimited) -> ChatReply:
    now = datetime.now(UTC)
    try:
        return await _turn(body, conversations, store, settings, now=now)
    except StaleConversationError:
        # This process remembered an older state: run the turn once more from the table.
        return await _turn(body, conversations, store, settings, now=now, fresh=True)


async def _turn(body: ChatRequest, conversations: ConversationStore, store: MeetingStore,
                settings: MeetingsSettings, *, now: datetime,
                fresh: bool = False) -> ChatReply:
    rules = settings.rules
    notice: list[str] = []
    conversation = (await conversations.load(body.session_id, now=now, fresh=fresh)
                    if body.session_id else None)
    if conversation is None:
        if body.session_id:
            notice.append(logic.SESSION_RESTARTED)
        conversation = Conversation(id=logic.new_session_id(), session=Session(),
                                    timezone=settings.meetings_default_timezone)
    timezone = body.timezone or conversation.timezone
    session = conversation.session
    understanding = understand(body.text, now=now, timezone=timezone,
                               expecting=expecting(session), day_first=settings.meetings_day_first,
                               business_hours=rules.business_hours)
    turn = step(session, understanding, now=now, timezone=timezone, rules=rules)
    day = candidate_day(session, understanding, now=now, rules=rules)
    # step() only looks at busy times to check a clash, which it does once date, time and
    # length are all known: a first pass without them tells whether this turn needs the Query.
    if day is not None and logic.checks_clashes(turn.session):
        busy = await _busy_times(store, day, timezone, rules)
        turn = step(session, understanding, now=now, timezone=timezone, rules=rules, busy=busy)
    meeting = logic.new_meeting(turn.draft, now=now) if turn.draft else None
    # A confirmed request commits with the conversation, its meeting.requested event with it.
    await conversations.save(replace(conversation, session=turn.session, timezone=timezone),
                             expires_at=now + rules.idle_timeout, request=meeting)
    return ChatReply(session_id=conversation.id, messages=[*notice, *turn.messages],
                     dialog=DialogView.of(turn.session), meeting=meeting)


async def _busy_times(store: MeetingStore, day: date, timezone: str,
                     rules: SchedulingRules) -> list[Interval]:
    """Local (start, end) times of the approved meetings on ``day``, as step() takes them."""
    since, until = logic.day_bounds(day, timezone)
    # A meeting that started the day before can still run into this one.
    earliest = logic.shifted(since, -timedelta(minutes=rules.max_duration_minutes))
    return logic.busy_intervals(await store.approved_times(earliest, until), day, timezone)


def _window(since: date | None, until: date | None,
            timezone: str) -> tuple[datetime | None, datetime | None]:
    if since and until and since > until:
        raise ProblemError("'from' must not be after 'to'")
    return (logic.day_bounds(since, timezone)[0] if since else None,
            logic.day_bounds(until, timezone)[1] if until else None)


@router.get("", summary="Meetings by status and date, in start order (admins)",
            responses=ADMINS)
async def list_meetings(
    _: AdminUser,
    store: Store,
    settings: Settings,
    status: MeetingStatus = MeetingStatus.approved,
    since: Annotated[date | None, Query(alias="from", description="First day (inclusive)")] = None,
    until: Annotated[date | None, Query(alias="to", description="Last day (inclusive)")] = None,
    timezone: ZoneQuery = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> MeetingPage:
    first, last = _window(since, until, timezone or settings.meetings_default_timezone)
    items, last_key = await store.page(status, since=first, until=last, limit=limit,
                                       after=decode_cursor(cursor))
    return MeetingPage(items=items, next_cursor=encode_cursor(last_key))


@router.get("/pending", summary="Meeting requests waiting for a decision (admins)",
            responses=ADMINS)
async def pending_meetings(_: AdminUser, store: Store, limit: Limit = 20,
                           cursor: Cursor = None) -> MeetingPage:
    items, last_key = await store.page(MeetingStatus.pending, since=None, until=None,
                                       limit=limit, after=decode_cursor(cursor))
    return MeetingPage(items=items, next_cursor=encode_cursor(last_key))


@router.get("/calendar.ics",
            summary="Approved meetings as an iCalendar feed (admins, or a calendar link's key)",
            response_class=Response,
            responses={**ADMINS, 200: {"content": {ICS: {"schema": {"type": "string"}}},
                                       "description": "An RFC 5545 calendar"}})
async def calendar(
    user: OptionalUser,
    _limited: ClientRateLimited,
    links: Links,
    store: Store,
    settings: Settings,
    since: Annotated[date | None, Query(alias="from", description="First day (inclusive)")] = None,
    until: Annotated[date | None, Query(alias="to", description="Last day (inclusive)")] = None,
    timezone: ZoneQuery = None,
    key: Annotated[str | None, Query(max_length=200, description="A calendar link's key "
                                     "(POST /meetings/calendar/links), instead of a token")] = None,
) -> Response:
    if key is None:
        ensure_admin(user, needs="a bearer token or a calendar link's key")
    elif not await links.opens_the_feed(key):
        raise AuthError("this calendar link's key is not valid: revoked, or mistyped")
    first, last = _window(since, until, timezone or settings.meetings_default_timezone)
    meetings = await store.all_in(MeetingStatus.approved, since=first, until=last)
    return Response(calendar_feed.feed(meetings, organizer=settings.meetings_mail_from),
                    media_type=ICS, headers={"Content-Disposition":
                                             'inline; filename="meetings.ics"'})


@router.post("/calendar/links", status_code=status.HTTP_201_CREATED,
             summary="A link to the calendar feed for calendar apps, which send no token "
                     "(admins)", responses={**ADMINS, **IDEMPOTENT_CREATE})
async def create_calendar_link(admin: AdminUser, links: Links, request: Request,
                               settings: Settings, link_id: NewId) -> NewCalendarLink:
    link, key = await links.create(uuid.UUID(link_id).hex, created_by=admin.id,
                                   now=datetime.now(UTC))
    fault_point("meetings.calendar_link.committed")
    url = request.url_for("calendar").include_query_params(key=key)
    if settings.public_base_url:  # behind CloudFront the request names the internal ALB
        url = URL(settings.public_base_url + url.path).include_query_params(key=key)
    return NewCalendarLink(**link.model_dump(), key=key, url=str(url))


@router.delete("/calendar/links/{link_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Revoke a calendar feed link (admins)",
               responses={**ADMINS, 404: {"description": "No link has this id"}})
async def revoke_calendar_link(link_id: str, _: AdminUser, links: Links) -> Response:
    await links.revoke(link_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{meeting_id}", summary="One meeting (admins)", responses={**ADMINS, **NOT_FOUND})
async def get_meeting(meeting_id: MeetingId, _: AdminUser, store: Store) -> Meeting:
    return await store.get(meeting_id)


@router.patch(
    "/{meeting_id}",
    summary="Approve, reject or cancel a meeting (admins)",
    description="pending -> approved | rejected; approved -> cancelled. Anything else, and "
    "approving a meeting that overlaps an approved one, is 409 (the body names the allowed "
    "moves or the clashing meetings). Never creates a meeting.",
    responses={**ADMINS, **NOT_FOUND, 409: {"description": "Not an allowed move, or a clash"}},
)
async def change_status(meeting_id: MeetingId, body: MeetingStatusChange, _: AdminUser,
                        store: Store, settings: Settings) -> Meeting:
    meeting = await store.get(meeting_id)
    logic.ensure_transition(meeting, body.status)
    now = datetime.now(UTC)
    if body.status is MeetingStatus.approved:
        meeting = await store.approve(
            meeting, now=now, lookback=timedelta(minutes=settings.meetings_max_duration_minutes),
            ensure_free=logic.ensure_free,
        )
    else:
        meeting = await store.move(meeting, body.status, now=now)
    return meeting
