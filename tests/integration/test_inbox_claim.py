"""The inbox's claim on the real PostgreSQL: a batch of new ids goes in by COPY; a batch that
meets an id seen before, an id another transaction is claiming, or a row kept from before
sources were recorded, still claims exactly the ids never seen."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.migrations import MIGRATIONS_DIR
from shared.database import create_engine
from shared.messaging.inbox import LEGACY_SOURCE, EventKey, Inbox
from tests.integration.databases import fresh_migrated_database

TOPIC = "mailing.sent"


@pytest.fixture(scope="module")
async def inbox_url() -> str:
    return await fresh_migrated_database("inbox_claim_test", MIGRATIONS_DIR)


@pytest.fixture
async def engine(inbox_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(inbox_url)
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE inbox"))
    yield engine
    await engine.dispose()


def keys(count: int, source: str = "/platform") -> list[EventKey]:
    run = uuid.uuid4().hex[:8]
    return [(source, f"evt-{run}-{n}") for n in range(count)]


def claim_on(
    connection: AsyncConnection, events: list[EventKey]
) -> "asyncio.Future[set[EventKey]]":
    return asyncio.ensure_future(Inbox(connection, "claim-test").claim(TOPIC, events))


async def claim(engine: AsyncEngine, events: list[EventKey]) -> set[EventKey]:
    async with engine.begin() as connection:
        return await claim_on(connection, events)


async def recorded(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT source, message_id, topic FROM inbox ORDER BY source, message_id")
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def test_new_ids_are_all_claimed_and_recorded_once_with_their_topic(
    engine: AsyncEngine,
) -> None:
    fresh = keys(3)

    assert await claim(engine, fresh + fresh[:1]) == set(fresh)
    assert await recorded(engine) == sorted((s, i, TOPIC) for s, i in fresh)


async def test_a_batch_meeting_a_seen_id_claims_the_rest_and_keeps_what_its_transaction_did(
    engine: AsyncEngine,
) -> None:
    seen, fresh, earlier = keys(2), keys(3), keys(1)
    await claim(engine, seen)

    async with engine.begin() as connection:
        # Claimed earlier in the same transaction: a failed COPY must not undo it.
        assert await claim_on(connection, earlier) == set(earlier)
        assert await claim_on(connection, fresh + seen) == set(fresh)
        # The transaction is still good for more statements after the COPY was refused.
        await connection.execute(text("SELECT 1"))

    assert await recorded(engine) == sorted((s, i, TOPIC) for s, i in seen + fresh + earlier)


async def test_a_row_from_before_sources_were_kept_stands_for_its_id_from_every_source(
    engine: AsyncEngine,
) -> None:
    old, fresh = keys(1), keys(2)
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO inbox (source, message_id, topic) VALUES (:s, :i, :t)"),
            {"s": LEGACY_SOURCE, "i": old[0][1], "t": TOPIC},
        )

    assert await claim(engine, old + fresh) == set(fresh)
    assert await claim(engine, [("/another", old[0][1])]) == set()


@pytest.mark.parametrize("other_commits", [True, False])
async def test_an_id_another_transaction_is_claiming_waits_for_it_and_counts_once(
    engine: AsyncEngine, other_commits: bool
) -> None:
    contested, fresh = keys(1), keys(2)
    async with engine.connect() as first, engine.connect() as second:
        await first.begin()
        assert await claim_on(first, contested) == set(contested)

        await second.begin()
        waiting = claim_on(second, contested + fresh)
        await asyncio.sleep(0.3)
        assert not waiting.done()  # blocked on the first transaction's row

        if other_commits:
            await first.commit()
        else:
            await first.rollback()
        claimed = await asyncio.wait_for(waiting, timeout=10)
        await second.commit()

    assert claimed == (set(fresh) if other_commits else set(contested + fresh))
    assert await recorded(engine) == sorted((s, i, TOPIC) for s, i in contested + fresh)
