"""The cap on request e-mails to the admins, against the emulator: past the cap a window's
requests reach the admins in one digest, and redelivered events are neither counted nor
mailed twice.

The session's meetings worker mails every request (cap 20 an hour): these tests provision a
topology of their own in the same emulator (another name prefix, so their own queue, tables
and topic) and run their own API and workers with cap 2, a 15 s window and an admin address of
their own. The workers start after the requests are booked, so the relay publishes them
together and they all fall in the window the first one opens.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from meetings_http import Mailbox, book, fresh_workday, set_status, unique_email

from devkit.provision import provision
from devkit.testing import (
    EventTap,
    LocalStack,
    ServiceProcess,
    eventually,
    queue_depth,
    read_all,
)
from shared.aws import AwsClients
from shared.dynamo import from_item
from shared.events import CloudEvent, EventPublisher
from shared.settings import PlatformSettings
from shared.topology import Resources

CAP = 2
WINDOW_SECONDS = 15


@dataclass
class Capped:
    """A meetings deployment of its own in the session's emulator."""

    url: str
    env: dict[str, str]
    admin: str
    aws: AwsClients
    resources: Resources
    logs: Path

    def worker(self, name: str) -> ServiceProcess:
        return ServiceProcess.worker("services.meetings.worker", self.env,
                                     log_path=self.logs / f"{name}.log")

    async def ledger(self) -> list[dict[str, Any]]:
        dynamodb = await self.aws.client("dynamodb")
        table = self.resources.table("meetings-admin-mail")
        return [from_item(i) for i in await read_all(dynamodb.scan, TableName=table)]


@pytest.fixture(scope="module")
def capped_env(stack: LocalStack) -> dict[str, str]:
    return {**stack.env, "REGATTA_NAME_PREFIX": f"regatta-cap{uuid.uuid4().hex[:6]}-",
            "MEETINGS_ADMIN_EMAIL": f"admins.{uuid.uuid4().hex[:10]}@example.com",
            "MEETINGS_ADMIN_MAIL_CAP": str(CAP),
            "MEETINGS_ADMIN_MAIL_WINDOW_SECONDS": str(WINDOW_SECONDS)}


@pytest_asyncio.fixture(scope="module")
async def capped(capped_env: dict[str, str], stack: LocalStack,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Capped]:
    """Its own topology (provisioned under its prefix) and API process; workers per test."""
    logs = tmp_path_factory.mktemp("meetings-capped")
    settings = PlatformSettings(aws_endpoint_url=stack.emulator.url,
                                regatta_name_prefix=capped_env["REGATTA_NAME_PREFIX"])
    async with AwsClients(settings) as aws:
        resources = await provision(aws)
        with ServiceProcess.api("services.meetings.main:app", capped_env,
                                log_path=logs / "api.log") as api:
            yield Capped(api.url, capped_env, capped_env["MEETINGS_ADMIN_EMAIL"], aws,
                         resources, logs)


@pytest_asyncio.fixture
async def http(capped: Capped) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=capped.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def mailbox(stack: LocalStack) -> Mailbox:
    return Mailbox(stack.emulator.url)


def is_digest(message: EmailMessage) -> bool:
    return str(message["Subject"]).endswith("(digest)")


def text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def admin_mail(mailbox: Mailbox, capped: Capped,
                     ids: list[str]) -> tuple[list[EmailMessage], list[EmailMessage]]:
    """(individual request e-mails, digests) to the capped admins about any of ``ids``."""
    mine = [m for m in await mailbox.to(capped.admin) if any(i in text(m) for i in ids)]
    return [m for m in mine if not is_digest(m)], [m for m in mine if is_digest(m)]


async def book_several(http: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    return [await book(http, fresh_workday(), "11am", name=name, address=unique_email())
            for name in ["Ana Lima", "Bruno Costa", "Chen Wei", "Dana Reis", "Emeka Obi"][:count]]


async def drained(capped: Capped) -> None:
    """Until the capped notifications queue holds nothing, visible or in flight."""

    async def empty() -> bool:
        depth = await queue_depth(capped.aws, capped.resources, "meetings-notifications")
        assert depth == {"visible": 0, "in_flight": 0}, depth
        return True

    await eventually(empty, timeout=60)


async def test_five_requests_over_a_cap_of_two_mail_two_and_digest_three(
    capped: Capped, http: httpx.AsyncClient, mailbox: Mailbox,
    headers: dict[str, dict[str, str]],
) -> None:
    """Two requests are mailed on their own; once the window closes, one digest names the
    other three (who, when, id), and admins still decide those as any other request."""
    meetings = await book_several(http, 5)
    ids = [m["id"] for m in meetings]

    with capped.worker("worker-five"):

        async def two_and_a_digest() -> tuple[list[EmailMessage], list[EmailMessage]]:
            single, digests = await admin_mail(mailbox, capped, ids)
            assert len(single) >= CAP and digests, (len(single), len(digests))
            return single, digests

        single, digests = await eventually(two_and_a_digest, timeout=WINDOW_SECONDS + 90)
        await drained(capped)
        single, digests = await admin_mail(mailbox, capped, ids)

        assert len(single) == CAP
        mailed = {i for i in ids for m in single if i in text(m)}
        assert len(mailed) == CAP
        (digest,) = digests
        body = text(digest)
        held = [m for m in meetings if m["id"] not in mailed]
        assert body.startswith("3 more meeting requests arrived between ")
        assert digest["Subject"] == "Meeting requests: 3 more requests (digest)"
        for meeting in held:
            assert f"Request: {meeting['id']}" in body
            assert f"{meeting['attendee_name']} <{meeting['email']}>" in body
        assert not any(i in body for i in mailed)

        # The held requests are ordinary pending requests: admins approve and reject them.
        approve, reject = held[0], held[1]
        response = await set_status(http, headers["admin"], approve["id"], "approved")
        assert response.status_code == 200, response.text
        response = await set_status(http, headers["admin"], reject["id"], "rejected")
        assert response.status_code == 200, response.text

        async def attendees_told() -> bool:
            assert await mailbox.to(approve["email"]) and await mailbox.to(reject["email"])
            return True

        await eventually(attendees_told, timeout=60)


async def test_redelivered_requests_are_neither_counted_nor_mailed_again(
    capped: Capped, http: httpx.AsyncClient, mailbox: Mailbox,
) -> None:
    """Three requests (two mailed, one held); then each event delivered again twice: once as
    a plain duplicate (the idempotency record skips it) and once after its idempotency record
    was deleted, as when a worker died after deciding and its claim ran out. The ledger's
    decision per event holds: no second e-mail, no second count, one digest entry."""
    sns = await capped.aws.client("sns")
    publisher = EventPublisher(sns, capped.resources.topic_arn("meetings-events"))
    async with EventTap.open(capped.aws, capped.resources, "meetings-events") as tap:
        meetings = await book_several(http, 3)
        ids = [m["id"] for m in meetings]
        with capped.worker("worker-redelivery"):

            async def mailed_two() -> list[EmailMessage]:
                single, _ = await admin_mail(mailbox, capped, ids)
                assert len(single) >= CAP, len(single)
                return single

            await eventually(mailed_two, timeout=60)

            async def published() -> list[CloudEvent]:
                await tap.drain()
                events = [CloudEvent.model_validate(e) for i in ids for e in tap.about(i)]
                assert len(events) == 3, len(events)
                return events

            events = await eventually(published, timeout=30)
            await publisher.publish(events)  # plain duplicates
            await drained(capped)

            dynamodb = await capped.aws.client("dynamodb")
            table = capped.resources.table("meetings-idempotency")
            for event in events:
                await dynamodb.delete_item(TableName=table, Key={"id": {"S": event.key}})
            await publisher.publish(events)  # as if first seen again
            await drained(capped)

            async def digested() -> list[EmailMessage]:
                _, digests = await admin_mail(mailbox, capped, ids)
                assert digests
                return digests

            (digest,) = await eventually(digested, timeout=WINDOW_SECONDS + 90)
            single, digests = await admin_mail(mailbox, capped, ids)

    assert len(single) == CAP and len(digests) == 1
    mailed = {i for i in ids for m in single if i in text(m)}
    (held,) = set(ids) - mailed
    assert digest["Subject"] == "Meeting requests: 1 more request (digest)"
    assert text(digest).count(held) == 2  # its line: "Request: <id>  (PATCH /meetings/<id>)"

    ledger = await capped.ledger()
    decisions = {i["pk"].removeprefix("event#"): i for i in ledger if i["sk"] == "decision"}
    mine = [decisions[e.id] for e in events]
    assert sorted(d["route"] for d in mine) == ["digest", "mail", "mail"]
    assert all("mailed_at" in d for d in mine if d["route"] == "mail")
    (window_key,) = {d["window"] for d in mine}
    (window,) = [i for i in ledger if i["pk"] == f"window#{window_key}" and i["sk"] == "window"]
    assert window["mailed"] == CAP and window["closed"] and "digest_sent" in window
    held_rows = [i for i in ledger if i["pk"] == f"window#{window_key}"
                 and i["sk"].startswith("request#")]
    assert [r["event_id"] for r in held_rows] == [e.id for e in events
                                                  if decisions[e.id]["route"] == "digest"]
    assert not [i for i in ledger if i["pk"] == "due"]
