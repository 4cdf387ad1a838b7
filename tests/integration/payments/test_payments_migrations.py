"""The payments migrations apply to the real database and roll back cleanly."""

import asyncio

import asyncpg

from payments.migrations import MIGRATIONS_DIR
from shared import migrations
from tests.integration.databases import database_url, recreate_database

TABLES = {
    "alembic_version",
    "inbox",
    "consumer_offsets",
    "dead_letters",
    "outbox",
    "payment_attempts",
    "stripe_events",
    "sepa_batches",
    "sepa_collections",
    "notifications",
}


async def tables(name: str) -> set[str]:
    connection = await asyncpg.connect(database_url(name, "postgresql"))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


async def test_upgrade_downgrade_upgrade() -> None:
    name = "payments_migrations_test"
    await recreate_database(name)
    url = database_url(name)
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS_DIR, url)
    assert await tables(name) == TABLES
    await asyncio.to_thread(migrations.downgrade, MIGRATIONS_DIR, url)
    assert await tables(name) == {"alembic_version"}
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS_DIR, url)
    assert await tables(name) == TABLES
