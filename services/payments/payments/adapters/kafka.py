"""aiokafka wiring. Consumers never commit on their own and start where the database says;
the producer is idempotent, so the relay's retries neither duplicate nor reorder a partition."""

from collections.abc import Awaitable, Callable, Mapping

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

log = structlog.get_logger(__name__)

StoredOffsets = Callable[[], Awaitable[Mapping[int, int]]]


def create_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, enable_idempotence=True, acks="all", linger_ms=5
    )


class _ResumeFromDatabase(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, seek each partition to the next offset the database recorded."""

    def __init__(self, consumer: AIOKafkaConsumer, stored_offsets: StoredOffsets) -> None:
        self._consumer = consumer
        self._stored_offsets = stored_offsets

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        stored = await self._stored_offsets()
        for partition in assigned:
            if partition.partition in stored:
                self._consumer.seek(partition, stored[partition.partition])
        log.info("partitions assigned", partitions=sorted(p.partition for p in assigned))


def create_consumer(
    bootstrap_servers: str,
    group_id: str,
    topic: str,
    stored_offsets: StoredOffsets,
    *,
    max_records: int,
    session_timeout_ms: int,
) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=max_records,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(1000, session_timeout_ms // 3),
    )
    consumer.subscribe([topic], listener=_ResumeFromDatabase(consumer, stored_offsets))
    return consumer
