"""The consumer's side of exactly-once: events seen, and the next offset per partition.

Both are written in the same transaction as the events a batch produced, so after a crash the
database says exactly which messages took effect, whatever Kafka's committed offsets say.

An event is identified by its `source` and `id` together (CloudEvents 1.0): two producers may
use the same id. Rows recorded before sources were kept have the source `''` (no real source
is empty): such a row still stands for its id from any source, so an old event redelivered is
recognised.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.codec import InvalidMessage, decode
from shared.database import driver_connection
from shared.envelope import CloudEvent
from shared.messaging.outbox import headers_json, printable

# The source of rows recorded before sources were kept (migration 0003 of the ledger, 0002 of
# payments); never a real one, since CloudEvents sources are not empty.
LEGACY_SOURCE = ""

# Whether any row stands for its id from every source: then a claim must look for those too.
_ANY_LEGACY = text("SELECT EXISTS (SELECT 1 FROM inbox WHERE source = :legacy)")
_CLAIM_COLUMNS = ("source", "message_id", "topic")

# Claims that may meet ids seen before. Returns the events that were NOT claimed (seen before),
# so a batch of thousands reads back a row only for those.
_CLAIM = text(
    """
    WITH wanted AS (
        SELECT s, i FROM unnest(CAST(:sources AS text[]), CAST(:ids AS text[])) AS t(s, i)
    ), claimed AS (
        INSERT INTO inbox (source, message_id, topic)
        SELECT s, i, :topic FROM wanted
        WHERE NOT EXISTS (
            SELECT 1 FROM inbox old WHERE old.source = :legacy AND old.message_id = wanted.i
        )
        ON CONFLICT (source, message_id) DO NOTHING
        RETURNING source, message_id
    )
    SELECT s, i FROM wanted WHERE (s, i) NOT IN (SELECT source, message_id FROM claimed)
    """
)

_SAVE_OFFSETS = text(
    """
    INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)
    SELECT :group, :topic, p, o
    FROM unnest(CAST(:partitions AS integer[]), CAST(:offsets AS bigint[])) AS t(p, o)
    ON CONFLICT (consumer_group, topic, partition)
    DO UPDATE SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset)
    """
)

_LOAD_OFFSETS = text(
    "SELECT partition, next_offset FROM consumer_offsets WHERE consumer_group = :group"
    " AND topic = :topic"
)

_ENSURE_OFFSETS = text(
    """
    INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)
    SELECT :group, :topic, p, 0 FROM unnest(CAST(:partitions AS integer[])) AS t(p)
    ON CONFLICT DO NOTHING
    """
)

_LOCK_OFFSETS = text(
    """
    SELECT partition, next_offset FROM consumer_offsets
    WHERE consumer_group = :group AND topic = :topic
      AND partition = ANY(CAST(:partitions AS integer[]))
    ORDER BY partition
    FOR UPDATE
    """
)

_DEAD_LETTER = text(
    """
    INSERT INTO dead_letters (topic, partition, "offset", message_key, message, message_headers,
                              reason, by_hand)
    VALUES (:topic, :partition, :offset, :key, :message, CAST(:headers AS jsonb), :reason,
            :by_hand)
    ON CONFLICT (topic, partition, "offset") DO NOTHING
    RETURNING id
    """
)

_SET_ASIDE = text(
    """
    SELECT partition, "offset" FROM dead_letters
    WHERE by_hand AND topic = :topic
      AND (partition, "offset") IN (
          SELECT * FROM unnest(CAST(:partitions AS integer[]), CAST(:offsets AS bigint[])))
    """
)

EventKey = tuple[str, str]  # (source, id)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that cannot take effect, kept byte for byte with the reason."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    message: bytes | None
    reason: str
    headers: tuple[tuple[str, bytes], ...] = ()  # binary-mode events carry their attributes here
    by_hand: bool = False  # set aside by an operator (`ops dead-letter`), not by the consumer


# A NamedTuple: immutable like a frozen dataclass, and built for every message at a third of
# its cost.
class IncomingRecord(NamedTuple):
    """One message as read from Kafka (`topic` without the deployment's prefix)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    def dead_letter(self, reason: str) -> DeadLetter:
        """This record, kept as it came, with why it cannot take effect."""
        return DeadLetter(
            self.topic, self.partition, self.offset, self.key, self.value, reason, self.headers
        )


class Inbox:
    def __init__(self, connection: AsyncConnection, consumer_group: str) -> None:
        self._connection = connection
        self._group = consumer_group

    async def claim(self, topic: str, events: Sequence[EventKey]) -> set[EventKey]:
        """Record the events' (source, id); returns those never seen before (the ones that may
        take effect)."""
        if not events:
            return set()
        unique = dict.fromkeys(events)
        if not await self._any_legacy() and await self._claim_all(topic, unique):
            return set(unique)
        result = await self._connection.execute(
            _CLAIM,
            {
                "topic": topic,
                "legacy": LEGACY_SOURCE,
                "sources": [source for source, _ in unique],
                "ids": [event_id for _, event_id in unique],
            },
        )
        claimed = set(unique)
        claimed.difference_update((row[0], row[1]) for row in result)
        return claimed

    async def _any_legacy(self) -> bool:
        result = await self._connection.execute(_ANY_LEGACY, {"legacy": LEGACY_SOURCE})
        return bool(result.scalar_one())

    async def _claim_all(self, topic: str, events: Iterable[EventKey]) -> bool:
        """Claim every event with one COPY, in a savepoint; False, with nothing claimed, if one
        was seen before (or is being claimed by another transaction, which it then waited for).

        Nearly every batch meets only new ids. A COPY spares PostgreSQL the conflict check of
        each row, and the client the binding of thousands of ids as arrays.
        """
        raw = await driver_connection(self._connection)
        try:
            async with raw.transaction():  # nested: a savepoint of the caller's transaction
                await raw.copy_records_to_table(
                    "inbox",
                    records=[(source, event_id, topic) for source, event_id in events],
                    columns=_CLAIM_COLUMNS,
                )
        except asyncpg.UniqueViolationError:
            return False
        return True

    async def set_aside(
        self, topic: str, records: Sequence["IncomingRecord"]
    ) -> set[tuple[int, int]]:
        """(partition, offset) of the records an operator dead-lettered by hand: never applied."""
        if not records:
            return set()
        result = await self._connection.execute(
            _SET_ASIDE,
            {
                "topic": topic,
                "partitions": [r.partition for r in records],
                "offsets": [r.offset for r in records],
            },
        )
        return {(row[0], row[1]) for row in result}

    async def save_offsets(self, topic: str, next_offsets: Mapping[int, int]) -> None:
        if next_offsets:
            await self._connection.execute(
                _SAVE_OFFSETS,
                {
                    "group": self._group,
                    "topic": topic,
                    "partitions": list(next_offsets),
                    "offsets": list(next_offsets.values()),
                },
            )

    async def lock_offsets(self, topic: str, partitions: set[int]) -> dict[int, int]:
        """The stored next offsets of these partitions, locked until the transaction ends, so
        that two consumers (say, around a rebalance) apply a partition's batch one at a time."""
        parameters = {"group": self._group, "topic": topic, "partitions": sorted(partitions)}
        await self._connection.execute(_ENSURE_OFFSETS, parameters)
        result = await self._connection.execute(_LOCK_OFFSETS, parameters)
        return {row[0]: row[1] for row in result}

    async def next_offsets(self, topic: str) -> dict[int, int]:
        result = await self._connection.execute(
            _LOAD_OFFSETS, {"group": self._group, "topic": topic}
        )
        return {row[0]: row[1] for row in result}

    async def record_dead_letters(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Keep the letters; returns those not kept before (a re-read adds no second copy)."""
        new = []
        for letter in letters:
            result = await self._connection.execute(
                _DEAD_LETTER,
                {
                    "topic": letter.topic,
                    "partition": letter.partition,
                    "offset": letter.offset,
                    "key": letter.key,
                    "message": letter.message,
                    "headers": headers_json(letter.headers),
                    "reason": printable(letter.reason),
                    "by_hand": letter.by_hand,
                },
            )
            if result.first() is not None:
                new.append(letter)
        return new


@dataclass
class ReadBatch:
    """A batch decoded: the events seen for the first time, and what could not be read."""

    new: list[tuple[IncomingRecord, CloudEvent]]
    duplicates: int
    dead_letters: list[DeadLetter]


class MessageClaims(Protocol):
    async def claim(self, topic: str, events: Sequence[EventKey]) -> set[EventKey]: ...


async def read_new_events(
    inbox: MessageClaims, topic: str, records: Sequence[IncomingRecord], types: Collection[str]
) -> ReadBatch:
    """Decode each record; one that is not a valid event of `types` becomes a dead letter, and
    an event the inbox has seen (same source and id: a redelivery, or twice in this batch) is
    dropped."""
    dead: list[DeadLetter] = []
    decoded: list[tuple[IncomingRecord, CloudEvent]] = []
    for record in records:
        try:
            event = decode(record.value, record.headers)
            if event.type not in types:
                raise InvalidMessage(f"type {event.type!r} does not belong on {topic}", "$.type")
        except InvalidMessage as exc:
            dead.append(record.dead_letter(str(exc)))
            continue
        decoded.append((record, event))
    first_seen = await inbox.claim(topic, [(event.source, event.id) for _, event in decoded])
    new = []
    for record, event in decoded:
        if (event.source, event.id) in first_seen:
            first_seen.discard((event.source, event.id))
            new.append((record, event))
    return ReadBatch(new, len(decoded) - len(new), dead)
