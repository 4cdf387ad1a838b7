"""The batch consumer: read a topic and let each message take effect exactly once.

Per batch, in ONE database transaction: lock the partitions' stored offsets (a consumer that
lost the partition in a rebalance and one that gained it cannot both apply the same messages),
drop what is below them, let the handler make the batch take effect (and record message ids in
the inbox), keep the dead letters (and queue them for the dead-letter topic), and move the
stored offsets. Kafka's own offsets are committed afterwards, as a hint: the database is the
truth, and on assignment the consumer seeks to it. Trouble with the database or a service the
handler needs is waited out and the same batch tried again: nothing is ever skipped.
"""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.messaging.inbox import DeadLetter, Inbox, IncomingRecord
from shared.messaging.kafka import create_consumer
from shared.messaging.outbox import Outbox, OutgoingMessage
from shared.messaging.runtime import sleep_or_stop
from shared.topics import DLQ_REASON_HEADER, DLQ_SOURCE_HEADER

log = structlog.get_logger(__name__)

CONSUMED = Counter("messages_consumed_total", "Messages read", ["topic", "outcome"])


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: int
    duplicates: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


class BatchHandler(Protocol):
    """Makes a batch of one topic's messages take effect inside the given transaction."""

    async def __call__(
        self, connection: AsyncConnection, inbox: Inbox, records: Sequence[IncomingRecord]
    ) -> BatchResult: ...


@dataclass(frozen=True)
class Subscription:
    """What one consumer reads and what it does with it."""

    topic: str  # without the deployment's prefix
    group: str
    handler: BatchHandler
    dead_letter_topic: str | None = None  # dead letters also stay in the `dead_letters` table
    # Besides database trouble, the exceptions that mean "try the same batch again later".
    retry_on: tuple[type[BaseException], ...] = ()
    # Called before a retry, e.g. to forget cached state the failed attempt may have read.
    on_retry: Callable[[Sequence[IncomingRecord]], None] = lambda records: None


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
    engine: AsyncEngine, subscription: Subscription, records: Sequence[IncomingRecord]
) -> BatchResult | None:
    """One transaction for the batch; None when every record was below the stored offsets."""
    async with engine.begin() as connection:
        inbox = Inbox(connection, subscription.group)
        stored = await inbox.lock_offsets(subscription.topic, {r.partition for r in records})
        fresh = [r for r in records if r.offset >= stored.get(r.partition, 0)]
        if not fresh:
            return None
        result = await subscription.handler(connection, inbox, fresh)
        new_letters = await inbox.record_dead_letters(result.dead_letters)
        if subscription.dead_letter_topic is not None:
            topic = subscription.dead_letter_topic
            await Outbox(connection).write([dead_letter_message(d, topic) for d in new_letters])
        next_offsets: dict[int, int] = {}
        for r in fresh:
            next_offsets[r.partition] = max(next_offsets.get(r.partition, 0), r.offset + 1)
        await inbox.save_offsets(subscription.topic, next_offsets)
    return result


class Stopped(Exception):
    """Asked to stop before the batch could be recorded; nothing of it was committed."""


async def apply_batch_until_done(
    engine: AsyncEngine,
    subscription: Subscription,
    records: Sequence[IncomingRecord],
    stop: asyncio.Event | None = None,
) -> BatchResult | None:
    """Retry the same batch until it is recorded, or raise `Stopped` once `stop` is set (the
    batch is read again on the next start, since neither offset moved)."""
    retryable: tuple[type[BaseException], ...] = (DBAPIError, OSError, *subscription.retry_on)
    attempt = 0
    while stop is None or not stop.is_set():
        attempt += 1
        try:
            return await apply_batch(engine, subscription, records)
        except retryable as exc:
            subscription.on_retry(records)
            delay = min(10.0, 0.05 * 2 ** min(attempt, 8))
            log.warning("batch not recorded; retrying", attempt=attempt, delay=delay, error=exc)
            if stop is None:
                await asyncio.sleep(delay)
            else:
                await sleep_or_stop(stop, delay)
    raise Stopped()


async def fetch_batch(
    consumer: AIOKafkaConsumer, batch_size: int, linger_seconds: float
) -> dict[TopicPartition, list[Any]]:
    """Up to `batch_size` records: whatever is there, plus what arrives within the linger time.

    A fetch returns as soon as one partition has data; waiting a moment for more makes one
    transaction cover hundreds of messages instead of a handful.
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


async def run_consumer(
    engine: AsyncEngine,
    subscription: Subscription,
    *,
    bootstrap_servers: str,
    topic_prefix: str,
    batch_size: int,
    stop: asyncio.Event,
    session_timeout_ms: int = 10_000,
    linger_seconds: float = 0.05,
    after_batch: Callable[[], None] | None = None,
) -> None:
    """Consume `topic_prefix + subscription.topic` until `stop` is set."""

    async def stored_offsets(_: str) -> dict[int, int]:
        # Offsets are stored under the topic's name without the deployment prefix.
        async with engine.connect() as connection:
            return await Inbox(connection, subscription.group).next_offsets(subscription.topic)

    consumer = create_consumer(
        bootstrap_servers,
        subscription.group,
        [topic_prefix + subscription.topic],
        stored_offsets,
        max_batch=batch_size,
        session_timeout_ms=session_timeout_ms,
    )
    await consumer.start()
    log.info("consuming", topic=topic_prefix + subscription.topic, group=subscription.group)
    try:
        while not stop.is_set():
            fetched = await fetch_batch(consumer, batch_size, linger_seconds)
            records = [
                IncomingRecord(subscription.topic, tp.partition, m.offset, m.key, m.value)
                for tp, messages in fetched.items()
                for m in messages
            ]
            if not records:
                continue
            try:
                result = await apply_batch_until_done(engine, subscription, records, stop)
            except Stopped:
                break
            if result is not None:
                CONSUMED.labels(subscription.topic, "applied").inc(result.applied)
                CONSUMED.labels(subscription.topic, "duplicate").inc(result.duplicates)
                CONSUMED.labels(subscription.topic, "dead_letter").inc(len(result.dead_letters))
            try:
                await consumer.commit(
                    {
                        TopicPartition(tp.topic, tp.partition): messages[-1].offset + 1
                        for tp, messages in fetched.items()
                        if messages
                    }
                )
            except KafkaError as exc:
                # Only a hint (e.g. refused during a rebalance): the stored offsets already
                # moved, and whoever owns the partition next starts from them.
                log.warning("kafka offset commit failed", error=exc)
            if after_batch is not None:
                after_batch()
    finally:
        await consumer.stop()
