"""Queue handlers of the meetings service, and the digest of the admin mail the cap held back."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import UTC, datetime

from services.meetings import mail
from services.meetings.events import MEETING_EVENTS
from services.meetings.mail_cap import Route
from services.meetings.models import Meeting
from services.meetings.store import MailLedger
from shared.aws import CALL_ERRORS
from shared.errors import AwsUnavailableError
from shared.events import CloudEvent
from shared.logging import get_logger
from shared.worker import QueueSubscription

log = get_logger("meetings.consumers")

REQUESTED = MEETING_EVENTS.type_of("meeting.requested")
DECIDED = {
    MEETING_EVENTS.type_of("meeting.approved"),
    MEETING_EVENTS.type_of("meeting.rejected"),
    MEETING_EVENTS.type_of("meeting.cancelled"),
}

NOTIFICATIONS = QueueSubscription(
    "meetings-notifications", event_types=frozenset({REQUESTED, *DECIDED}),
    idempotency_table="meetings-idempotency")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Notifier:
    """E-mails the admins about new requests (up to the cap, see ``mail_cap``) and attendees
    about decisions, once per event; the handler of `NOTIFICATIONS`."""

    def __init__(self, mailer: mail.MailSender, *, sender: str, admin: str,
                 ledger: MailLedger | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.mailer = mailer
        self.sender = sender
        self.admin = admin
        self.ledger = ledger
        self.clock = clock

    async def __call__(self, event: CloudEvent) -> None:
        meeting = Meeting.model_validate(event.data)
        if event.type == REQUESTED:
            if self.ledger is not None:
                route, window = await self.ledger.route(event.id, meeting, now=self.clock())
                if route is not Route.MAIL:
                    # DIGEST: it waits for its window's digest; SENT: an earlier delivery
                    # mailed it and this one was redelivered after that.
                    log.info("mail.not_sent", meeting_id=meeting.id, route=route.value,
                             window=window)
                    return
            message = mail.request_notice(meeting, sender=self.sender, admin=self.admin,
                                          message_id=event.id)
        else:
            message = mail.decision_notice(meeting, sender=self.sender, message_id=event.id)
        ses_id = await self.mailer.send(message)
        if event.type == REQUESTED and self.ledger is not None:
            await self.ledger.mark_sent(event.id, now=self.clock())
        log.info("mail.sent", meeting_id=meeting.id, status=meeting.status.value,
                 ses_message_id=ses_id)


_RETRYABLE: tuple[type[Exception], ...] = (*CALL_ERRORS, AwsUnavailableError)


class DigestFlusher:
    """Sends the digest of every closed cap window that holds requests, in every meetings
    worker process, every ``ledger.cap.flush_seconds``.

    Several flushers may run: each digest is claimed in the ledger first (``claim_digest``),
    and its Message-ID derives from its window, so a flusher that dies after SES accepted the
    digest and before recording it makes the next one send the same message again once the
    claim expires (at least once, as every meetings e-mail).
    """

    def __init__(self, ledger: MailLedger, mailer: mail.MailSender, *, sender: str,
                 admin: str, clock: Callable[[], datetime] = utc_now) -> None:
        self.ledger = ledger
        self.mailer = mailer
        self.sender = sender
        self.admin = admin
        self.clock = clock
        self.sent = 0
        self._stopping = asyncio.Event()
        self._rng = random.Random()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Flush until stopped; AWS failures are logged and retried at the next turn."""
        every = self.ledger.cap.flush_seconds
        log.info("digest.flusher_started", every_s=every)
        while not self._stopping.is_set():
            try:
                await self.flush_once()
            except _RETRYABLE as exc:
                log.warning("digest.flush_failed", error=str(exc)[:500])
            except Exception as exc:  # a bad digest must not stop the worker's consumers
                log.error("digest.flush_failed", error=str(exc)[:500],
                          error_type=type(exc).__name__, exc_info=True)
            # A little jitter keeps several workers' flushers from running in step.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(),
                                       timeout=every * self._rng.uniform(0.8, 1.0))
        log.info("digest.flusher_stopped", sent=self.sent)

    async def flush_once(self) -> int:
        """Send the digests that are due now; returns how many this call sent."""
        sent = 0
        for window in await self.ledger.due(now=self.clock()):
            held = await self.ledger.claim_digest(window, now=self.clock())
            if held is None:
                continue  # another worker has it, or it went already
            if held:
                mailed = await self.ledger.mailed_in(window)
                message = mail.digest_notice(held, start=window.start, end=window.end,
                                             key=window.key, mailed=mailed, sender=self.sender,
                                             admin=self.admin)
                ses_id = await self.mailer.send(message)
                log.info("digest.sent", window=window.key, requests=len(held),
                         ses_message_id=ses_id)
                sent += 1
            await self.ledger.digest_sent(window, now=self.clock())
        self.sent += sent
        return sent
