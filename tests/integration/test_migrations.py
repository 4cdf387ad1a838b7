"""Each service's migrations apply to the real database and roll back cleanly."""

import asyncio
from pathlib import Path

import asyncpg
import pytest

from ledger.migrations import MIGRATIONS_DIR as LEDGER_MIGRATIONS
from pricing.migrations import MIGRATIONS_DIR as PRICING_MIGRATIONS
from shared import migrations
from tests.integration.databases import database_url, recreate_database


async def table_names(name: str) -> set[str]:
    connection = await asyncpg.connect(database_url(name, "postgresql"))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


@pytest.mark.parametrize(
    ("migrations_dir", "expected"),
    [
        (PRICING_MIGRATIONS, {"price_lists", "price_list_versions"}),
        (LEDGER_MIGRATIONS, {"events", "inbox", "outbox", "consumer_offsets", "partner_balances"}),
    ],
)
async def test_migrations_apply_and_roll_back(migrations_dir: Path, expected: set[str]) -> None:
    name = f"migrations_{migrations_dir.parent.name}_test"
    await recreate_database(name)
    url = database_url(name)

    await asyncio.to_thread(migrations.upgrade, migrations_dir, url)
    assert expected <= await table_names(name)

    await asyncio.to_thread(migrations.downgrade, migrations_dir, url)
    assert await table_names(name) == {"alembic_version"}

    await asyncio.to_thread(migrations.upgrade, migrations_dir, url)
    assert expected <= await table_names(name)
