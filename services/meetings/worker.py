"""The meetings worker process: ``python -m services.meetings.worker``.

It relays the ``meeting.*`` events the API commits (the outbox) and mails what they announce.
"""

from __future__ import annotations

from typing import Any

from services.meetings.consumers import Notifier
from services.meetings.mail import Mailer
from services.meetings.settings import MeetingsSettings
from shared.relay import OutboxRelay, outbox_relay
from shared.worker import SqsWorker, consumer, serve


async def build(aws: Any, resources: Any) -> list[SqsWorker[Any] | OutboxRelay]:
    settings: MeetingsSettings = aws.settings
    notifier = Notifier(Mailer(await aws.client("ses")), sender=settings.meetings_mail_from,
                        admin=settings.meetings_admin_email)
    return [await consumer(aws, resources, "meetings-notifications", notifier,
                           idempotency_table="meetings-idempotency"),
            await outbox_relay(aws, resources, "meetings")]


if __name__ == "__main__":
    serve(MeetingsSettings.load(), "meetings", build)
