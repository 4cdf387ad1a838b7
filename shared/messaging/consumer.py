"""The consumer process: read a topic in batches and let each message take effect exactly once.

Per batch, in ONE database transaction: lock the partitions' stored offsets (a consumer that
lost the partition in a rebalance and one that gained it cannot both apply the same messages),
drop what is below them, let the handler append events, projections and outbox rows, record
the message ids in the inbox and the dead letters, and move the stored offsets. Kafka's own
offsets are committed afterwards, as a hint: the database is the truth, and on assignment the
consumer seeks to it. Trouble with the database or the pricing service is waited out and the
same batch tried again: nothing is ever skipped.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters.event_store import ConcurrencyConflict
from ledger.adapters.inbox import DeadLetter
from ledger.adapters.outbox import OutgoingMessage
from ledger.adapters.pricing_client import PricingUnavailable
from ledger.adapters.unit_of_work import UnitOfWork, unit_of_work
from ledger.changes import AccountCache
from shared.topics import DLQ_REASON_HEADER, DLQ_SOURCE_HEADER

log = structlog.get_logger(__name__)

CONSUMED = Counter("ledger_messages_consumed_total", "Messages read", ["topic", "outcome"])


@dataclass(frozen=True, slots=True)
class IncomingRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    def dead_letter(self, reason: str) -> DeadLetter:
        """This record, kept as it came, with why it cannot take effect."""
        return DeadLetter(self.topic, self.partition, self.offset, self.key, self.value, reason)


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: int
    duplicates: int
    dead_letters: list[DeadLetter]


class BatchHandler(Protocol):
    """Makes a batch of one topic's messages take effect inside the given transaction."""

    topic: str
    dead_letter_topic: str

    async def handle(
        self, uow: UnitOfWork, records: Sequence[IncomingRecord], cache: AccountCache
    ) -> BatchResult: ...


def dead_letter_message(letter: DeadLetter, dead_letter_topic: str) -> OutgoingMessage:
    """The original bytes, unchanged, with the reason and origin in headers."""
    return OutgoingMessage(
        partner_id=(letter.key or b"").decode("utf-8", "replace") or "(no key)",
        topic=dead_letter_topic,
        key=letter.key,
        value=letter.message,
        headers=(
            (DLQ_REASON_HEADER, letter.reason.encode()),
            (DLQ_SOURCE_HEADER, f"{letter.topic}/{letter.partition}/{letter.offset}".encode()),
        ),
    )


async def apply_batch(
    engine: AsyncEngine,
    handler: BatchHandler,
    records: Sequence[IncomingRecord],
    cache: AccountCache,
    consumer_group: str,
) -> BatchResult | None:
    """One transaction for the batch; None when every record was below the stored offsets."""
    async with unit_of_work(engine, consumer_group) as uow:
        stored = await uow.inbox.lock_offsets(handler.topic, {r.partition for r in records})
        fresh = [r for r in records if r.offset >= stored.get(r.partition, 0)]
        if not fresh:
            return None
        result = await handler.handle(uow, fresh, cache)
        new_letters = await uow.inbox.record_dead_letters(result.dead_letters)
        await uow.outbox.write(
            [dead_letter_message(d, handler.dead_letter_topic) for d in new_letters]
        )
        next_offsets: dict[int, int] = {}
        for r in fresh:
            next_offsets[r.partition] = max(next_offsets.get(r.partition, 0), r.offset + 1)
        await uow.inbox.save_offsets(handler.topic, next_offsets)
    return result


async def apply_batch_until_done(
    engine: AsyncEngine,
    handler: BatchHandler,
    records: Sequence[IncomingRecord],
    cache: AccountCache,
    consumer_group: str,
) -> BatchResult | None:
    """Retry the same batch until it is recorded; a conflict is retried at once."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await apply_batch(engine, handler, records, cache, consumer_group)
        except ConcurrencyConflict:
            # Another writer (the HTTP API, another consumer) got there first: reload.
            cache.discard({r.key.decode() for r in records if r.key})
            log.info("concurrent append; retrying batch", attempt=attempt)
        except (PricingUnavailable, OperationalError, DBAPIError, OSError) as exc:
            cache.discard({r.key.decode() for r in records if r.key})
            delay = min(10.0, 0.2 * 2 ** min(attempt, 6))
            log.warning(
                "batch not recorded; retrying", attempt=attempt, delay=delay, error=str(exc)
            )
            await asyncio.sleep(delay)


async def fetch_batch(
    consumer: AIOKafkaConsumer, batch_size: int, linger_seconds: float
) -> dict[TopicPartition, list[Any]]:
    """Up to `batch_size` records: whatever is there, plus what arrives within the linger time.

    A fetch returns as soon as one partition has data; waiting a moment for more makes one
    transaction (and one pricing call) cover hundreds of mailings instead of a handful.
    """
    fetched: dict[TopicPartition, list[Any]] = await consumer.getmany(
        timeout_ms=200, max_records=batch_size
    )
    count = sum(len(m) for m in fetched.values())
    deadline = asyncio.get_running_loop().time() + linger_seconds
    while 0 < count < batch_size and asyncio.get_running_loop().time() < deadline:
        more = await consumer.getmany(timeout_ms=10, max_records=batch_size - count)
        for tp, messages in more.items():
            fetched.setdefault(tp, []).extend(messages)
            count += len(messages)
    return fetched


async def consume(
    consumer: AIOKafkaConsumer,
    engine: AsyncEngine,
    handler: BatchHandler,
    *,
    consumer_group: str,
    batch_size: int,
    stop: asyncio.Event,
    linger_seconds: float = 0.05,
) -> None:
    """Read, apply, commit, until `stop` is set."""
    cache = AccountCache()
    while not stop.is_set():
        fetched = await fetch_batch(consumer, batch_size, linger_seconds)
        records = [
            IncomingRecord(tp.topic, tp.partition, m.offset, m.key, m.value)
            for tp, messages in fetched.items()
            for m in messages
        ]
        if not records:
            continue
        result = await apply_batch_until_done(engine, handler, records, cache, consumer_group)
        if result is not None:
            CONSUMED.labels(handler.topic, "applied").inc(result.applied)
            CONSUMED.labels(handler.topic, "duplicate").inc(result.duplicates)
            CONSUMED.labels(handler.topic, "dead_letter").inc(len(result.dead_letters))
        await consumer.commit(
            {
                TopicPartition(tp.topic, tp.partition): messages[-1].offset + 1
                for tp, messages in fetched.items()
                if messages
            }
        )
