"""Database plumbing the services share: the engine, a request-scoped session, and what
counts as the database being out of reach."""

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# How long a request waits for a free connection before it is answered 503: a client does
# better retrying later than hanging behind a pool that is used up.
POOL_TIMEOUT_SECONDS = 5.0

# SQLSTATE classes that say the server cannot serve anyone right now: connection exception,
# insufficient resources (too many connections), operator intervention (starting up, shutting
# down, a statement cancelled by its timeout).
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An asyncpg engine; `pool_pre_ping` survives a database restart without a failed request."""
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=POOL_TIMEOUT_SECONDS,
    )


async def driver_connection(connection: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `connection`, inside the same transaction: for COPY and
    for reads of many rows, where SQLAlchemy's statement and row objects cost more than the
    work itself."""
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None  # an open AsyncConnection always has one
    if connection.in_transaction() and not raw.is_in_transaction():
        # SQLAlchemy begins the driver's transaction with its first statement: until then what
        # goes straight to the driver would commit on its own, outside the transaction.
        await connection.execute(text("SELECT 1"))
    return raw


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE behind a driver error (asyncpg's own, or wrapped by SQLAlchemy), if any."""
    candidates: list[object] = [exc]
    if isinstance(exc, sa_exc.DBAPIError):
        candidates += [exc.orig, getattr(exc.orig, "__cause__", None)]
    for candidate in candidates:
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def database_unavailable(exc: BaseException) -> bool:
    """The database is out of reach or overloaded: nothing is wrong with the request, and
    the same request later may well succeed (so: 503 to a client, a retry to a consumer)."""
    if isinstance(exc, OSError | TimeoutError | sa_exc.TimeoutError):
        return True  # refused, unreachable, no free connection in time
    if isinstance(exc, sa_exc.DBAPIError) and (exc.connection_invalidated or sqlstate(exc) is None):
        return True  # the driver lost the connection before the server could answer
    code = sqlstate(exc)
    return code is not None and code[:2] in _UNAVAILABLE_SQLSTATE_CLASSES


def sessionmaker_for(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise when the database cannot answer a query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the route returns, rolled back when it raises."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session, session.begin():
        yield session


Session = Annotated[AsyncSession, Depends(request_session)]
