"""An API killed right after it commits, before it answers: the change is there after a
restart, and its event leaves exactly once (the outbox, relayed by the meetings worker).

Each test runs an API process of its own with a fault point armed (``shared.faults``); the
session's meetings worker relays the outbox and mails what the events announce.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from meetings_http import (
    Chat,
    Mailbox,
    book,
    calendar_attachments,
    fresh_workday,
    set_status,
    spoken,
    unique_email,
)

from devkit.testing import EventTap, FaultDrill, LocalStack, ServiceProcess, eventually
from services.meetings import logic
from shared.aws import AwsClients

pytestmark = pytest.mark.integration

EVENT = "dev.regatta.meetings.meeting.{}.v1"


@pytest.fixture(scope="module")
def mailbox(stack: LocalStack) -> Mailbox:
    return Mailbox(stack.emulator.url)


@pytest.fixture
def armed_api(stack: LocalStack, tmp_path: Path, meetings_api: str) -> Iterator[ServiceProcess]:
    """A meetings API process of the test's own (FaultDrill arms and restarts it), beside
    the session's API and worker (whose relay publishes what the killed API committed)."""
    yield ServiceProcess.api("services.meetings.main:app", stack.env,
                             log_path=tmp_path / "api.log")


async def announced_once(tap: EventTap, meeting_id: str, name: str, status: str,
                         mail: Callable[[], Awaitable[list[EmailMessage]]]) -> None:
    """The meeting's ``meeting.<name>`` event (data: the meeting in ``status``) arrives, and
    its mail, each exactly once."""

    async def mailed() -> bool:
        assert len(await mail()) >= 1
        return True

    def events() -> list[dict[str, Any]]:
        return [e for e in tap.about(meeting_id) if e["type"] == EVENT.format(name)]

    await eventually(mailed, timeout=60)
    await tap.drain()
    (event,) = events()
    assert (event["data"]["id"], event["data"]["status"]) == (meeting_id, status)
    # The one event was relayed, consumed and mailed by now: a repeat would have been too.
    await tap.drain()
    assert len(events()) == 1
    assert len(await mail()) == 1


async def test_a_request_committed_by_an_api_killed_before_it_answered_is_announced_once(
    armed_api: ServiceProcess, headers: dict[str, dict[str, str]], aws: AwsClients,
    stack: LocalStack, mailbox: Mailbox,
) -> None:
    """The confirming turn commits the conversation, the pending meeting and
    meeting.requested together; the API dies right then. After a restart the conversation
    is where the confirmation left it, the meeting is pending, and the admins get one mail."""
    day, address = fresh_workday(), unique_email()
    async with EventTap.open(aws, stack.resources, "meetings-events") as tap:
        with FaultDrill(armed_api, "meetings.request.committed") as drill:
            async with httpx.AsyncClient(base_url=drill.url, timeout=60) as http:
                chat = Chat(http)
                await chat.say(f"I'm Ana Lima, book {spoken(day)} at 11am for 30 minutes, "
                               f"{address}")
                assert chat.state == "ConfirmIntent", chat.reply
                with pytest.raises(httpx.TransportError):
                    await chat.send("yes")
                drill.killed()
                drill.restart()

                listed = await http.get("/meetings", headers=headers["admin"], params={
                    "status": "pending", "from": day.isoformat(), "to": day.isoformat()})
                (meeting,) = [m for m in listed.json()["items"] if m["email"] == address]
                # The restarted process remembers nothing: the conversation is read back
                # from the table, stored by the same transaction as the meeting.
                messages = await chat.say("thanks")
                assert logic.SESSION_RESTARTED not in messages

        await announced_once(tap, meeting["id"], "requested", "pending",
                             lambda: mailbox.mentioning(meeting["id"]))


@pytest.mark.parametrize("decision", ["approved", "rejected"])
async def test_a_decision_committed_by_an_api_killed_before_it_answered_is_announced_once(
    decision: str, armed_api: ServiceProcess, client: httpx.AsyncClient,
    headers: dict[str, dict[str, str]], aws: AwsClients, stack: LocalStack, mailbox: Mailbox,
) -> None:
    """PATCH commits the move (approval: with the guard item) and its event together; the
    API dies right then. After a restart the meeting is in its new status, repeating the
    decision is refused (409), and the attendee gets one mail."""
    address = unique_email()
    meeting = await book(client, fresh_workday(), "3pm", address=address)
    async with EventTap.open(aws, stack.resources, "meetings-events") as tap:
        with FaultDrill(armed_api, "meetings.decide.committed") as drill:
            async with httpx.AsyncClient(base_url=drill.url, timeout=60) as http:
                with pytest.raises(httpx.TransportError):
                    await set_status(http, headers["admin"], meeting["id"], decision)
                drill.killed()
                drill.restart()
                stored = (await http.get(f"/meetings/{meeting['id']}",
                                         headers=headers["admin"])).json()
                assert (stored["status"], stored["version"]) == (decision, 2)
                again = await set_status(http, headers["admin"], meeting["id"], decision)
                assert again.status_code == 409, again.text

        await announced_once(tap, meeting["id"], decision, decision,
                             lambda: mailbox.to(address))
    (message,) = await mailbox.to(address)
    invitations = [a for a in calendar_attachments(message) if a[2] == "REQUEST"]
    assert len(invitations) == (1 if decision == "approved" else 0)


async def test_a_calendar_link_whose_creator_died_before_answering_is_rekeyed_by_the_retry(
    armed_api: ServiceProcess, headers: dict[str, dict[str, str]], aws: AwsClients,
    stack: LocalStack,
) -> None:
    """The link is committed, then the API dies: its key never reached anyone. The retry with
    the same Idempotency-Key names the same link (no second one) and gives it a new secret, so
    the key nobody received opens nothing; the new key opens the feed."""
    dynamodb, table = await aws.client("dynamodb"), stack.resources.table("meetings")

    async def links() -> dict[str, str]:
        items = (await dynamodb.scan(TableName=table, ConsistentRead=True))["Items"]
        return {i["id"]["S"].partition("#")[2]: i["secret_sha256"]["S"] for i in items
                if i["id"]["S"].startswith("calendar-link#")}

    before = await links()
    retry = {**headers["admin"], "Idempotency-Key": str(uuid.uuid4())}
    armed_api.env = {**armed_api.env, "REQUEST_KEYS_IN_PROGRESS_SECONDS": "3"}
    with FaultDrill(armed_api, "meetings.calendar_link.committed") as drill:
        async with httpx.AsyncClient(base_url=drill.url, timeout=60) as http:
            with pytest.raises(httpx.TransportError):
                await http.post("/meetings/calendar/links", headers=retry)
            drill.killed()
            orphan = {k: v for k, v in (await links()).items() if k not in before}
            assert len(orphan) == 1, orphan
            drill.restart()

            async def created() -> httpx.Response | None:  # 409 while the dead try's key is held
                answer = await http.post("/meetings/calendar/links", headers=retry)
                assert answer.status_code in (201, 409), answer.text
                return answer if answer.status_code == 201 else None

            link = (await eventually(created, timeout=20, interval=1)).json()
            after = {k: v for k, v in (await links()).items() if k not in before}
            assert list(after) == list(orphan) == [link["id"]]
            assert after[link["id"]] != orphan[link["id"]]  # the unseen key's secret is gone
            feed = await http.get("/meetings/calendar.ics", params={"key": link["key"]})
            assert feed.status_code == 200, feed.text
            replay = await http.post("/meetings/calendar/links", headers=retry)
            assert replay.json() == link and replay.headers["idempotent-replayed"] == "true"
