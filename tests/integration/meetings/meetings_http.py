"""Helpers the meetings integration tests share: conversations, booking, days, the mailbox."""

from __future__ import annotations

import email
import email.policy
import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx

# Each test books on days of its own, so approved meetings of one never clash with another's.
_days = (
    day for offset in itertools.count(21)
    if (day := datetime.now(UTC).date() + timedelta(days=offset)).weekday() < 5
)


def fresh_workday() -> date:
    """A Monday-to-Friday date at least three weeks ahead that no other test has used."""
    return next(_days)


def spoken(day: date) -> str:
    """A date the way Meety itself says it: 'Tuesday, January 12, 2027'."""
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"


def unique_email(name: str = "ana") -> str:
    """An attendee address no other test uses, so its mail can be told apart."""
    return f"{name}.{uuid.uuid4().hex[:10]}@example.com"


class Chat:
    """One conversation with Meety over HTTP; keeps the session id between turns."""

    def __init__(self, http: httpx.AsyncClient, *, timezone: str | None = None) -> None:
        self.http = http
        self.timezone = timezone
        self.session_id: str | None = None
        self.reply: dict[str, Any] = {}

    @classmethod
    def resume(cls, http: httpx.AsyncClient, chat: Chat) -> Chat:
        """The same conversation, continued through another client (another API process)."""
        resumed = cls(http, timezone=chat.timezone)
        resumed.session_id, resumed.reply = chat.session_id, chat.reply
        return resumed

    async def send(self, text: str) -> httpx.Response:
        body: dict[str, Any] = {"text": text}
        if self.session_id:
            body["session_id"] = self.session_id
        if self.timezone:
            body["timezone"] = self.timezone
        return await self.http.post("/meetings/chat", json=body)

    async def say(self, text: str) -> list[str]:
        """Send one message; returns Meety's messages (asserting the 200)."""
        response = await self.send(text)
        assert response.status_code == 200, response.text
        self.reply = response.json()
        self.session_id = self.reply["session_id"]
        return list(self.reply["messages"])

    @property
    def state(self) -> str:
        return str(self.reply["dialog"]["state"])

    @property
    def slots(self) -> dict[str, Any]:
        return dict(self.reply["dialog"]["slots"])


async def book(http: httpx.AsyncClient, day: date, at: str = "10am", *, minutes: int = 30,
               name: str = "Ana Lima", address: str | None = None,
               timezone: str | None = None) -> dict[str, Any]:
    """Hold a whole conversation in one sentence plus 'yes'; returns the pending meeting."""
    chat = Chat(http, timezone=timezone)
    await chat.say(f"I'm {name}, book {spoken(day)} at {at} for {minutes} minutes, "
                   f"{address or unique_email()}")
    assert chat.state == "ConfirmIntent", chat.reply
    await chat.say("yes")
    assert chat.state == "Fulfilled", chat.reply
    return dict(chat.reply["meeting"])


async def set_status(http: httpx.AsyncClient, headers: dict[str, str], meeting_id: str,
                     status: str) -> httpx.Response:
    return await http.patch(f"/meetings/{meeting_id}", json={"status": status}, headers=headers)


async def approved(http: httpx.AsyncClient, headers: dict[str, str], day: date,
                   at: str = "10am", **kwargs: Any) -> dict[str, Any]:
    """Book a meeting and approve it (asserting the 200); returns the approved meeting."""
    meeting = await book(http, day, at, **kwargs)
    response = await set_status(http, headers, meeting["id"], "approved")
    assert response.status_code == 200, response.text
    return dict(response.json())


class Mailbox:
    """The mail the emulator's SES accepted (served at /moto-api/data.json?service=ses)."""

    def __init__(self, emulator_url: str) -> None:
        self.url = f"{emulator_url}/moto-api/data.json?service=ses"

    async def messages(self) -> list[EmailMessage]:
        async with httpx.AsyncClient(timeout=30) as http:
            document = (await http.get(self.url)).json()
        return [
            email.message_from_string(raw["raw_data"], policy=email.policy.default)  # type: ignore[misc]
            for raw in document.get("ses", {}).get("RawMessage", [])
        ]

    async def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to ``address``, oldest first."""
        return [m for m in await self.messages() if address in str(m["To"])]

    async def mentioning(self, text: str) -> list[EmailMessage]:
        """Messages whose text part contains ``text``."""
        found = []
        for message in await self.messages():
            body = message.get_body(preferencelist=("plain",))
            if body is not None and text in body.get_content():
                found.append(message)
        return found


def calendar_attachments(message: EmailMessage) -> list[tuple[str, bytes, str | None]]:
    """(file name, content, iTIP method) of each text/calendar attachment."""
    return [
        (part.get_filename() or "", part.get_payload(decode=True), part.get_param("method"))
        for part in message.iter_attachments()
        if part.get_content_type() == "text/calendar"
    ]
