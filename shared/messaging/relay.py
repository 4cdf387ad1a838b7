"""The outbox relay: publish what a service wrote to its outbox, in order, at least once.

Several relays may run: each claims rows with `FOR UPDATE SKIP LOCKED` and a per-partner advisory
lock, publishes them with an idempotent producer, waits for the broker's acks, and only then marks
them published. A crash in between publishes them again: consumers deduplicate by message id.
"""

import asyncio

import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.messaging.health import BatchWatch, watching
from shared.messaging.outbox import Outbox
from shared.messaging.runtime import sleep_or_stop

log = structlog.get_logger(__name__)

PUBLISHED = Counter("outbox_published_total", "Outbox messages published", ["topic"])


async def relay_once(
    engine: AsyncEngine, producer: AIOKafkaProducer, batch_size: int, topic_prefix: str = ""
) -> int:
    """Publish one batch; returns how many messages went out. The outbox holds topic names
    without the deployment's prefix; it is added here, on the way out."""
    async with engine.begin() as connection:
        outbox = Outbox(connection)
        claimed = await outbox.claim(batch_size)
        if not claimed:
            return 0
        sent = [
            await producer.send(
                topic_prefix + c.message.topic,
                value=c.message.value,
                key=c.message.key,
                headers=list(c.message.headers),
            )
            for c in claimed
        ]
        await asyncio.gather(*sent)
        await outbox.mark_published([c.id for c in claimed])
    for c in claimed:
        PUBLISHED.labels(c.message.topic).inc()
    return len(claimed)


async def run_relay(
    engine: AsyncEngine,
    producer: AIOKafkaProducer,
    *,
    batch_size: int,
    poll_seconds: float,
    stop: asyncio.Event,
    topic_prefix: str = "",
    watch: BatchWatch | None = None,
) -> None:
    """Relay until `stop` is set; database or broker trouble is waited out, never skipped.
    `watch` stays open from the first failed try until a batch goes out (for `/healthz`)."""
    watch = watch or BatchWatch("outbox", kind="relay")
    failures = 0
    with watching(watch):
        while not stop.is_set():
            watch.begin()
            try:
                published = await relay_once(engine, producer, batch_size, topic_prefix)
                failures = 0
            except Exception:
                failures += 1
                log.exception("relay batch failed; retrying", attempt=failures)
                await sleep_or_stop(stop, min(30.0, 0.5 * 2**failures))
                continue
            watch.done()
            if published < batch_size:
                await sleep_or_stop(stop, poll_seconds)
