"""The batch consumer's lanes on the real Kafka and PostgreSQL: one Kafka consumer feeding two
lanes applies every message once, each partition in order and always in the same lane, with the
lanes' transactions really overlapping; a restart with another number of lanes goes on from the
stored offsets without applying anything twice."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.migrations import MIGRATIONS_DIR
from shared.database import create_engine
from shared.messaging.consumer import BatchResult, Subscription, run_consumer
from shared.messaging.health import BatchWatch
from shared.messaging.inbox import Inbox, IncomingRecord
from tests.integration.databases import fresh_migrated_database
from tests.integration.ledger.conftest import eventually
from tests.support.settings import KAFKA

PARTITIONS = 6


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await fresh_migrated_database("consumer_lanes_test", MIGRATIONS_DIR))
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TABLE applied (seq bigint GENERATED ALWAYS AS IDENTITY, lane integer,"
                " partition integer, position bigint, UNIQUE (partition, position))"
            )
        )
    yield engine
    await engine.dispose()


@pytest.fixture
async def topic() -> str:
    name = f"lanes-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        await admin.close()
    return name


class InFlight:
    """How many lanes are inside a batch at once, and the most there ever were."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0


class RecordPositions:
    """One lane's handler: stores (lane, partition, offset) in the batch's transaction and takes
    its time over it, as a real batch waiting for the database does."""

    def __init__(self, lane: int, in_flight: InFlight) -> None:
        self.lane = lane
        self.in_flight = in_flight

    async def __call__(
        self, connection: AsyncConnection, inbox: Inbox, records: Sequence[IncomingRecord]
    ) -> BatchResult:
        self.in_flight.now += 1
        self.in_flight.most = max(self.in_flight.most, self.in_flight.now)
        try:
            await connection.execute(
                text(
                    "INSERT INTO applied (lane, partition, position)"
                    " SELECT :lane, p, o FROM unnest(CAST(:p AS integer[]), CAST(:o AS bigint[]))"
                    " WITH ORDINALITY AS x(p, o, n) ORDER BY n"
                ),
                {
                    "lane": self.lane,
                    "p": [r.partition for r in records],
                    "o": [r.offset for r in records],
                },
            )
            await asyncio.sleep(0.02)
        finally:
            self.in_flight.now -= 1
        return BatchResult(applied=len(records))


async def produce(topic: str, per_partition: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for partition in range(PARTITIONS):
            for n in range(per_partition):
                await producer.send(topic, f"{partition}:{n}".encode(), partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def applied(engine: AsyncEngine) -> list[tuple[int, int, int]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT lane, partition, position FROM applied ORDER BY seq")
        )
        return [(r[0], r[1], r[2]) for r in rows]


async def consume_until(
    engine: AsyncEngine, topic: str, group: str, lanes: int, expected: int
) -> InFlight:
    in_flight = InFlight()
    subscriptions = [
        Subscription(topic=topic, group=group, handler=RecordPositions(lane, in_flight))
        for lane in range(lanes)
    ]
    stop = asyncio.Event()
    watch = BatchWatch(f"{group}/{topic}")
    consuming = asyncio.create_task(
        run_consumer(
            engine,
            subscriptions,
            bootstrap_servers=KAFKA,
            topic_prefix="",
            batch_size=25,
            stop=stop,
            linger_seconds=0.01,
            watch=watch,
        )
    )
    try:

        async def all_applied() -> bool:
            assert not consuming.done(), consuming
            return len(await applied(engine)) >= expected

        await eventually(all_applied, timeout=60, what=f"{expected} messages applied")
    finally:
        stop.set()
        await asyncio.wait_for(consuming, timeout=30)
    assert watch.open_for(time.monotonic()) == 0.0  # no lane's batch left open
    return in_flight


async def test_lanes_apply_each_message_once_in_partition_order_and_overlap(
    engine: AsyncEngine, topic: str
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE applied"))
    group = f"lanes-{uuid.uuid4().hex[:8]}"
    await produce(topic, per_partition=100)

    in_flight = await consume_until(engine, topic, group, lanes=2, expected=600)

    rows = await applied(engine)
    assert sorted((p, o) for _, p, o in rows) == [
        (p, o) for p in range(PARTITIONS) for o in range(100)
    ]
    for partition in range(PARTITIONS):
        in_order = [(lane, o) for lane, p, o in rows if p == partition]
        assert [o for _, o in in_order] == list(range(100))  # applied in offset order
        assert {lane for lane, _ in in_order} == {partition % 2}  # always the same lane
    assert in_flight.most == 2  # the two lanes' batches were open at the same time

    # A restart with three lanes goes on where the database says the work ended.
    await produce(topic, per_partition=10)
    in_flight = await consume_until(engine, topic, group, lanes=3, expected=660)
    rows = await applied(engine)
    assert len(rows) == 660
    later = [(lane, p, o) for lane, p, o in rows[600:]]
    assert sorted((p, o) for _, p, o in later) == [
        (p, o) for p in range(PARTITIONS) for o in range(100, 110)
    ]
    assert {(lane, p % 3) for lane, p, _ in later} == {(p % 3, p % 3) for p in range(3)}


async def test_lanes_must_share_one_topic_and_group(engine: AsyncEngine) -> None:
    handler = RecordPositions(0, InFlight())
    with pytest.raises(ValueError, match="one topic and group"):
        await run_consumer(
            engine,
            [Subscription("a", "g", handler), Subscription("b", "g", handler)],
            bootstrap_servers=KAFKA,
            topic_prefix="",
            batch_size=10,
            stop=asyncio.Event(),
        )
