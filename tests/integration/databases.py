"""Fresh test databases on the real PostgreSQL of `make up`."""

import asyncio
import os
from pathlib import Path

import asyncpg

from shared import migrations

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "mailbill")
PG_PASSWORD = os.environ.get("TEST_PG_PASSWORD", "mailbill")
# Appended to every test database's name, so two test runs can share one PostgreSQL.
DB_SUFFIX = os.environ.get("TEST_DB_SUFFIX", "")


def _named(name: str) -> str:
    return name if name == "postgres" else name + DB_SUFFIX


def database_url(name: str, driver: str = "postgresql+asyncpg") -> str:
    return f"{driver}://{PG_USER}:{PG_PASSWORD}@{PG_HOST}:{PG_PORT}/{_named(name)}"


async def recreate_database(name: str) -> None:
    """Drop `name` (ending its connections) and create it empty."""
    admin = await asyncpg.connect(database_url("postgres", "postgresql"))
    try:
        for attempt in range(40):
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{_named(name)}" WITH (FORCE)')
                break
            except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError):
                # An autovacuum worker (a superuser's process, which FORCE may not end) is
                # still busy with the database after a heavy test; it finishes in a moment.
                if attempt == 39:
                    raise
                await asyncio.sleep(0.5)
        await admin.execute(f'CREATE DATABASE "{_named(name)}"')
    finally:
        await admin.close()


async def fresh_migrated_database(name: str, migrations_dir: Path) -> str:
    """A new database with every migration applied; returns its SQLAlchemy URL."""
    await recreate_database(name)
    url = database_url(name)
    # Alembic runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(migrations.upgrade, migrations_dir, url)
    return url
