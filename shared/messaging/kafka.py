"""aiokafka wiring: an idempotent producer, and a batch consumer whose positions come from the
database (the source of truth), with Kafka's committed offsets kept up to date after each commit."""

from collections.abc import Awaitable, Callable, Mapping

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

log = structlog.get_logger(__name__)


def create_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    """acks=all with idempotence: a retried send neither duplicates nor reorders a partition."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )


StoredOffsets = Callable[[str], Awaitable[Mapping[int, int]]]


class SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, continue where the database says this group's work ended."""

    def __init__(self, consumer: AIOKafkaConsumer, stored_offsets: StoredOffsets) -> None:
        self._consumer = consumer
        self._stored_offsets = stored_offsets

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        by_topic: dict[str, list[TopicPartition]] = {}
        for tp in assigned:
            by_topic.setdefault(tp.topic, []).append(tp)
        for topic, partitions in by_topic.items():
            stored = await self._stored_offsets(topic)
            for tp in partitions:
                if tp.partition in stored:
                    self._consumer.seek(tp, stored[tp.partition])
        log.info("partitions assigned", partitions=sorted(tp.partition for tp in assigned))


def create_consumer(
    bootstrap_servers: str,
    group_id: str,
    topics: list[str],
    stored_offsets: StoredOffsets,
    *,
    max_batch: int,
    session_timeout_ms: int = 10_000,
) -> AIOKafkaConsumer:
    """A consumer that never commits by itself; the caller commits after its database commit."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=max_batch,
        fetch_max_bytes=16 * 1024 * 1024,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(1000, session_timeout_ms // 3),
    )
    consumer.subscribe(topics, listener=SeekToStoredOffsets(consumer, stored_offsets))
    return consumer
