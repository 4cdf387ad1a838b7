"""Reminder e-mails in PostgreSQL (`notifications`): `pending` -> `sending` -> `sent`/`failed`."""

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.service_layer.ports import DueMail, Notification

_INSERT = text(
    """
    INSERT INTO notifications (message_id, partner_id, type, locale, recipient, subject, body,
        status)
    VALUES (:message_id, :partner_id, :type, :locale, :recipient, :subject, :body, 'pending')
    ON CONFLICT (message_id) DO NOTHING
    """
)
# SKIP LOCKED: several notifiers share the due rows instead of queueing behind each other.
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


class PostgresNotifications:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, notification: Notification) -> None:
        await self._connection.execute(
            _INSERT,
            {
                "message_id": notification.message_id,
                "partner_id": notification.partner_id,
                "type": notification.type,
                "locale": notification.locale,
                "recipient": notification.recipient,
                "subject": notification.subject,
                "body": notification.body,
            },
        )

    async def claim_due(self, now: datetime, limit: int) -> list[DueMail]:
        result = await self._connection.execute(_CLAIM, {"now": now, "limit": limit})
        return [DueMail(**row) for row in result.mappings()]

    async def finish(
        self,
        message_id: str,
        status: str,
        sent_at: datetime | None,
        next_try_at: datetime,
        error: str | None,
    ) -> None:
        await self._connection.execute(
            _FINISH,
            {
                "id": message_id,
                "status": status,
                "sent_at": sent_at,
                "next_try_at": next_try_at,
                "error": error,
            },
        )
