"""The transactional outbox: messages written in the transaction of the change that caused
them, published afterwards by the relay (`shared.messaging.relay`)."""

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.codec import encode
from shared.envelope import CloudEvent
from shared.topics import topic_for_type


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    partner_id: str
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def outgoing(event: CloudEvent, partner_id: str) -> OutgoingMessage:
    """An event for its topic, validated against its schema and keyed by partner id."""
    return OutgoingMessage(
        partner_id=partner_id,
        topic=topic_for_type(event.type).name,
        key=partner_id.encode(),
        value=encode(event),
    )


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    id: int
    message: OutgoingMessage


_WRITE = text(
    """
    INSERT INTO outbox (partner_id, topic, message_key, message, headers)
    SELECT p, t, k, v, h::jsonb
    FROM unnest(CAST(:partners AS text[]), CAST(:topics AS text[]), CAST(:keys AS bytea[]),
                CAST(:values AS bytea[]), CAST(:headers AS text[]))
         WITH ORDINALITY AS x(p, t, k, v, h, n)
    ORDER BY n
    """
)

# A relay takes the oldest unpublished rows of the partners no other relay is busy with: the
# advisory lock (re-entrant within one transaction) keeps a partner's messages with one relay,
# so they leave in the order they were written.
_CLAIM = text(
    """
    SELECT id, partner_id, topic, message_key, message, headers::text
    FROM outbox
    WHERE id IN (SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT :limit)
      AND pg_try_advisory_xact_lock(hashtext('outbox:' || partner_id))
    ORDER BY id
    FOR UPDATE SKIP LOCKED
    """
)

_OLDEST_UNPUBLISHED_AGE = text(
    "SELECT extract(epoch FROM now() - created_at) FROM outbox"
    " WHERE id = (SELECT min(id) FROM outbox WHERE published_at IS NULL)"
)

_MARK = text("UPDATE outbox SET published_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))")


def printable(text: str) -> str:
    """Text PostgreSQL can store: U+0000 written out (it may come from the message itself)."""
    return text.replace("\x00", "\\u0000")


def headers_json(headers: Sequence[tuple[str, bytes]]) -> str:
    """Kafka headers as a JSON array of [name, text] pairs (U+0000 written out)."""
    return orjson.dumps(
        [[printable(name), printable(value.decode("utf-8", "replace"))] for name, value in headers]
    ).decode()


class Outbox:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def write(self, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        await self._connection.execute(
            _WRITE,
            {
                "partners": [m.partner_id for m in messages],
                "topics": [m.topic for m in messages],
                "keys": [m.key for m in messages],
                "values": [m.value for m in messages],
                "headers": [headers_json(m.headers) for m in messages],
            },
        )

    async def claim(self, limit: int) -> list[ClaimedMessage]:
        """Lock a batch of unpublished messages for this transaction."""
        result = await self._connection.execute(_CLAIM, {"limit": limit})
        return [
            ClaimedMessage(
                id=row[0],
                message=OutgoingMessage(
                    partner_id=row[1],
                    topic=row[2],
                    key=row[3],
                    value=row[4],
                    headers=tuple((name, value.encode()) for name, value in orjson.loads(row[5])),
                ),
            )
            for row in result
        ]

    async def mark_published(self, ids: Sequence[int]) -> None:
        if ids:
            await self._connection.execute(_MARK, {"ids": list(ids)})

    async def oldest_unpublished_age_seconds(self) -> float:
        """How long the oldest message not yet published has waited (0 when none waits)."""
        age = (await self._connection.execute(_OLDEST_UNPUBLISHED_AGE)).scalar()
        return float(age or 0.0)
