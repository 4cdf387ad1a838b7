"""The inbox's dedup window on the real PostgreSQL: ids older than LEDGER_INBOX_DEDUP_WINDOW are
deleted in batches without holding ingest up, newer ones still recognise a redelivery, and the
offsets stored in the database still fence a Kafka redelivery once the ids are gone."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from ledger.__main__ import cli
from ledger.adapters.inbox import prune_inbox, summarize
from ledger.bootstrap import bootstrap
from ledger.entrypoints import run_consumers
from ledger.migrations import MIGRATIONS_DIR
from ledger.settings import LedgerSettings
from shared.codec import encode
from shared.database import create_engine
from shared.envelope import CloudEvent
from shared.messaging.consumer import apply_batch_until_done
from shared.messaging.inbox import EventKey, Inbox, IncomingRecord
from tests.integration.databases import fresh_migrated_database
from tests.integration.ledger.conftest import balance, eventually, new_partner
from tests.support.messages import mailing_sent

WEEK = timedelta(days=7)
TOPIC = "mailing.sent"


@pytest.fixture(scope="module")
async def inbox_url() -> str:
    return await fresh_migrated_database("ledger_inbox_window_test", MIGRATIONS_DIR)


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


async def claim(engine: AsyncEngine, events: list[EventKey]) -> set[EventKey]:
    """What ingest does: record the ids; returns those never seen (in the window)."""
    async with engine.begin() as connection:
        return await Inbox(connection, "inbox-window-test").claim(TOPIC, events)


async def received_ago(engine: AsyncEngine, events: list[EventKey], age: timedelta) -> None:
    """Make these ids look received `age` ago."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE inbox SET received_at = now() - CAST(:age AS interval)"
                " WHERE (source, message_id) IN"
                " (SELECT * FROM unnest(CAST(:sources AS text[]), CAST(:ids AS text[])))"
            ),
            {"age": age, "sources": [s for s, _ in events], "ids": [i for _, i in events]},
        )


async def ids_left(engine: AsyncEngine) -> set[EventKey]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT source, message_id FROM inbox"))
        return {(row[0], row[1]) for row in rows}


async def test_ids_older_than_the_window_are_pruned_and_newer_ones_kept(
    engine: AsyncEngine,
) -> None:
    old, inside, fresh = keys(10), keys(10), keys(10)
    assert await claim(engine, old + inside + fresh) == set(old + inside + fresh)
    await received_ago(engine, old, timedelta(days=7, minutes=1))
    await received_ago(engine, inside, timedelta(days=6, hours=23))

    assert await prune_inbox(engine, WEEK, batch_size=1000) == 10
    assert await ids_left(engine) == set(inside + fresh)
    assert await prune_inbox(engine, WEEK, batch_size=1000) == 0


async def test_a_redelivery_within_the_window_is_a_duplicate_one_after_it_is_not_recognised(
    engine: AsyncEngine,
) -> None:
    within, after = keys(3), keys(3)
    await claim(engine, within + after)
    await received_ago(engine, within, timedelta(days=6))
    await received_ago(engine, after, timedelta(days=8))
    await prune_inbox(engine, WEEK, batch_size=1000)

    # Within the window the id still says "seen"; after it, only what the event is about can
    # (offsets for Kafka, the mailing id or request id in the ledger: the other tests here).
    assert await claim(engine, within + after) == set(after)


async def test_pruning_goes_in_batches_of_the_batch_size(engine: AsyncEngine) -> None:
    old = keys(2500)
    await claim(engine, old + keys(5))
    await received_ago(engine, old, timedelta(days=30))

    batches: list[int] = []
    deleted = await prune_inbox(engine, WEEK, batch_size=1000, on_batch=batches.append)

    assert (deleted, batches) == (2500, [1000, 1000, 500])
    assert len(await ids_left(engine)) == 5


async def test_a_prune_skips_ids_another_pruner_holds_and_ingest_does_not_wait_for_either(
    engine: AsyncEngine, inbox_url: str
) -> None:
    held, free = keys(20), keys(30)
    await claim(engine, held + free)
    await received_ago(engine, held + free, timedelta(days=8))
    other = create_engine(inbox_url)
    try:
        async with other.connect() as pruner:
            transaction = await pruner.begin()
            # Another pruner's batch, not committed yet.
            deleted = await pruner.execute(
                text(
                    "DELETE FROM inbox WHERE (source, message_id) IN"
                    " (SELECT * FROM unnest(CAST(:s AS text[]), CAST(:i AS text[])))"
                ),
                {"s": [s for s, _ in held], "i": [i for _, i in held]},
            )
            assert deleted.rowcount == 20

            new = keys(50)
            # Neither waits for the open batch: a wait would hit the timeout.
            assert await asyncio.wait_for(claim(engine, new), timeout=10) == set(new)
            assert await asyncio.wait_for(prune_inbox(engine, WEEK, 1000), timeout=10) == 30
            await transaction.rollback()
    finally:
        await other.dispose()

    assert await ids_left(engine) == set(held + new)
    assert await prune_inbox(engine, WEEK, 1000) == 20


def run_ops(url: str, *args: str, batch_size: int = 1000) -> str:
    env = {
        "LEDGER_DATABASE_URL": url,
        "LEDGER_INBOX_DEDUP_WINDOW": "7d",
        "LEDGER_INBOX_PRUNE_BATCH_SIZE": str(batch_size),
    }
    result = CliRunner().invoke(cli, ["ops", "prune-inbox", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


async def test_ops_prune_inbox_counts_on_a_dry_run_and_then_deletes(
    engine: AsyncEngine, inbox_url: str
) -> None:
    old, fresh = keys(1234), keys(6)
    await claim(engine, old + fresh)
    await received_ago(engine, old, timedelta(days=7, hours=1))

    output = await asyncio.to_thread(run_ops, inbox_url, "--dry-run")
    assert "inbox: 1240 ids" in output
    assert ": 1234 received before" in output
    assert "nothing deleted" in output
    assert len(await ids_left(engine)) == 1240

    output = await asyncio.to_thread(run_ops, inbox_url, batch_size=500)
    assert "deleted 1234 ids in batches of 500" in output
    assert await ids_left(engine) == set(fresh)
    assert (await summarize(engine, WEEK)).older_than_window == 0


async def test_the_consumer_process_prunes_the_inbox_now_and_then(
    engine: AsyncEngine, inbox_url: str, ledger_settings: LedgerSettings
) -> None:
    old, fresh = keys(40), keys(4)
    await claim(engine, old + fresh)
    await received_ago(engine, old, timedelta(days=9))
    settings = ledger_settings.model_copy(
        update={
            "database_url": inbox_url,
            "consumer_group": f"inbox-window-{uuid.uuid4().hex[:8]}",
            "inbox_prune_batch_size": 7,
            "inbox_prune_every_seconds": 0.2,
        }
    )
    stop = asyncio.Event()
    consumers = asyncio.create_task(run_consumers(settings, stop))
    try:
        # The consumer also claims whatever earlier tests produced to the session's topics, so
        # only this test's ids are compared.
        async def pruned() -> bool:
            return await ids_left(engine) & set(old + fresh) == set(fresh)

        await eventually(pruned, what="the consumer process to prune the old ids")
    finally:
        stop.set()
        await consumers


# Dead letters are unique by topic, partition and offset in the database the other tests'
# consumers share; a partition the session's topics do not have keeps these apart from theirs.
UNUSED_PARTITION = 99


def record(offset: int, event: CloudEvent, partner_id: str) -> IncomingRecord:
    return IncomingRecord(TOPIC, UNUSED_PARTITION, offset, partner_id.encode(), encode(event))


async def test_the_consumer_takes_each_event_once_and_offsets_fence_kafka_after_pruning(
    ledger_api: httpx.AsyncClient, ledger_settings: LedgerSettings
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    events = [mailing_sent(partner_id, "c1", 100) for _ in range(3)]
    sources = {e.source for e in events}
    ids = [e.id for e in events]
    container = bootstrap(ledger_settings)
    consumer = container.mailing_sent_consumer()
    subscription = consumer.subscription(f"inbox-window-{uuid.uuid4().hex[:8]}")
    engine = container.engine
    try:
        first = await apply_batch_until_done(
            engine, subscription, [record(n, e, partner_id) for n, e in enumerate(events)]
        )
        assert first is not None and first.applied == 3
        debited = -3 * 105
        assert (await balance(ledger_api, partner_id))["balance"] == debited

        # Within the window: the same event again at a new offset (the platform sent it
        # twice) is a duplicate by its id.
        again = await apply_batch_until_done(
            engine, subscription, [record(3, events[0], partner_id)]
        )
        assert again is not None and (again.applied, again.duplicates) == (0, 1)
        assert not again.dead_letters

        # The window passes for these ids and they are pruned.
        await received_ago(engine, [(s, i) for s in sources for i in ids], timedelta(days=8))
        await prune_inbox(engine, WEEK, batch_size=2)
        async with engine.connect() as connection:
            left = await connection.execute(
                text("SELECT count(*) FROM inbox WHERE message_id = ANY(CAST(:ids AS text[]))"),
                {"ids": ids},
            )
            assert left.scalar_one() == 0

        # Kafka delivers offsets 0..3 again (a rebalance, a crash before its commit): the
        # offsets stored in the database fence them, ids or not.
        redelivered = [record(n, e, partner_id) for n, e in enumerate([*events, events[0]])]
        assert await apply_batch_until_done(engine, subscription, redelivered) is None

        # Sent again by the platform at a new offset after the window: not recognised by id
        # any more, but the mailing is debited once whatever its event id; it is set aside.
        late = await apply_batch_until_done(
            engine, subscription, [record(4, events[1], partner_id)]
        )
        assert late is not None and late.applied == 0
        assert [d.reason for d in late.dead_letters] == [
            f"mailing {events[1].data['mailing_id']!r} was debited already"
        ]
    finally:
        await container.close()

    assert (await balance(ledger_api, partner_id))["balance"] == debited
    history = await ledger_api.get(f"/v1/partners/{partner_id}/events")
    debits = [e for e in history.json()["events"] if e["type"] == "MailingDebited"]
    assert len(debits) == 3
