"""The transactional outbox: results written with the state change that caused them, and the
claim the relay makes to publish them."""

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.codec import encode
from shared.envelope import CloudEvent
from shared.topics import topic_for_type


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    topic: str
    key: bytes | None
    value: bytes


_INSERT = text(
    "INSERT INTO outbox (partner_id, topic, message_key, message)"
    " VALUES (:partner_id, :topic, :key, :value)"
)

# Oldest first, and only rows of partners whose advisory lock this transaction gets: with
# several relays, one partner's results still leave one relay in the order they were written
# (a return must never overtake the success it reverses).
_CLAIM = text(
    """
    SELECT id, topic, message_key, message FROM outbox
    WHERE id IN (SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT :limit)
      AND pg_try_advisory_xact_lock(hashtextextended('payments.outbox/' || partner_id, 0))
    ORDER BY id
    FOR UPDATE SKIP LOCKED
    """
)
_MARK = text("UPDATE outbox SET published_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))")


async def write(connection: AsyncConnection, partner_id: str, event: CloudEvent) -> None:
    """Queue `event` (validated against its schema) on its topic, keyed by partner id."""
    await connection.execute(
        _INSERT,
        {
            "partner_id": partner_id,
            "topic": topic_for_type(event.type).name,
            "key": partner_id.encode(),
            "value": encode(event),
        },
    )


async def claim(connection: AsyncConnection, limit: int) -> list[OutboxRow]:
    result = await connection.execute(_CLAIM, {"limit": limit})
    return [OutboxRow(row.id, row.topic, row.message_key, row.message) for row in result]


async def mark_published(connection: AsyncConnection, ids: list[int]) -> None:
    if ids:
        await connection.execute(_MARK, {"ids": ids})
