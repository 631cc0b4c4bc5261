"""The cap on request e-mails to the admins and its digest, without I/O: windows, recorded
decisions, due windows, the digest message, and what the notifier and flusher do with them."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from pydantic import ValidationError

from services.meetings import mail
from services.meetings.consumers import REQUESTED, DigestFlusher, Notifier
from services.meetings.mail_cap import (
    MailCap,
    Route,
    Window,
    due_windows,
    parse_stamp,
    route_of,
    stamp,
)
from services.meetings.models import Meeting, MeetingStatus
from services.meetings.settings import MeetingsSettings
from shared.events import CloudEvent

T0 = datetime(2026, 3, 4, 15, 0, 0, 250_000, tzinfo=UTC)
HOUR = timedelta(hours=1)
SENDER = "Meety <meetings@example.com>"
ADMIN = "admins@example.com"


def meeting(n: int = 0, name: str = "Ana Lima") -> Meeting:
    begins = datetime(2026, 3, 13, 14 + n % 4, 0, tzinfo=UTC)
    return Meeting(
        id=f"6ac82a4b-6cc9-479c-bed5-b3757747770{n}", status=MeetingStatus.pending,
        attendee_name=name, email=f"ana.{n}@example.com", date=begins.date(),
        start_time=begins.time(), end_time=(begins + timedelta(minutes=30)).time(),
        duration_minutes=30, timezone="UTC", start=begins, end=begins + timedelta(minutes=30),
        created_at=T0 + timedelta(minutes=n), updated_at=T0 + timedelta(minutes=n),
    )


def wire(message: EmailMessage) -> EmailMessage:
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


# --- windows ---------------------------------------------------------------------------


def test_the_first_request_opens_a_window_at_its_own_time() -> None:
    window = MailCap(20, HOUR).window_at(T0, None)

    assert (window.start, window.end) == (T0, T0 + HOUR)


def test_requests_before_the_end_share_the_window_and_the_end_opens_the_next() -> None:
    cap = MailCap(20, HOUR)
    first = cap.window_at(T0, None)

    assert cap.window_at(T0 + HOUR - timedelta(microseconds=1), first) == first
    later = cap.window_at(T0 + 3 * HOUR, first)
    assert (later.start, later.end) == (T0 + 3 * HOUR, T0 + 4 * HOUR)
    # The end itself belongs to the next window: [start, end).
    assert cap.window_at(T0 + HOUR, first).start == T0 + HOUR


def test_a_clock_behind_the_windows_start_still_uses_the_open_window() -> None:
    """Workers' clocks differ a little: one behind the opener's joins its window."""
    cap = MailCap(20, HOUR)
    first = cap.window_at(T0, None)

    assert cap.window_at(T0 - timedelta(seconds=2), first) == first


def test_the_window_after_a_closed_one_never_overlaps_it() -> None:
    """A request that meets its window closed (a flusher's clock ran ahead) takes the next,
    which starts no earlier than the closed one's end."""
    cap = MailCap(2, HOUR)
    closed = cap.window_at(T0, None)

    following = cap.after(closed, T0 + HOUR - timedelta(seconds=1))
    assert following.start == closed.end and following.end == closed.end + HOUR
    assert cap.after(closed, T0 + 2 * HOUR).start == T0 + 2 * HOUR


def test_window_keys_sort_by_time_and_round_trip() -> None:
    a, b = Window(T0, T0 + HOUR), Window(T0 + timedelta(microseconds=1), T0 + HOUR)

    assert a.key < b.key
    assert a.key == "20260304T150000250000Z"
    assert parse_stamp(a.key) == T0 and Window.of(a.key, stamp(a.end)) == a
    assert ":" not in a.key  # usable in a Message-ID


@pytest.mark.parametrize(("window_s", "every"), [(3600, 60.0), (600, 60.0), (120, 12.0),
                                                 (5, 1.0), (1, 1.0)])
def test_the_flusher_looks_a_tenth_of_a_window_apart_within_1_to_60_s(
        window_s: int, every: float) -> None:
    cap = MailCap(20, timedelta(seconds=window_s))

    assert cap.flush_seconds == every
    assert cap.worst_digest_delay(claim_seconds=120) == every + 120


@pytest.mark.parametrize(("cap", "window"), [(-1, HOUR), (20, timedelta(0))])
def test_a_cap_needs_a_count_and_a_window(cap: int, window: timedelta) -> None:
    with pytest.raises(ValueError, match="mail cap"):
        MailCap(cap, window)


# --- recorded decisions and due windows --------------------------------------------------


def test_a_recorded_decision_says_what_a_later_delivery_does() -> None:
    """None: decide now; mail not yet accepted by SES: send it; sent: nothing; digest:
    nothing (it waits in its window)."""
    assert route_of(None) is None
    assert route_of({"route": "mail", "window": "w"}) is Route.MAIL
    assert route_of({"route": "mail", "window": "w", "mailed_at": "2026-03-04T15:00:01Z"}) \
        is Route.SENT
    assert route_of({"route": "digest", "window": "w"}) is Route.DIGEST


def test_only_closed_windows_are_due_oldest_first() -> None:
    old, older, open_ = (Window(T0 + HOUR, T0 + 2 * HOUR), Window(T0, T0 + HOUR),
                         Window(T0 + 2 * HOUR, T0 + 3 * HOUR))
    markers = [{"window": w.key, "end": stamp(w.end)} for w in (old, open_, older)]

    assert due_windows(markers, T0 + 2 * HOUR) == [older, old]
    assert due_windows(markers, T0 + 2 * HOUR - timedelta(microseconds=1)) == [older]
    assert due_windows([], T0) == []


def test_cap_then_digest_over_a_stream_of_requests() -> None:
    """The arithmetic the ledger's transactions apply, replayed in memory: with cap 2, five
    requests in one window mail two and hold three; a redelivery changes nothing; a request
    after the window's end opens a new window and is mailed."""
    cap = MailCap(2, HOUR)
    current: Window | None = None
    mailed: dict[str, int] = {}
    decisions: dict[str, tuple[Route, str]] = {}

    def handle(event_id: str, now: datetime) -> Route:
        nonlocal current
        if event_id in decisions:  # the decision recorded under the event id
            return decisions[event_id][0]
        current = cap.window_at(now, current)
        count = mailed.setdefault(current.key, 0)
        route = Route.MAIL if count < cap.cap else Route.DIGEST
        mailed[current.key] += route is Route.MAIL
        decisions[event_id] = (route, current.key)
        return route

    routes = [handle(f"e{n}", T0 + timedelta(seconds=n)) for n in range(5)]
    assert routes == [Route.MAIL] * 2 + [Route.DIGEST] * 3
    assert handle("e1", T0 + timedelta(seconds=9)) is Route.MAIL  # redelivered: same route
    assert handle("e3", T0 + 2 * HOUR) is Route.DIGEST  # even after its window closed
    assert sum(mailed.values()) == 2
    assert handle("e5", T0 + HOUR) is Route.MAIL  # a new window
    assert len(mailed) == 2


# --- the digest message ------------------------------------------------------------------


def test_the_digest_lists_every_held_request_with_who_when_and_its_id() -> None:
    held = [(f"event-{n}", meeting(n, name)) for n, name in
            enumerate(["Ana Lima", "Bruno Costa", "Chen Wei"])]
    window = Window(T0, T0 + HOUR)

    message = wire(mail.digest_notice(held, start=window.start, end=window.end, key=window.key,
                                      mailed=2, sender=SENDER, admin=ADMIN))

    assert (message["To"], message["From"]) == (ADMIN, SENDER)
    assert message["Subject"] == "Meeting requests: 3 more requests (digest)"
    assert message["Message-ID"] == f"<digest-{window.key}@example.com>"
    body = text_of(message)
    assert body.startswith("3 more meeting requests arrived between 2026-03-04 15:00:00 UTC "
                           "and 2026-03-04 16:00:00 UTC, after the 2 mailed one by one")
    for n, (_, held_meeting) in enumerate(held):
        assert f"{held_meeting.attendee_name} <ana.{n}@example.com>" in body
        assert f"Request: {held_meeting.id}  (PATCH /meetings/{held_meeting.id})" in body
    assert "Friday, March 13, 2026, 2 PM to 2:30 PM (UTC), 30 minutes" in body
    assert body.index("Ana Lima") < body.index("Bruno Costa") < body.index("Chen Wei")
    assert "GET /meetings/pending" in body


def test_a_digest_built_again_is_the_same_message() -> None:
    """A retry after a crash sends identical bytes under the same Message-ID."""
    held = [("event-1", meeting(1))]
    build = lambda: mail.digest_notice(held, start=T0, end=T0 + HOUR,  # noqa: E731
                                       key=stamp(T0), mailed=20, sender=SENDER, admin=ADMIN)

    assert build().as_bytes() == build().as_bytes()
    assert wire(build())["Subject"] == "Meeting requests: 1 more request (digest)"


# --- settings ----------------------------------------------------------------------------


def test_settings_default_to_20_an_hour_and_refuse_nonsense() -> None:
    settings = MeetingsSettings()
    assert settings.admin_mail_cap == MailCap(20, HOUR)
    assert MeetingsSettings(meetings_admin_mail_cap=0).admin_mail_cap.cap == 0
    with pytest.raises(ValidationError):
        MeetingsSettings(meetings_admin_mail_cap=-1)
    with pytest.raises(ValidationError):
        MeetingsSettings(meetings_admin_mail_window_seconds=0)


# --- the notifier and the flusher, with fakes ---------------------------------------------


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> str:
        self.sent.append(message)
        return f"ses-{len(self.sent)}"


class FakeLedger:
    """Answers as the DynamoDB ledger would, from a script."""

    def __init__(self, route: Route = Route.MAIL, due: list[Window] | None = None,
                 held: list[tuple[str, Meeting]] | None = None) -> None:
        self.cap = MailCap(2, HOUR)
        self._route, self._due, self._held = route, due or [], held
        self.calls: list[tuple[Any, ...]] = []

    async def route(self, event_id: str, meeting: Meeting, *, now: datetime) -> tuple[Route, str]:
        self.calls.append(("route", event_id))
        return self._route, "w"

    async def mark_sent(self, event_id: str, *, now: datetime) -> None:
        self.calls.append(("mark_sent", event_id))

    async def due(self, *, now: datetime) -> list[Window]:
        return self._due

    async def claim_digest(self, window: Window, *, now: datetime) -> Any:
        self.calls.append(("claim", window.key))
        return self._held

    async def mailed_in(self, window: Window) -> int:
        return 2

    async def digest_sent(self, window: Window, *, now: datetime) -> None:
        self.calls.append(("digest_sent", window.key))


def requested(n: int = 0) -> CloudEvent:
    return CloudEvent(id=f"event-{n}", source="regatta/meetings", type=REQUESTED,
                      data=meeting(n).model_dump(mode="json"), subject=meeting(n).id)


@pytest.mark.parametrize(("route", "mails", "marked"), [
    (Route.MAIL, 1, True), (Route.DIGEST, 0, False), (Route.SENT, 0, False)])
async def test_the_notifier_mails_a_request_only_when_its_route_says_so(
        route: Route, mails: int, marked: bool) -> None:
    mailer, ledger = FakeMailer(), FakeLedger(route)
    notifier = Notifier(mailer, sender=SENDER, admin=ADMIN, ledger=ledger)

    await notifier(requested())

    assert len(mailer.sent) == mails
    assert (("mark_sent", "event-0") in ledger.calls) is marked
    if mails:
        assert mailer.sent[0]["Message-ID"] == "<event-0@example.com>"


async def test_a_failed_send_is_not_marked_sent() -> None:
    """SES refused: the exception fails the delivery, and the next one mails it (MAIL)."""

    class Refusing(FakeMailer):
        async def send(self, message: EmailMessage) -> str:
            raise RuntimeError("SES said no")

    ledger = FakeLedger(Route.MAIL)
    notifier = Notifier(Refusing(), sender=SENDER, admin=ADMIN, ledger=ledger)

    with pytest.raises(RuntimeError):
        await notifier(requested())
    assert ("mark_sent", "event-0") not in ledger.calls


async def test_the_flusher_sends_a_claimed_digest_then_records_it() -> None:
    window = Window(T0, T0 + HOUR)
    mailer = FakeMailer()
    ledger = FakeLedger(due=[window], held=[("event-3", meeting(3))])
    flusher = DigestFlusher(ledger, mailer, sender=SENDER, admin=ADMIN)

    assert await flusher.flush_once() == 1
    assert ledger.calls == [("claim", window.key), ("digest_sent", window.key)]
    assert mailer.sent[0]["Message-ID"] == f"<digest-{window.key}@example.com>"


async def test_the_flusher_skips_a_digest_another_worker_holds() -> None:
    window = Window(T0, T0 + HOUR)
    mailer = FakeMailer()
    ledger = FakeLedger(due=[window], held=None)
    flusher = DigestFlusher(ledger, mailer, sender=SENDER, admin=ADMIN)

    assert await flusher.flush_once() == 0
    assert mailer.sent == [] and ledger.calls == [("claim", window.key)]
