"""Read a topic in batches; record each batch, its message ids and next offsets in ONE transaction.

What a message causes is only recorded here (an attempt to charge, an e-mail to send); the work
itself happens afterwards, driven from the database. So a crash at any point either lost the
whole batch (it is read again from the stored offsets) or kept all of it. Kafka's own offsets
are committed after the database, as a hint; on assignment the consumer seeks to the database's.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.adapters.inbox import Inbox, IncomingRecord
from payments.adapters.kafka import create_consumer

log = structlog.get_logger(__name__)

CONSUMED = Counter("payments_messages_consumed_total", "Messages recorded", ["topic"])

RecordBatch = Callable[
    [AsyncConnection, Inbox, Sequence[IncomingRecord], datetime], Awaitable[None]
]


async def record_batch(
    engine: AsyncEngine,
    group: str,
    topic: str,
    records: Sequence[IncomingRecord],
    handle: RecordBatch,
) -> int:
    """Record the records not yet behind the stored offsets; returns how many were new."""
    async with engine.begin() as connection:
        inbox = Inbox(connection, group, topic)
        stored = await inbox.lock_offsets(r.partition for r in records)
        fresh = [r for r in records if r.offset >= stored[r.partition]]
        if not fresh:
            return 0
        await handle(connection, inbox, fresh, datetime.now(UTC))
        next_offsets: dict[int, int] = {}
        for r in fresh:
            next_offsets[r.partition] = max(next_offsets.get(r.partition, 0), r.offset + 1)
        await inbox.save_offsets(next_offsets)
    return len(fresh)


async def run_consumer(
    *,
    engine: AsyncEngine,
    bootstrap_servers: str,
    group: str,
    topic: str,
    topic_prefix: str,
    handle: RecordBatch,
    stop: asyncio.Event,
    after_batch: Callable[[], None],
    batch_size: int,
    session_timeout_ms: int,
) -> None:
    """Consume `topic_prefix + topic` until `stop` is set; database trouble is waited out and the
    same batch recorded again, never skipped."""

    async def stored_offsets() -> dict[int, int]:
        async with engine.connect() as connection:
            return await Inbox(connection, group, topic).stored_offsets()

    consumer: AIOKafkaConsumer = create_consumer(
        bootstrap_servers,
        group,
        topic_prefix + topic,
        stored_offsets,
        max_records=batch_size,
        session_timeout_ms=session_timeout_ms,
    )
    await consumer.start()
    log.info("consuming", topic=topic_prefix + topic, group=group)
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=200, max_records=batch_size)
            records = [
                IncomingRecord(topic, tp.partition, m.offset, m.key, m.value)
                for tp, messages in fetched.items()
                for m in messages
            ]
            if not records:
                continue
            await _record_until_done(engine, group, topic, records, handle)
            CONSUMED.labels(topic).inc(len(records))
            await consumer.commit(
                {
                    TopicPartition(tp.topic, tp.partition): messages[-1].offset + 1
                    for tp, messages in fetched.items()
                    if messages
                }
            )
            after_batch()
    finally:
        await consumer.stop()


async def _record_until_done(
    engine: AsyncEngine,
    group: str,
    topic: str,
    records: Sequence[IncomingRecord],
    handle: RecordBatch,
) -> None:
    attempt = 0
    while True:
        attempt += 1
        try:
            await record_batch(engine, group, topic, records, handle)
            return
        except (DBAPIError, OSError) as exc:
            delay = min(10.0, 0.2 * 2 ** min(attempt, 6))
            log.warning(
                "batch not recorded; retrying", attempt=attempt, delay=delay, error=str(exc)
            )
            await asyncio.sleep(delay)
