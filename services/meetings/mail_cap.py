"""The cap on admin e-mails about new requests, and the digest of the requests it held back.

Anyone may complete a meeting request by chatting, and each ``meeting.requested`` used to
e-mail the admins: a chat flood was a mail flood. Now at most ``cap`` requests a window are
mailed one by one; the rest of the window's requests wait for one digest, sent once the window
has closed. This module is the pure part (no I/O): which window a request falls in, what a
recorded decision means, which windows are due. ``store.AdminMailLedger`` keeps the counts and
decisions in DynamoDB; ``consumers.Notifier`` and ``consumers.DigestFlusher`` act on them.

Windows are anchored at the request that opens them: a request handled when no window is open
starts one of ``window`` length at that moment (``window_at``), and every request handled
before its end belongs to it. So in any stretch of ``window`` at most twice ``cap`` individual
mails go out (as with fixed windows), and a burst is never split by a boundary it did not
choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

# The flusher looks for closed windows this often, at most (a tenth of the window, at least
# a second): with the default hour, a digest leaves within a minute of its window's end.
MAX_FLUSH_SECONDS = 60.0


class Route(StrEnum):
    """What becomes of one request's admin e-mail (recorded once per event)."""

    MAIL = "mail"  # within the cap: mail it on its own (not yet confirmed sent)
    SENT = "sent"  # within the cap, and SES has accepted it: nothing more to do
    DIGEST = "digest"  # over the cap: it waits in its window's digest


def stamp(moment: datetime) -> str:
    """A sortable, compact UTC key for an instant, to the microsecond: 20261207T064120123456Z
    (also usable in a Message-ID, which a colon would not be)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """One cap window: [start, end)."""

    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        """The window's identity in the ledger and in its digest's Message-ID."""
        return stamp(self.start)

    def is_open(self, now: datetime) -> bool:
        return now < self.end

    @classmethod
    def of(cls, start: str, end: str) -> Window:
        return cls(parse_stamp(start), parse_stamp(end))


@dataclass(frozen=True)
class MailCap:
    """At most ``cap`` individual admin e-mails per window of ``window``; the rest digested."""

    cap: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.cap < 0 or self.window <= timedelta(0):
            raise ValueError(f"a mail cap needs cap >= 0 and a positive window, not {self}")

    def window_at(self, now: datetime, current: Window | None) -> Window:
        """The window a request handled at ``now`` belongs to: the current one while it is
        open, otherwise a new one starting at ``now`` (never before the current one ends, so
        windows do not overlap even when clocks disagree a little)."""
        if current is not None and current.is_open(now):
            return current
        start = now if current is None else max(now, current.end)
        return Window(start, start + self.window)

    def after(self, closed: Window, now: datetime) -> Window:
        """The window that follows ``closed`` when a request meets it closed by a flusher
        whose clock ran ahead of ours."""
        start = max(now, closed.end)
        return Window(start, start + self.window)

    @property
    def flush_seconds(self) -> float:
        """How often a worker looks for closed windows whose digest is due."""
        return min(MAX_FLUSH_SECONDS, max(1.0, self.window.total_seconds() / 10))

    def worst_digest_delay(self, claim_seconds: float) -> float:
        """Seconds after a window's end by which its digest leaves while a worker runs: one
        flush interval, plus one claim lifetime if the flusher holding it died mid-send."""
        return self.flush_seconds + claim_seconds


def route_of(decision: dict[str, Any] | None) -> Route | None:
    """The route a recorded decision (the ledger item, as plain values) stands for; None when
    there is none yet."""
    if not decision:
        return None
    if decision["route"] == Route.DIGEST.value:
        return Route.DIGEST
    return Route.SENT if decision.get("mailed_at") else Route.MAIL


def due_windows(markers: list[dict[str, Any]], now: datetime) -> list[Window]:
    """Of the windows holding requests for a digest not yet sent, those that have closed, in
    order: their digests are due."""
    windows = [Window.of(m["window"], m["end"]) for m in markers]
    return sorted((w for w in windows if not w.is_open(now)), key=lambda w: w.start)
