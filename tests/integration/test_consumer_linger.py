"""A batch's linger on the real Kafka: after the first messages arrive, `fetch_batch` waits up
to the linger for more (LEDGER_CONSUMER_LINGER_MS), so a message that comes within it joins the
batch and one that comes later starts the next."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.kafka_admin import delete_topics
from shared.messaging.consumer import fetch_batch
from tests.support.settings import KAFKA

LATE = 0.4  # seconds between the first message and the one that follows it


@pytest.fixture
async def partition() -> AsyncIterator[TopicPartition]:
    name = f"linger-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()
    yield TopicPartition(name, 0)
    await delete_topics(KAFKA, [name])


async def batch_sizes(tp: TopicPartition, linger_seconds: float) -> list[int]:
    """Sends one message, another LATE seconds later, and returns the sizes of the batches
    `fetch_batch` makes of them."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA)
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        await consumer.position(tp)  # the end as of now, before anything is sent

        async def send_two() -> None:
            await producer.send_and_wait(tp.topic, b"first", partition=0)
            await asyncio.sleep(LATE)
            await producer.send_and_wait(tp.topic, b"second", partition=0)

        sending = asyncio.create_task(send_two())
        sizes: list[int] = []
        while sum(sizes) < 2:
            fetched = await fetch_batch(consumer, 100, linger_seconds, [tp])
            if fetched:
                sizes.append(sum(len(messages) for messages in fetched.values()))
        await sending
        return sizes
    finally:
        await consumer.stop()
        await producer.stop()


async def test_a_message_within_the_linger_joins_the_batch(partition: TopicPartition) -> None:
    assert await batch_sizes(partition, linger_seconds=3 * LATE) == [2]


async def test_a_message_after_the_linger_starts_the_next_batch(
    partition: TopicPartition,
) -> None:
    assert await batch_sizes(partition, linger_seconds=LATE / 8) == [1, 1]
