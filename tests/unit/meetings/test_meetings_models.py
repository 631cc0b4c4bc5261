"""Meetings request models, stored forms and settings, validated without a server."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from email.utils import parseaddr

import pytest
from pydantic import ValidationError

from services.meetings.models import ChatRequest, Meeting, utc_text, valid_timezone
from services.meetings.settings import MeetingsSettings
from shared.topology import load_topology


def test_a_chat_message_is_trimmed_and_capped_like_lex() -> None:
    """Text is stripped and must hold 1..1024 characters; whitespace alone is refused."""
    assert ChatRequest(text="  hello  ").text == "hello"
    assert len(ChatRequest(text="a" * 1024).text) == 1024
    for text in ("", "   ", "a" * 1025):
        with pytest.raises(ValidationError):
            ChatRequest(text=text)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires",
                                  "Etc/GMT+5"])
def test_known_zones_are_accepted(zone: str) -> None:
    """IANA names, including three-part and Etc/ ones, are valid time zones."""
    assert ChatRequest(text="hi", timezone=zone).timezone == zone


@pytest.mark.parametrize("zone", ["Mars/Base", "../../etc/passwd", "/etc/localtime", "",
                                  "Europe/Paris\x00", "x" * 65, "Europe//Paris", "utc+2"])
def test_unknown_or_path_like_zones_are_refused(zone: str) -> None:
    """Anything that is not a zone this machine knows, or looks like a path, is a ValueError."""
    with pytest.raises(ValueError, match="IANA time zone"):
        valid_timezone(zone)


@pytest.mark.parametrize("session_id", ["a b", "é", "x" * 129, "", "../x"])
def test_session_ids_are_url_safe_tokens(session_id: str) -> None:
    """A session id is 1..128 URL-safe characters; anything else is refused before storage."""
    with pytest.raises(ValidationError):
        ChatRequest(text="hi", session_id=session_id)


def test_unknown_fields_are_refused() -> None:
    """extra='forbid': a misspelt field is a 422, not silently ignored."""
    with pytest.raises(ValidationError):
        ChatRequest.model_validate({"text": "hi", "timezon": "UTC"})


def test_instants_are_stored_in_utc_to_the_second_with_a_fixed_width() -> None:
    """String order is time order: UTC, no fractions, four-digit years, a 'Z'."""
    paris = timezone(timedelta(hours=1))
    assert utc_text(datetime(2026, 3, 13, 16, 0, 30, 999, tzinfo=paris)) == "2026-03-13T15:00:30Z"
    assert utc_text(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05Z"
    begins = datetime(2026, 3, 13, 16, 0, tzinfo=paris)
    meeting = Meeting(
        id="m", status="pending", attendee_name="A", email="a@example.com",
        date=begins.date(), start_time=time(16), end_time=time(17), duration_minutes=60,
        timezone="Europe/Paris", start=begins, end=begins + timedelta(hours=1),
        created_at=begins, updated_at=begins,
    )
    dumped = meeting.model_dump(mode="json")
    assert (dumped["start"], dumped["end"]) == ("2026-03-13T15:00:00Z", "2026-03-13T16:00:00Z")
    assert Meeting.model_validate(dumped) == meeting


def test_a_naive_instant_is_refused() -> None:
    """A start without an offset is ambiguous; the model refuses it."""
    with pytest.raises(ValidationError, match="offset"):
        Meeting(id="m", status="pending", attendee_name="A", email="a@example.com",
                date="2026-03-13", start_time="16:00", end_time="17:00", duration_minutes=60,
                timezone="UTC", start=datetime(2026, 3, 13, 16), end=datetime(2026, 3, 13, 17),
                created_at=datetime.now(UTC), updated_at=datetime.now(UTC))


def test_settings_build_the_scheduling_rules() -> None:
    """Opening hours, duration limits and the idle expiry reach the dialog's rules."""
    settings = MeetingsSettings(meetings_opens=time(8), meetings_closes=time(17),
                                meetings_max_duration_minutes=90,
                                meetings_session_idle_seconds=60)
    rules = settings.rules
    assert (rules.opens, rules.closes, rules.max_duration_minutes) == (time(8), time(17), 90)
    assert rules.idle_timeout == timedelta(seconds=60)


@pytest.mark.parametrize(
    "values",
    [
        {"meetings_default_timezone": "Nowhere/City"},
        {"meetings_admin_email": "not an address"},
        {"meetings_mail_from": "Meety <meetings@>"},
        {"meetings_opens": "18:00", "meetings_closes": "09:00"},
        {"meetings_min_duration_minutes": 0},
        {"meetings_session_idle_seconds": 0},
    ],
)
def test_bad_settings_stop_the_start(values: dict[str, object]) -> None:
    """A malformed zone, address or an incoherent set of rules is refused when settings load."""
    with pytest.raises(ValidationError):
        MeetingsSettings(**values)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """MEETINGS_MAIL_FROM (set by Terraform from the mail module) and friends are read."""
    monkeypatch.setenv("MEETINGS_MAIL_FROM", "Bookings <bookings@example.org>")
    monkeypatch.setenv("MEETINGS_DEFAULT_TIMEZONE", "Europe/Lisbon")
    settings = MeetingsSettings()
    assert settings.meetings_mail_from == "Bookings <bookings@example.org>"
    assert settings.meetings_default_timezone == "Europe/Lisbon"


def test_the_default_sender_is_an_identity_the_local_stack_verifies() -> None:
    """The topology's email_identities cover MEETINGS_MAIL_FROM's default, or SES refuses it."""
    sender = parseaddr(MeetingsSettings.model_fields["meetings_mail_from"].default)[1]
    identities = load_topology().email_identities
    assert sender in identities or sender.rpartition("@")[2] in identities
    assert all(identity.owner == "meetings" for identity in identities.values())
