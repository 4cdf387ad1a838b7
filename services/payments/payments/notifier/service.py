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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import aiosmtplib
import structlog
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.domain.retry import backoff_seconds
from payments.notifier.templates import render
from shared.messaging.consumer import BatchResult
from shared.messaging.inbox import Inbox, IncomingRecord, read_new_events
from shared.messaging.runtime import wait_for_work
from shared.topics import NOTIFICATIONS

log = structlog.get_logger(__name__)

SENT = Counter("payments_notifications_total", "Notification e-mails", ["outcome"])

_INSERT = text(
    """
    INSERT INTO notifications (message_id, partner_id, type, locale, recipient, subject, body,
        status)
    VALUES (:message_id, :partner_id, :type, :locale, :recipient, :subject, :body, 'pending')
    ON CONFLICT (message_id) DO NOTHING
    """
)
_CLAIM = text(
    """
    UPDATE notifications SET status = 'sending', tries = tries + 1
    WHERE message_id IN (
        SELECT message_id FROM notifications
        WHERE status = 'pending' AND next_try_at <= :now
        ORDER BY next_try_at LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING message_id, recipient, subject, body, locale, tries
    """
)
_FINISH = text(
    "UPDATE notifications SET status = :status, sent_at = :sent_at, next_try_at = :next_try_at,"
    " last_error = :error WHERE message_id = :id AND status = 'sending'"
)


class NotificationRecorder:
    """Records a batch of `ledger.notifications` (the consumer's `BatchHandler`)."""

    def __init__(self, recipient_template: str, brand: str) -> None:
        self._recipient = recipient_template
        self._brand = brand

    async def __call__(
        self,
        connection: AsyncConnection,
        inbox: Inbox,
        records: Sequence[IncomingRecord],
    ) -> BatchResult:
        batch = await read_new_events(
            inbox, NOTIFICATIONS.name, records, NOTIFICATIONS.message_types
        )
        for letter in batch.dead_letters:
            log.error("unreadable notification", reason=letter.reason, offset=letter.offset)
        for _, event in batch.new:
            mail = render(event.type, event.data, self._brand)
            if mail is None:
                continue
            partner_id = event.data["partner_id"]
            await connection.execute(
                _INSERT,
                {
                    "message_id": event.id,
                    "partner_id": partner_id,
                    "type": event.type,
                    "locale": mail.locale,
                    "recipient": self._recipient.format(partner_id=partner_id),
                    "subject": mail.subject,
                    "body": mail.body,
                },
            )
        return BatchResult(len(batch.new), batch.duplicates, batch.dead_letters)


# The server answered and refused: the message was certainly not accepted.
_NOT_SENT = (
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPHeloError,
    aiosmtplib.SMTPAuthenticationError,
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPRecipientsRefused,
    aiosmtplib.SMTPDataError,
    aiosmtplib.SMTPNotSupported,
)


def _permanent(exc: Exception) -> bool:
    """A 5xx reply: sending the same mail again gets the same answer."""
    codes = [getattr(exc, "code", 0)] + [
        getattr(e, "code", 0) for e in getattr(exc, "recipients", [])
    ]
    return any(500 <= code < 600 for code in codes)


@dataclass(frozen=True, slots=True)
class _Due:
    message_id: str
    recipient: str
    subject: str
    body: str
    locale: str
    tries: int


class Mailer:
    """Sends due notifications over SMTP."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        sender: str,
        hostname: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool = False,
        timeout_seconds: float = 30.0,
        retry_base_seconds: float = 30.0,
        retry_max_seconds: float = 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._sender = sender
        self._smtp: dict[str, Any] = {
            "hostname": hostname,
            "port": port,
            "username": username,
            "password": password,
            "start_tls": start_tls,
            "timeout": timeout_seconds,
        }
        self._retry = (retry_base_seconds, retry_max_seconds)
        self._clock = clock

    async def send_due(self, limit: int = 50) -> int:
        """Send what is due; returns how many were tried."""
        async with self._engine.begin() as connection:
            result = await connection.execute(_CLAIM, {"now": self._clock(), "limit": limit})
            due = [_Due(**row) for row in result.mappings()]
        for notification in due:
            await self._send(notification)
        return len(due)

    def _message(self, due: "_Due") -> EmailMessage:
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

    async def _send(self, due: "_Due") -> None:
        try:
            await aiosmtplib.send(self._message(due), **self._smtp)
        except _NOT_SENT as exc:
            permanent = _permanent(exc)
            retry_at = self._clock() + timedelta(seconds=backoff_seconds(due.tries, *self._retry))
            status = "failed" if permanent else "pending"
            await self._finish(due.message_id, status, None, retry_at, str(exc))
            SENT.labels("failed" if permanent else "retry").inc()
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
        async with self._engine.begin() as connection:
            await connection.execute(
                _FINISH,
                {
                    "id": message_id,
                    "status": status,
                    "sent_at": sent_at,
                    "next_try_at": next_try_at,
                    "error": error,
                },
            )

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
