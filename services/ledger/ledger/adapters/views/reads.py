"""The connection pool the read models are queried through.

A read is one indexed query: asyncpg directly, without an ORM layer, a transaction around it
or a ping before it (a failed read is simply answered 5xx and retried by the caller), costs
about half of what the same query costs through SQLAlchemy, and reads are what partner portals
do most. No connection free within the pool timeout raises ``TimeoutError`` (answered 503)."""

import asyncio
from typing import Any

import asyncpg

from shared.database import POOL_TIMEOUT_SECONDS


def asyncpg_dsn(database_url: str) -> str:
    """SQLAlchemy's URL (``postgresql+asyncpg://...``) as asyncpg's DSN."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _leave_as_is(connection: asyncpg.Connection) -> None:
    """Reads change no session state, so a connection goes back to the pool without the
    reset query asyncpg would otherwise send on every release."""


class ReadPool:
    """Opened on first use, so it belongs to the event loop that serves the requests."""

    def __init__(self, database_url: str, size: int) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def _opened(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._size, reset=_leave_as_is
                    )
        return self._pool

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        pool = await self._opened()
        async with pool.acquire(timeout=POOL_TIMEOUT_SECONDS) as connection:
            return await connection.fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        pool = await self._opened()
        async with pool.acquire(timeout=POOL_TIMEOUT_SECONDS) as connection:
            return list(await connection.fetch(query, *args))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
