"""Publish the outbox to Kafka: claim a batch, send it, wait for the acks, mark it published.

A crash between the acks and the mark publishes the batch again; result ids are stable (see
`messages.result_id`), so the ledger drops the copies.
"""

import asyncio

import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters import outbox
from payments.waiting import sleep_or_stop

log = structlog.get_logger(__name__)

PUBLISHED = Counter("payments_outbox_published_total", "Outbox messages published", ["topic"])


async def relay_once(
    engine: AsyncEngine, producer: AIOKafkaProducer, batch_size: int, topic_prefix: str
) -> int:
    """Publish one batch; returns how many messages went out."""
    async with engine.begin() as connection:
        rows = await outbox.claim(connection, batch_size)
        if not rows:
            return 0
        pending = [
            await producer.send(topic_prefix + row.topic, value=row.value, key=row.key)
            for row in rows
        ]
        await asyncio.gather(*pending)
        await outbox.mark_published(connection, [row.id for row in rows])
    for row in rows:
        PUBLISHED.labels(row.topic).inc()
    return len(rows)


async def run_relay(
    engine: AsyncEngine,
    producer: AIOKafkaProducer,
    *,
    batch_size: int,
    poll_seconds: float,
    topic_prefix: str,
    stop: asyncio.Event,
) -> None:
    """Relay until `stop` is set; trouble is waited out with a growing pause, nothing skipped."""
    failures = 0
    while not stop.is_set():
        try:
            published = await relay_once(engine, producer, batch_size, topic_prefix)
            failures = 0
        except Exception:
            failures += 1
            log.exception("relay batch failed; retrying", failures=failures)
            await sleep_or_stop(stop, min(30.0, 0.5 * 2**failures))
            continue
        if published < batch_size:
            await sleep_or_stop(stop, poll_seconds)
