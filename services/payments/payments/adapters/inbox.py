"""The consuming side of exactly-once: message ids seen, next offsets, unreadable messages.

All three are written in the transaction that records what the messages caused, so after a
crash the database alone says which messages took effect.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class IncomingRecord:
    """One Kafka record; `topic` is the name without the deployment's prefix."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


_CLAIM_ID = text(
    "INSERT INTO inbox (message_id, topic) VALUES (:id, :topic)"
    " ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
)
_ENSURE_OFFSET = text(
    "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)"
    " VALUES (:group, :topic, :partition, 0) ON CONFLICT DO NOTHING"
)
_LOCK_OFFSET = text(
    "SELECT next_offset FROM consumer_offsets"
    " WHERE consumer_group = :group AND topic = :topic AND partition = :partition FOR UPDATE"
)
_SAVE_OFFSET = text(
    "UPDATE consumer_offsets SET next_offset = GREATEST(next_offset, :next)"
    " WHERE consumer_group = :group AND topic = :topic AND partition = :partition"
)
_READ_OFFSETS = text(
    "SELECT partition, next_offset FROM consumer_offsets"
    " WHERE consumer_group = :group AND topic = :topic"
)
_DEAD_LETTER = text(
    'INSERT INTO dead_letters (topic, partition, "offset", message_key, message, reason)'
    " VALUES (:topic, :partition, :offset, :key, :message, :reason)"
    ' ON CONFLICT (topic, partition, "offset") DO NOTHING'
)


class Inbox:
    def __init__(self, connection: AsyncConnection, consumer_group: str, topic: str) -> None:
        self._connection = connection
        self._group = consumer_group
        self._topic = topic

    async def first_time(self, message_id: str) -> bool:
        """Record the id; True only the first time it is seen."""
        result = await self._connection.execute(_CLAIM_ID, {"id": message_id, "topic": self._topic})
        return result.first() is not None

    async def lock_offsets(self, partitions: Iterable[int]) -> dict[int, int]:
        """The stored next offsets, locked until commit: two consumers around a rebalance
        record a partition's messages one after the other, and the second skips them."""
        offsets: dict[int, int] = {}
        for partition in sorted(set(partitions)):
            key = {"group": self._group, "topic": self._topic, "partition": partition}
            await self._connection.execute(_ENSURE_OFFSET, key)
            offsets[partition] = (await self._connection.execute(_LOCK_OFFSET, key)).scalar_one()
        return offsets

    async def save_offsets(self, next_offsets: Mapping[int, int]) -> None:
        for partition, next_offset in next_offsets.items():
            await self._connection.execute(
                _SAVE_OFFSET,
                {
                    "group": self._group,
                    "topic": self._topic,
                    "partition": partition,
                    "next": next_offset,
                },
            )

    async def stored_offsets(self) -> dict[int, int]:
        result = await self._connection.execute(
            _READ_OFFSETS, {"group": self._group, "topic": self._topic}
        )
        return {row.partition: row.next_offset for row in result}

    async def dead_letter(self, record: IncomingRecord, reason: str) -> None:
        await self._connection.execute(
            _DEAD_LETTER,
            {
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "key": record.key,
                "message": record.value,
                "reason": reason,
            },
        )
