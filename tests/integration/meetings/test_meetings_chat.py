"""Whole conversations with Meety over HTTP: personas, corrections, ambiguity, clashes, sessions.

The API runs as a process against the emulator; the clock is the real one, so every test books
on dates of its own (see ``fresh_workday``).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from meetings_http import Chat, approved, fresh_workday, spoken, unique_email

from devkit.testing import LocalStack, ServiceProcess
from shared.aws import AwsClients

RESTARTED = "I couldn't find our earlier conversation (it may have expired), so let's start over."


async def test_slot_by_slot_persona_books_a_pending_meeting(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """Ana answers one question at a time; the confirmed request is stored as pending."""
    day, address = fresh_workday(), unique_email("ana")
    chat = Chat(client)

    assert await chat.say("Hi Meety") == [
        "Hi! I'm Meety, your meeting assistant. How can I help you schedule a meeting today?"]
    assert chat.state == "ElicitIntent"
    assert await chat.say("I'd like to book a meeting") == ["What is your name?"]
    assert (chat.state, chat.reply["dialog"]["slot_to_elicit"]) == ("ElicitSlot", "full_name")
    assert await chat.say("My name is Ana Lima") == ["What date would you like to meet?"]
    assert await chat.say(spoken(day)) == ["What time would you like to meet?"]
    assert await chat.say("10am") == ["How long should the meeting be, in minutes? (30 or 60)"]
    assert await chat.say("45") == ["What is your email address?"]
    summary = await chat.say(address)
    assert chat.state == "ConfirmIntent"
    assert summary == [f"Meeting for Ana Lima ({address}) on {spoken(day)}, 10 AM to 10:45 AM "
                       "(45 minutes).", "Do you want to proceed with the meeting?"]
    assert chat.reply["meeting"] is None
    await chat.say("yes")

    assert chat.state == "Fulfilled"
    assert chat.reply["dialog"]["confirmation"] == "Confirmed"
    meeting = chat.reply["meeting"]
    assert {k: meeting[k] for k in ("status", "attendee_name", "email", "date", "start_time",
                                    "end_time", "duration_minutes", "timezone", "start", "end")} \
        == {"status": "pending", "attendee_name": "Ana Lima", "email": address,
            "date": day.isoformat(), "start_time": "10:00:00", "end_time": "10:45:00",
            "duration_minutes": 45, "timezone": "UTC", "start": f"{day}T10:00:00Z",
            "end": f"{day}T10:45:00Z"}
    stored = await client.get(f"/meetings/{meeting['id']}", headers=headers["admin"])
    assert stored.json() == meeting


async def test_everything_in_one_sentence_in_the_users_time_zone(
    client: httpx.AsyncClient
) -> None:
    """Bruno says it all at once from New York; the stored instants are UTC."""
    day = fresh_workday()
    chat = Chat(client, timezone="America/New_York")

    await chat.say(f"I'm Bruno Costa, book {spoken(day)} at 3pm for 60 minutes, "
                   f"{unique_email('bruno')}")
    assert chat.state == "ConfirmIntent"
    await chat.say("yes please")

    meeting = chat.reply["meeting"]
    start = datetime.combine(day, datetime.min.time(), ZoneInfo("America/New_York")) \
        + timedelta(hours=15)
    assert meeting["timezone"] == "America/New_York"
    assert meeting["start_time"] == "15:00:00"
    assert meeting["start"] == f"{start.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


async def test_the_time_zone_of_a_conversation_sticks_to_it(client: httpx.AsyncClient) -> None:
    """A zone given on the first message applies to the later ones that name none."""
    day = fresh_workday()
    chat = Chat(client, timezone="Asia/Tokyo")
    await chat.say(f"Book a meeting on {spoken(day)} at 11am, I'm Hana Sato")
    chat.timezone = None
    await chat.say(f"30 minutes, {unique_email('hana')}")
    await chat.say("yes")

    assert chat.reply["meeting"]["timezone"] == "Asia/Tokyo"
    assert chat.reply["meeting"]["start"] == f"{day}T02:00:00Z"


async def test_corrections_overwrite_what_was_said(client: httpx.AsyncClient) -> None:
    """Chen changes the time at the confirmation and the date mid-dialog; the last word wins."""
    first, second = fresh_workday(), fresh_workday()
    chat = Chat(client)
    await chat.say(f"Book a meeting on {spoken(first)} at 10am, I'm Chen Wei")
    await chat.say(f"change the date to {spoken(second)}")
    assert chat.slots["date"] == second.isoformat()
    await chat.say(f"30 minutes, {unique_email('chen')}")
    assert chat.state == "ConfirmIntent"

    messages = await chat.say("actually make it 4pm")
    assert chat.state == "ConfirmIntent"
    assert "4 PM to 4:30 PM" in messages[0]
    await chat.say("no, 2pm")
    await chat.say("yes")

    meeting = chat.reply["meeting"]
    assert (meeting["date"], meeting["start_time"]) == (second.isoformat(), "14:00:00")


async def test_ambiguity_is_asked_about(client: httpx.AsyncClient) -> None:
    """'next week' asks which day, 'in the morning' asks what time; the answers are placed."""
    day = fresh_workday()
    chat = Chat(client)
    assert await chat.say("Can we meet next week? I'm Dana Scully") == [
        "Which day next week would you like to meet?"]
    assert chat.reply["dialog"]["slot_to_elicit"] == "date"
    await chat.say("Wednesday")
    wednesday = date.fromisoformat(chat.slots["date"])
    assert wednesday.weekday() == 2
    assert wednesday - datetime.now(UTC).date() <= timedelta(days=14)

    assert await chat.say(f"{spoken(day)} in the morning") == [
        "What time in the morning would you like to meet?"]
    await chat.say("10")
    assert chat.slots["time"] == "10:00:00"
    assert chat.slots["date"] == day.isoformat()


async def test_a_clash_with_an_approved_meeting_offers_the_next_free_slot(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """GIVEN 3-4 PM is approved WHEN Emeka asks for 3:30 PM THEN 4 PM is offered; yes books it."""
    day = fresh_workday()
    await approved(client, headers["admin"], day, "3pm", minutes=60)
    chat = Chat(client)

    messages = await chat.say(f"I'm Emeka Obi, {spoken(day)} at 3:30pm for 30 minutes, "
                              f"{unique_email('emeka')}")
    assert messages == ["3:30 PM is taken; 4 PM is free.", "Shall I book that?"]
    assert chat.slots["time"] is None
    await chat.say("yes")
    assert chat.state == "ConfirmIntent"
    await chat.say("yes")

    assert chat.reply["meeting"]["start_time"] == "16:00:00"


async def test_a_meeting_approved_during_the_conversation_is_caught_at_the_yes(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """The slot is checked against approved meetings again when the user confirms."""
    day = fresh_workday()
    chat = Chat(client)
    await chat.say(f"I'm Fatima Zahra, {spoken(day)} at 11am for 30 minutes, "
                   f"{unique_email('fatima')}")
    assert chat.state == "ConfirmIntent"
    await approved(client, headers["admin"], day, "11am", minutes=60)

    assert await chat.say("yes") == ["11 AM is taken; 12 PM is free.", "Shall I book that?"]
    assert chat.reply["meeting"] is None


async def test_a_declined_confirmation_and_a_cancel_book_nothing(
    client: httpx.AsyncClient
) -> None:
    """'no' asks what to change; 'cancel' closes politely; no meeting is returned."""
    chat = Chat(client)
    await chat.say(f"I'm Gustav Berg, {spoken(fresh_workday())} at 9am for 30 minutes, "
                   f"{unique_email('gustav')}")
    assert (await chat.say("no"))[0].startswith("Okay, I won't book it.")
    assert chat.reply["dialog"]["confirmation"] == "Denied"
    assert await chat.say("cancel") == [
        "Okay, no meeting was booked. Come back anytime you want to schedule one."]
    assert (chat.state, chat.reply["meeting"]) == ("Close", None)


async def test_a_value_outside_the_rules_is_refused_with_a_reason(
    client: httpx.AsyncClient
) -> None:
    """A weekend day and a time outside business hours are explained and asked again."""
    saturday = fresh_workday()
    while saturday.weekday() != 5:
        saturday += timedelta(days=1)
    chat = Chat(client)
    messages = await chat.say(f"I'm Ivan Petrov, book {spoken(saturday)}")
    assert messages == ["We don't meet on Saturdays.", "What date would you like to meet?"]
    messages = await chat.say(f"{spoken(fresh_workday())} at 8pm")
    assert messages[0] == "8 PM is outside business hours (9 AM to 6 PM)."


async def test_conversations_do_not_see_each_other(client: httpx.AsyncClient) -> None:
    """Two interleaved conversations keep their own slots; a made-up id reveals nothing."""
    ana, bruno = Chat(client), Chat(client)
    await ana.say("Book a meeting, I'm Ana Lima")
    await bruno.say("Book a meeting, I'm Bruno Costa")
    await ana.say(spoken(fresh_workday()))

    assert bruno.slots["full_name"] == "Bruno Costa" and bruno.slots["date"] is None
    assert ana.slots["full_name"] == "Ana Lima" and ana.slots["date"] is not None
    assert ana.session_id != bruno.session_id
    assert len(ana.session_id) >= 43  # 256 random bits, URL-safe

    stranger = Chat(client)
    made_up = stranger.session_id = ana.session_id[:-4] + "AAAA"
    messages = await stranger.say("what is my name?")
    assert messages[0] == RESTARTED
    assert stranger.session_id not in (ana.session_id, made_up)
    assert all(value is None for value in stranger.slots.values())
    await ana.say("10am")
    assert ana.slots["full_name"] == "Ana Lima", "the stranger's turn changed Ana's session"


async def test_an_expired_conversation_starts_over_politely(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, aws: AwsClients,
    stack: LocalStack,
) -> None:
    """Past the idle expiry, the next message gets a new session and an apology, no old data.
    (It goes to a process that does not remember the conversation, so the table's expiry is
    the one read.)"""
    chat = Chat(client)
    await chat.say("Book a meeting, I'm Jade Moreau")
    old_id = chat.session_id
    assert old_id is not None
    dynamodb = await aws.client("dynamodb")
    await dynamodb.update_item(
        TableName=stack.resources.table("meeting-sessions"),
        Key={"id": {"S": hashlib.sha256(old_id.encode()).hexdigest()}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )

    messages = await Chat.resume(other_client, chat).say("Hello")

    assert messages[0] == RESTARTED
    assert messages[1].startswith("Hi! I'm Meety")


async def test_a_remembered_conversation_expires_too(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A process that remembers a conversation still ends it after the idle expiry (here 2 s)."""
    env = {**stack.env, "MEETINGS_SESSION_IDLE_SECONDS": "2"}
    with ServiceProcess.api("services.meetings.main:app", env,
                            log_path=tmp_path_factory.mktemp("short-idle") / "api.log") as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
            chat = Chat(http)
            await chat.say("Book a meeting, I'm Jade Moreau")
            assert await chat.say("Hello") != [RESTARTED], "expired before 2 s"
            await asyncio.sleep(2.5)
            old_id = chat.session_id

            messages = await chat.say("Hello")

    assert messages[0] == RESTARTED
    assert chat.session_id != old_id
    assert chat.slots["full_name"] is None


async def test_a_conversation_moving_between_processes_keeps_every_turn(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient,
) -> None:
    """Turns alternate between two API processes. Each remembers what it saved, so each
    holds an outdated state when a turn comes back to it: it must notice (the save is
    conditional on the version), run the turn again from the table, and lose nothing."""
    day, address = fresh_workday(), unique_email("ana")
    chat = Chat(client)
    lines = ["I'd like to book a meeting", "My name is Ana Lima", spoken(day), "3pm",
             "45 minutes", address, "yes"]

    for n, line in enumerate(lines):
        chat.http = (client, other_client)[n % 2]
        await chat.say(line)

    assert chat.state == "Fulfilled", chat.reply
    meeting = chat.reply["meeting"]
    assert (meeting["attendee_name"], meeting["email"], meeting["date"],
            meeting["start_time"], meeting["duration_minutes"]) == (
        "Ana Lima", address, day.isoformat(), "15:00:00", 45)


async def test_a_conversation_stored_in_an_older_shape_starts_over(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, aws: AwsClients,
    stack: LocalStack,
) -> None:
    """A stored dialog state this release cannot read restarts politely instead of a 500.
    (The next message goes to a process that does not remember the conversation, as after a
    deployment.)"""
    chat = Chat(client)
    await chat.say("Book a meeting, I'm Jade Moreau")
    dynamodb = await aws.client("dynamodb")
    await dynamodb.update_item(
        TableName=stack.resources.table("meeting-sessions"),
        Key={"id": {"S": hashlib.sha256(chat.session_id.encode()).hexdigest()}},
        UpdateExpression="SET #session = :old",
        ExpressionAttributeNames={"#session": "session"},
        ExpressionAttributeValues={":old": {"S": '{"state": "SomethingElse"}'}},
    )

    messages = await Chat.resume(other_client, chat).say("Hello")

    assert messages[0] == RESTARTED


async def test_the_table_never_holds_the_session_id_itself(
    client: httpx.AsyncClient, aws: AwsClients, stack: LocalStack
) -> None:
    """Sessions are stored under a hash of their id, so reading the table hijacks nothing."""
    chat = Chat(client)
    await chat.say("Book a meeting")
    dynamodb = await aws.client("dynamodb")
    table = stack.resources.table("meeting-sessions")

    raw = await dynamodb.get_item(TableName=table, Key={"id": {"S": chat.session_id}})
    hashed = await dynamodb.get_item(
        TableName=table,
        Key={"id": {"S": hashlib.sha256(chat.session_id.encode()).hexdigest()}})

    assert "Item" not in raw and "Item" in hashed


async def test_concurrent_turns_of_one_conversation_never_clobber_each_other(
    client: httpx.AsyncClient, aws: AwsClients, stack: LocalStack
) -> None:
    """Ten messages sent at once: each is accepted (and stored) or refused with 409, none lost."""
    chat = Chat(client)
    await chat.say("Book a meeting")

    responses = await asyncio.gather(*(chat.send(f"I'm Ana {n}") for n in range(10)))

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, statuses
    assert all(r.headers["content-type"] == "application/problem+json"
               for r in responses if r.status_code == 409)
    dynamodb = await aws.client("dynamodb")
    item = (await dynamodb.get_item(
        TableName=stack.resources.table("meeting-sessions"),
        Key={"id": {"S": hashlib.sha256(chat.session_id.encode()).hexdigest()}},
        ConsistentRead=True))["Item"]
    assert int(item["version"]["N"]) == 1 + statuses.count(200)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "a" * 1025}, "text"),
        ({"text": "hi", "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"text": "hi", "timezone": "../../etc/passwd"}, "timezone"),
        ({"text": "hi", "session_id": "not a session id!"}, "session_id"),
        ({"text": "hi", "session_id": "x" * 129}, "session_id"),
        ({"text": "hi", "extra": 1}, "extra"),
        ({}, "text"),
    ],
)
async def test_invalid_chat_bodies_are_422(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    """Empty, over-long (> 1024 chars, as Lex) or malformed input is a 422 naming the field."""
    response = await client.post("/meetings/chat", json=body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in response.json()["errors"]}


async def test_the_longest_allowed_message_is_understood(client: httpx.AsyncClient) -> None:
    """1024 characters of noise is still a normal turn (the fallback), not an error."""
    chat = Chat(client)
    assert await chat.say(("purple elephant " * 64)[:1024]) == [
        "Sorry, I did not get it. Could you try again?"]
