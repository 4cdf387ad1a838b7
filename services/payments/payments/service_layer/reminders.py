"""Record each notification once, then send its e-mail at most once.

Crash windows, and the choice made: the row is marked `sending` (committed) BEFORE the SMTP
conversation and `sent` after it. A failure the SMTP server reported (connection refused, a
4xx/5xx reply to MAIL, RCPT or DATA) means the mail was not accepted: it goes back to `pending`
(4xx, connection) or to `failed` (5xx). A crash or a lost connection after the message was
handed over leaves the row `sending`: the mail may or may not have gone out, and it is NOT sent
again (at most once; an operator finds these rows). A stable Message-ID lets mail systems drop
copies should an operator resend one.
"""

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import structlog
from prometheus_client import Counter

from payments.domain.reminders import render
from payments.domain.retry import backoff_seconds
from payments.service_layer.ports import (
    DueMail,
    MailNotAccepted,
    MailSender,
    Notification,
    UnitOfWork,
    UnitOfWorkFactory,
)
from shared.messaging.consumer import BatchResult
from shared.messaging.inbox import IncomingRecord, read_new_events
from shared.messaging.runtime import wait_for_work
from shared.topics import NOTIFICATIONS, NOTIFICATIONS_DLQ

log = structlog.get_logger(__name__)

SENT = Counter("payments_notifications_total", "Notification e-mails", ["outcome"])


class RecordNotifications:
    """Records a batch of `ledger.notifications` as rendered mails, in the consumer's
    transaction; the types that are not mailed are only marked seen."""

    topic = NOTIFICATIONS.name
    dead_letter_topic = NOTIFICATIONS_DLQ.name

    def __init__(self, recipient_template: str, brand: str) -> None:
        self._recipient = recipient_template
        self._brand = brand

    async def handle(self, uow: UnitOfWork, records: Sequence[IncomingRecord]) -> BatchResult:
        batch = await read_new_events(uow.inbox, self.topic, records, NOTIFICATIONS.message_types)
        for letter in batch.dead_letters:
            log.error("unreadable notification", reason=letter.reason, offset=letter.offset)
        for _, event in batch.new:
            mail = render(event.type, event.data, self._brand)
            if mail is None:
                continue
            partner_id = event.data["partner_id"]
            await uow.notifications.add(
                Notification(
                    message_id=event.id,
                    partner_id=partner_id,
                    type=event.type,
                    locale=mail.locale,
                    recipient=self._recipient.format(partner_id=partner_id),
                    subject=mail.subject,
                    body=mail.body,
                )
            )
        return BatchResult(len(batch.new), batch.duplicates, batch.dead_letters)


class ReminderSender:
    """Sends due notifications through the mail sender, each at most once."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        mail: MailSender,
        *,
        sender: str,
        retry_base_seconds: float = 30.0,
        retry_max_seconds: float = 3600.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._uow = uow
        self._mail = mail
        self._sender = sender
        self._retry = (retry_base_seconds, retry_max_seconds)
        self._clock = clock or (lambda: datetime.now(UTC))

    async def send_due(self, limit: int = 50) -> int:
        """Send what is due; returns how many were tried."""
        async with self._uow() as uow:
            due = await uow.notifications.claim_due(self._clock(), limit)
        for notification in due:
            await self._send(notification)
        return len(due)

    def message(self, due: DueMail) -> EmailMessage:
        """The e-mail of a notification, with a Message-ID that is the same on every try."""
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = due.recipient
        message["Subject"] = due.subject
        message["Date"] = format_datetime(self._clock())
        message["Message-ID"] = f"<{due.message_id}@{self._sender.rsplit('@', 1)[-1]}>"
        message.set_content(due.body)
        # After set_content, which replaces every Content-* header.
        message["Content-Language"] = due.locale
        return message

    async def _send(self, due: DueMail) -> None:
        try:
            await self._mail.send(self.message(due))
        except MailNotAccepted as exc:
            retry_at = self._clock() + timedelta(seconds=backoff_seconds(due.tries, *self._retry))
            status = "failed" if exc.permanent else "pending"
            await self._finish(due.message_id, status, None, retry_at, str(exc))
            SENT.labels("failed" if exc.permanent else "retry").inc()
            log.warning("notification not sent", message_id=due.message_id, error=str(exc))
            return
        except Exception as exc:
            SENT.labels("in_doubt").inc()
            log.error("notification in doubt", message_id=due.message_id, error=str(exc))
            return
        await self._finish(due.message_id, "sent", self._clock(), self._clock(), None)
        SENT.labels("sent").inc()

    async def _finish(
        self,
        message_id: str,
        status: str,
        sent_at: datetime | None,
        next_try_at: datetime,
        error: str | None,
    ) -> None:
        async with self._uow() as uow:
            await uow.notifications.finish(message_id, status, sent_at, next_try_at, error)

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, poll_seconds: float) -> None:
        while not stop.is_set():
            wake.clear()
            try:
                sent = await self.send_due()
            except Exception:
                log.exception("sending notifications failed; will try again")
                sent = 0
            if sent == 0:
                await wait_for_work(stop, wake, poll_seconds)
