"""The meetings worker process: ``python -m services.meetings.worker``.

It relays the ``meeting.*`` events the API commits (the outbox), mails what they announce
(request e-mails to the admins up to a cap per window) and sends the digest of each closed
window's other requests.
"""

from __future__ import annotations

from services.meetings.consumers import NOTIFICATIONS, DigestFlusher, Notifier
from services.meetings.mail import Mailer
from services.meetings.settings import MeetingsSettings
from services.meetings.store import AdminMailLedger
from shared.aws import AwsClients
from shared.relay import outbox_relay
from shared.topology import Resources
from shared.worker import Runner, consumer, serve


async def build(aws: AwsClients, resources: Resources) -> list[Runner]:
    settings = MeetingsSettings.of(aws.settings)
    mailer = Mailer(await aws.client("ses"))
    ledger = AdminMailLedger(await aws.client("dynamodb"), resources.table("meetings-admin-mail"),
                             settings.admin_mail_cap)
    sender, admin = settings.meetings_mail_from, settings.meetings_admin_email
    notifier = Notifier(mailer, sender=sender, admin=admin, ledger=ledger)
    return [await consumer(aws, resources, NOTIFICATIONS, notifier),
            await outbox_relay(aws, resources, "meetings"),
            DigestFlusher(ledger, mailer, sender=sender, admin=admin)]


if __name__ == "__main__":
    serve(MeetingsSettings.load(), "meetings", build)
