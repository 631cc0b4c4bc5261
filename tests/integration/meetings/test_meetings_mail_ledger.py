"""The admin-mail ledger (``store.AdminMailLedger``) against the emulator's DynamoDB: several
workers share one cap, a window a flusher closed early is left for the next one even by a
worker that remembered it open, and a repeated event keeps its first decision.

Each test has a table of its own (the ledger's head item is one per table), and the ledgers
run in this process, as each worker process holds its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio

from devkit.testing import throwaway_table
from services.meetings.mail_cap import MailCap, Route, Window, parse_stamp
from services.meetings.models import Meeting, MeetingStatus
from services.meetings.store import AdminMailLedger
from shared.aws import AwsClients
from shared.dynamo import from_item

T0 = datetime.now(UTC).replace(microsecond=0)
HOUR = timedelta(hours=1)


def meeting(n: int) -> Meeting:
    begins = datetime(2027, 3, 12, 9, 0, tzinfo=UTC) + timedelta(minutes=30 * n)
    return Meeting(
        id=str(uuid.uuid4()), status=MeetingStatus.pending, attendee_name=f"Guest {n}",
        email=f"guest.{n}@example.com", date=begins.date(), start_time=begins.time(),
        end_time=(begins + timedelta(minutes=30)).time(), duration_minutes=30,
        timezone="UTC", start=begins, end=begins + timedelta(minutes=30),
        created_at=T0 + timedelta(seconds=n), updated_at=T0 + timedelta(seconds=n))


@pytest_asyncio.fixture
async def table(aws: AwsClients) -> AsyncIterator[str]:
    async with throwaway_table(aws, "test-admin-mail", "pk", "sk") as name:
        yield name


async def ledger(aws: AwsClients, table: str, cap: int) -> AdminMailLedger:
    return AdminMailLedger(await aws.client("dynamodb"), table, MailCap(cap, HOUR))


def window_of(key: str) -> Window:
    start = parse_stamp(key)
    return Window(start, start + HOUR)


async def window_item(aws: AwsClients, table: str, key: str) -> dict[str, Any]:
    dynamodb = await aws.client("dynamodb")
    response = await dynamodb.get_item(TableName=table, Key={"pk": {"S": f"window#{key}"},
                                                              "sk": {"S": "window"}})
    return from_item(response["Item"])


async def test_two_workers_share_one_cap(aws: AwsClients, table: str) -> None:
    """Eight requests at once through two workers' ledgers, cap 3: three mailed, five held
    for the one window's digest, and the digest holds exactly those five."""
    first, second = await ledger(aws, table, 3), await ledger(aws, table, 3)
    events = [(str(uuid.uuid4()), meeting(n)) for n in range(8)]
    routes = await asyncio.gather(*(
        (first if n % 2 else second).route(event_id, m, now=T0 + timedelta(seconds=n))
        for n, (event_id, m) in enumerate(events)))

    assert sorted(route for route, _ in routes) == [Route.DIGEST] * 5 + [Route.MAIL] * 3
    keys = {key for _, key in routes}
    assert len(keys) == 1
    window = window_of(keys.pop())
    assert int((await window_item(aws, table, window.key))["mailed"]) == 3

    held = await second.claim_digest(window, now=window.end)
    digested = {event_id for (event_id, _), (route, _) in zip(events, routes, strict=True)
                if route is Route.DIGEST}
    assert held is not None
    assert {event_id for event_id, _ in held} == digested


async def test_a_window_closed_early_is_left_for_the_next_even_when_remembered_open(
        aws: AwsClients, table: str) -> None:
    """A worker that routed into a window (and found its cap used up) remembers it; a flusher
    whose clock runs ahead closes it; the worker's next requests go to a new window, which
    mails again, and the closed window's digest holds only what came before."""
    worker, flusher = await ledger(aws, table, 1), await ledger(aws, table, 1)
    mailed, _ = await worker.route("e1", meeting(1), now=T0)
    held, first_key = await worker.route("e2", meeting(2), now=T0 + timedelta(seconds=1))
    assert (mailed, held) == (Route.MAIL, Route.DIGEST)

    first = window_of(first_key)
    digest = await flusher.claim_digest(first, now=T0 + timedelta(seconds=2))
    assert digest is not None and [event_id for event_id, _ in digest] == ["e2"]

    later = [await worker.route(f"e{n}", meeting(n), now=T0 + timedelta(seconds=n))
             for n in (3, 4)]
    assert [route for route, _ in later] == [Route.MAIL, Route.DIGEST]
    assert {key for _, key in later} != {first_key}
    assert len({key for _, key in later}) == 1
    assert int((await window_item(aws, table, first_key))["mailed"]) == 1


async def test_a_repeated_event_keeps_its_first_decision(aws: AwsClients, table: str) -> None:
    """Redelivered requests (another worker, or the same after a crash) are not counted or
    held again: a mailed one answers SENT once SES took it, a held one DIGEST."""
    first, second = await ledger(aws, table, 1), await ledger(aws, table, 1)
    assert (await first.route("e1", meeting(1), now=T0))[0] is Route.MAIL
    assert (await second.route("e1", meeting(1), now=T0))[0] is Route.MAIL  # not sent yet
    await first.mark_sent("e1", now=T0)
    assert (await first.route("e2", meeting(2), now=T0))[0] is Route.DIGEST
    for again in (first, second):
        assert (await again.route("e1", meeting(1), now=T0))[0] is Route.SENT
        route, key = await again.route("e2", meeting(2), now=T0)
        assert route is Route.DIGEST

    assert int((await window_item(aws, table, key))["mailed"]) == 1
    window = window_of(key)
    digest = await first.claim_digest(window, now=window.end)
    assert digest is not None and [event_id for event_id, _ in digest] == ["e2"]
