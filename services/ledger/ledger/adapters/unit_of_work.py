"""One database transaction with every store the ledger writes to, committed together."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.adapters.event_store import EventStore
from ledger.adapters.inbox import Inbox
from ledger.adapters.outbox import Outbox
from ledger.adapters.projections import Projections


@dataclass(frozen=True, slots=True)
class UnitOfWork:
    connection: AsyncConnection
    events: EventStore
    inbox: Inbox
    outbox: Outbox
    projections: Projections


@asynccontextmanager
async def unit_of_work(
    engine: AsyncEngine, consumer_group: str = "ledger"
) -> AsyncIterator[UnitOfWork]:
    """Commits when the block ends normally, rolls everything back when it raises."""
    async with engine.begin() as connection:
        yield UnitOfWork(
            connection=connection,
            events=EventStore(connection),
            inbox=Inbox(connection, consumer_group),
            outbox=Outbox(connection),
            projections=Projections(connection),
        )
