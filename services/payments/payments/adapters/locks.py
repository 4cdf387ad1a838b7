"""One process at a time per attempt: a PostgreSQL session advisory lock, held on a connection
of its own across the gateway call (no transaction stays open while the gateway answers)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_LOCK = text("SELECT pg_try_advisory_lock(hashtextextended('payments.attempt/' || :id, 0))")
_UNLOCK = text("SELECT pg_advisory_unlock(hashtextextended('payments.attempt/' || :id, 0))")


class PostgresAttemptLocks:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def hold(self, request_id: str) -> AsyncIterator[bool]:
        async with self._engine.connect() as lock:
            if not (await lock.execute(_LOCK, {"id": request_id})).scalar():
                yield False
                return
            await lock.commit()  # the session lock stays; the connection is not idle in a txn
            try:
                yield True
            finally:
                await lock.execute(_UNLOCK, {"id": request_id})
                await lock.commit()
