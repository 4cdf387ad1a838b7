"""Run a service's Alembic migrations from code, so `make migrate` and the tests use one path.

Alembic drives an asyncpg engine through `asyncio.run`, so call these from synchronous code
(or `asyncio.to_thread` inside a running loop).
"""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

MigrationRunner = Callable[[Any], None]


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(migrations_dir, database_url), revision)


def downgrade(migrations_dir: Path, database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(migrations_dir, database_url), revision)


def run_async_migrations(database_url: str, run: MigrationRunner) -> None:
    """Used by each service's `env.py`: open an asyncpg connection and hand it to Alembic."""

    async def main() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as connection:
            await connection.run_sync(run)
        await engine.dispose()

    asyncio.run(main())


def run_env() -> None:
    """The whole body of each service's Alembic `env.py`: migrate over one asyncpg connection."""
    from alembic import context

    def run(connection: Any) -> None:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()

    run_async_migrations(context.config.get_main_option("sqlalchemy.url") or "", run)


def execute_script(sql: str) -> None:
    """Run a multi-statement SQL script inside a migration.

    asyncpg prepares every statement it is given through SQLAlchemy, and a prepared statement
    holds one command; its own `execute` without arguments takes a whole script.
    """
    from alembic import op
    from sqlalchemy.util import await_

    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    await_(driver_connection.execute(sql))
