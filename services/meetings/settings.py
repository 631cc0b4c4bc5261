"""Settings of the meetings service (API and worker)."""

from __future__ import annotations

from datetime import time, timedelta
from email.utils import parseaddr

from pydantic import Field, field_validator, model_validator

from services.meetings.dialog import SchedulingRules
from services.meetings.mail_cap import MailCap
from services.meetings.models import valid_timezone
from shared.settings import PlatformSettings


def _address(value: str) -> str:
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not (local and at and "." in domain):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


class MeetingsSettings(PlatformSettings):
    """Environment of the meetings processes; see PlatformSettings for the shared fields."""

    # IANA zone a conversation (or a listing's from/to) uses when the client names none.
    meetings_default_timezone: str = "UTC"
    meetings_opens: time = time(9, 0)
    meetings_closes: time = time(18, 0)
    meetings_min_duration_minutes: int = Field(15, ge=1, le=24 * 60)
    meetings_max_duration_minutes: int = Field(240, ge=1, le=24 * 60)
    # How far ahead a meeting may be booked.
    meetings_horizon_days: int = Field(365, ge=1, le=3650)
    # A conversation idle this long starts over (the original Lex bot's setting).
    meetings_session_idle_seconds: int = Field(300, ge=1, le=24 * 3600)
    # Conversations an API process keeps in memory after saving them (one read less per turn
    # when the next message comes back to it); 0 reads every turn from the table.
    meetings_remembered_conversations: int = Field(10_000, ge=0, le=1_000_000)
    # "5/3" read as 5 March rather than May 3.
    meetings_day_first: bool = False
    # Who is told about new requests, and who the mail comes from (an SES identity).
    meetings_admin_email: str = "admin@example.com"
    meetings_mail_from: str = "Meety <meetings@example.com>"
    # At most this many meeting.requested e-mails to the admins per window; the window's
    # other requests go out together in one digest once it closes (services/meetings/mail_cap.py).
    meetings_admin_mail_cap: int = Field(20, ge=0)
    meetings_admin_mail_window_seconds: int = Field(3600, ge=1)

    _zone = field_validator("meetings_default_timezone")(valid_timezone)
    _mail = field_validator("meetings_admin_email", "meetings_mail_from")(_address)

    @model_validator(mode="after")
    def _coherent_rules(self) -> MeetingsSettings:
        try:
            self.rules  # noqa: B018 - built once here so a bad combination stops the start
        except ValueError as exc:
            raise ValueError(f"scheduling rules: {exc}") from None
        return self

    @property
    def admin_mail_cap(self) -> MailCap:
        """The cap on request e-mails to the admins, as the worker applies it."""
        return MailCap(self.meetings_admin_mail_cap,
                       timedelta(seconds=self.meetings_admin_mail_window_seconds))

    @property
    def rules(self) -> SchedulingRules:
        """When meetings may take place, as the dialog engine takes it."""
        return SchedulingRules(
            opens=self.meetings_opens,
            closes=self.meetings_closes,
            min_duration_minutes=self.meetings_min_duration_minutes,
            max_duration_minutes=self.meetings_max_duration_minutes,
            horizon_days=self.meetings_horizon_days,
            idle_timeout=timedelta(seconds=self.meetings_session_idle_seconds),
        )
