"""The meetings rules: building requests, the status state machine, clashes, busy times."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.meetings.dialog import Interval, MeetingDraft, Session
from services.meetings.models import Meeting, MeetingStatus
from shared.errors import ConflictError

# The explicit state machine: anything not listed here is refused with 409.
TRANSITIONS: dict[MeetingStatus, tuple[MeetingStatus, ...]] = {
    MeetingStatus.pending: (MeetingStatus.approved, MeetingStatus.rejected),
    MeetingStatus.approved: (MeetingStatus.cancelled,),
    MeetingStatus.rejected: (),
    MeetingStatus.cancelled: (),
}

SESSION_RESTARTED = (
    "I couldn't find our earlier conversation (it may have expired), so let's start over."
)


def new_session_id() -> str:
    """An unguessable conversation id (256 random bits)."""
    return secrets.token_urlsafe(32)


def new_meeting(draft: MeetingDraft, *, now: datetime) -> Meeting:
    """A pending meeting from a confirmed dialog: server-assigned id, version 1."""
    return Meeting(
        id=str(uuid.uuid4()),
        status=MeetingStatus.pending,
        attendee_name=draft.attendee_name,
        email=draft.email,
        date=draft.date,
        start_time=draft.start_time,
        end_time=draft.end_time,
        duration_minutes=draft.duration_minutes,
        timezone=draft.timezone,
        start=draft.starts_at,
        end=draft.ends_at,
        created_at=now,
        updated_at=now,
    )


def ensure_transition(meeting: Meeting, target: MeetingStatus) -> None:
    """ConflictError naming the allowed moves unless ``meeting`` may move to ``target``."""
    allowed = TRANSITIONS[meeting.status]
    if target not in allowed:
        moves = ", ".join(allowed) if allowed else "none, it is final"
        raise ConflictError(
            f"the meeting is {meeting.status}, it cannot become {target} (allowed: {moves})",
            current=meeting.status.value,
            allowed=[status.value for status in allowed],
        )


def moved(meeting: Meeting, target: MeetingStatus, *, now: datetime) -> Meeting:
    """``meeting`` in status ``target`` (the caller checked the move), version bumped."""
    return meeting.model_copy(
        update={"status": target, "version": meeting.version + 1, "updated_at": now}
    )


def overlapping(meeting: Meeting, others: Iterable[Meeting]) -> list[Meeting]:
    """The meetings among ``others`` whose time overlaps ``meeting``'s (touching is fine)."""
    return [
        other for other in others
        if other.id != meeting.id and other.start < meeting.end and meeting.start < other.end
    ]


def ensure_free(meeting: Meeting, approved: Iterable[Meeting]) -> None:
    """ConflictError naming the clashing approved meetings, if there are any."""
    clashes = overlapping(meeting, approved)
    if clashes:
        raise ConflictError(
            f"the meeting overlaps {len(clashes)} approved meeting(s)",
            conflicts=[other.id for other in clashes],
        )


EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, held at the ends of datetime's range rather than overflowing."""
    try:
        return moment + delta
    except OverflowError:
        return EARLIEST if delta < timedelta(0) else LATEST


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    try:
        return datetime.combine(day, time(0), zone).astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of Greenwich is before year 1 in UTC
        return EARLIEST if day.year == 1 else LATEST


def checks_clashes(session: Session) -> bool:
    """Whether the turn that produced ``session`` compared it against busy times.

    The dialog checks a clash exactly when date, time and length are all set after its
    validation, and nothing fills a slot after that check.
    """
    slots = session.slots
    return None not in (slots.date, slots.time, slots.duration_minutes)


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants a local day starts and ends at (23 or 25 hours on DST changes)."""
    zone = ZoneInfo(timezone)
    end = LATEST if day == date.max else _midnight(day + timedelta(days=1), zone)
    return _midnight(day, zone), end


def busy_intervals(
    meetings: Iterable[tuple[datetime, datetime]], day: date, timezone: str
) -> list[Interval]:
    """Local (start, end) times on ``day`` taken by the given UTC intervals, clipped to it."""
    day_start, day_end = day_bounds(day, timezone)
    zone = ZoneInfo(timezone)
    busy: list[Interval] = []
    for start, end in meetings:
        if start >= day_end or end <= day_start:
            continue
        local_start = max(start, day_start).astimezone(zone).time()
        local_end = time.max if end >= day_end else end.astimezone(zone).time()
        busy.append((local_start, local_end))
    return sorted(busy)
