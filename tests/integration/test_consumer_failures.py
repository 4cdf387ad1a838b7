"""How the batch consumer meets failures, on the real PostgreSQL: a message the database refuses
is found by splitting the batch and dead-lettered while the rest takes effect; transient
trouble (a lost connection, a timeout, the handlers' own retry classes) is retried, never
dead-lettered."""

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.migrations import MIGRATIONS_DIR
from ledger.service_layer.ports import ConcurrencyConflict, PricingUnavailable
from shared.database import create_engine
from shared.messaging.consumer import BatchResult, Subscription, apply_batch_until_done
from shared.messaging.inbox import Inbox, IncomingRecord
from tests.integration.databases import fresh_migrated_database

TOPIC = "work.items"
DLQ = "work.items.dlq"
_tables = itertools.count(1)

Trouble = Callable[[AsyncConnection], Awaitable[None]]


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await fresh_migrated_database("consumer_failures_test", MIGRATIONS_DIR))
    yield engine
    await engine.dispose()


class WriteBodies:
    """A handler that stores each message's body in a table whose CHECK refuses 'poison', so
    the database, not the handler, finds the bad message; `trouble` runs on the first calls."""

    def __init__(self, engine: AsyncEngine, troubles: Sequence[Trouble] = ()) -> None:
        self.table = f"bodies_{next(_tables)}"
        self.engine = engine
        self.troubles = list(troubles)
        self.calls: list[list[tuple[int, int]]] = []

    async def create(self) -> "WriteBodies":
        async with self.engine.begin() as connection:
            await connection.execute(
                text(
                    f"CREATE TABLE {self.table} (partition integer, position bigint,"
                    " body text CHECK (body <> 'poison'))"
                )
            )
        return self

    async def __call__(
        self, connection: AsyncConnection, inbox: Inbox, records: Sequence[IncomingRecord]
    ) -> BatchResult:
        self.calls.append([(r.partition, r.offset) for r in records])
        if self.troubles:
            await self.troubles.pop(0)(connection)
        await connection.execute(
            text(
                f"INSERT INTO {self.table} SELECT * FROM unnest(CAST(:p AS integer[]),"
                " CAST(:o AS bigint[]), CAST(:b AS text[]))"
            ),
            {
                "p": [r.partition for r in records],
                "o": [r.offset for r in records],
                "b": [(r.value or b"").decode() for r in records],
            },
        )
        return BatchResult(applied=len(records))

    async def stored(self) -> list[tuple[int, int]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                text(f"SELECT partition, position FROM {self.table} ORDER BY 1, 2")
            )
            return [(r[0], r[1]) for r in rows]


def batch(topic: str, bodies: dict[int, list[str]]) -> list[IncomingRecord]:
    """Records grouped by partition, offsets from 0, as the consumer hands them over."""
    return [
        IncomingRecord(topic, partition, offset, f"k{partition}".encode(), body.encode())
        for partition, partition_bodies in bodies.items()
        for offset, body in enumerate(partition_bodies)
    ]


async def dead_letters(engine: AsyncEngine, topic: str) -> list[tuple[int, int, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                'SELECT partition, "offset", reason FROM dead_letters WHERE topic = :t'
                " ORDER BY 1, 2"
            ),
            {"t": topic},
        )
        return [(r[0], r[1], r[2]) for r in rows]


async def next_offsets(engine: AsyncEngine, group: str, topic: str) -> dict[int, int]:
    async with engine.connect() as connection:
        return await Inbox(connection, group).next_offsets(topic)


async def test_the_message_the_database_refuses_is_found_and_dead_lettered_the_rest_recorded(
    engine: AsyncEngine,
) -> None:
    handler = await WriteBodies(engine).create()
    topic = f"{TOPIC}.{handler.table}"
    bodies = {0: ["ok"] * 6 + ["poison"] + ["ok"] * 3, 1: ["ok"] * 5}
    subscription = Subscription(topic, "g-split", handler, dead_letter_topic=DLQ)

    result = await apply_batch_until_done(engine, subscription, batch(topic, bodies))

    assert result is not None
    assert result.applied == 14
    assert [(d.partition, d.offset) for d in result.dead_letters] == [(0, 6)]
    [(partition, offset, reason)] = await dead_letters(engine, topic)
    assert (partition, offset) == (0, 6)
    assert "CheckViolation" in reason
    assert "check constraint" in reason
    everything_but_the_poison = [(0, o) for o in range(10) if o != 6] + [(1, o) for o in range(5)]
    assert await handler.stored() == everything_but_the_poison
    assert await next_offsets(engine, "g-split", topic) == {0: 10, 1: 5}
    async with engine.connect() as connection:
        [headers] = (
            await connection.execute(
                text("SELECT headers::text FROM outbox WHERE topic = :t"), {"t": DLQ}
            )
        ).scalars()
    assert dict(orjson.loads(headers))["dlq.source"] == f"{topic}/0/6"

    # Read again (a restart before Kafka's commit): nothing is applied or dead-lettered twice.
    again = await apply_batch_until_done(engine, subscription, batch(topic, bodies))
    assert again is None
    assert len(await dead_letters(engine, topic)) == 1


async def test_a_python_error_for_one_message_is_dead_lettered_too(engine: AsyncEngine) -> None:
    class Picky:
        async def __call__(
            self, connection: AsyncConnection, inbox: Inbox, records: Sequence[IncomingRecord]
        ) -> BatchResult:
            if any(r.value == b"unreadable" for r in records):
                raise KeyError("a field the handler needed")
            return BatchResult(applied=len(records))

    topic = f"{TOPIC}.picky"
    subscription = Subscription(topic, "g-picky", Picky(), dead_letter_topic=DLQ)
    result = await apply_batch_until_done(
        engine, subscription, batch(topic, {0: ["a", "unreadable", "b", "c"]})
    )
    assert result is not None
    assert result.applied == 3
    [(partition, offset, reason)] = await dead_letters(engine, topic)
    assert (partition, offset) == (0, 1)
    assert "KeyError" in reason


async def lose_the_connection(connection: AsyncConnection) -> None:
    await connection.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))


async def time_out(connection: AsyncConnection) -> None:
    await connection.execute(text("SET LOCAL statement_timeout = 50"))
    await connection.execute(text("SELECT pg_sleep(2)"))


async def conflict(connection: AsyncConnection) -> None:
    raise ConcurrencyConflict("another writer appended first")


async def pricing_down(connection: AsyncConnection) -> None:
    raise PricingUnavailable("pricing answered 503")


@pytest.mark.parametrize(
    "trouble",
    [lose_the_connection, time_out, conflict, pricing_down],
    ids=["connection lost", "timeout", "concurrency conflict", "pricing unavailable"],
)
async def test_transient_trouble_is_retried_whole_and_nothing_is_dead_lettered(
    engine: AsyncEngine, trouble: Trouble
) -> None:
    handler = await WriteBodies(engine, troubles=[trouble, trouble]).create()
    topic = f"{TOPIC}.{handler.table}"
    subscription = Subscription(
        topic,
        "g-transient",
        handler,
        dead_letter_topic=DLQ,
        retry_on=(ConcurrencyConflict, PricingUnavailable),  # the ledger handlers' classes
    )
    records = batch(topic, {0: ["ok"] * 4, 2: ["ok"] * 3})

    result = await apply_batch_until_done(engine, subscription, records)

    assert result is not None
    assert result.applied == 7
    assert await dead_letters(engine, topic) == []
    whole = [(r.partition, r.offset) for r in records]
    assert handler.calls == [whole, whole, whole]  # tried again as a whole, never split
    assert await handler.stored() == whole
