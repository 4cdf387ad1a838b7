"""One database transaction with every store the ledger writes to, committed together."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.adapters.event_store import EventStore
from ledger.adapters.projections import Projections
from shared.messaging.inbox import Inbox
from shared.messaging.outbox import Outbox


@dataclass(frozen=True, slots=True)
class UnitOfWork:
    connection: AsyncConnection
    events: EventStore
    inbox: Inbox
    outbox: Outbox
    projections: Projections

    @staticmethod
    def on(connection: AsyncConnection, inbox: Inbox) -> "UnitOfWork":
        """The stores over a transaction someone else opened (the batch consumer)."""
        return UnitOfWork(
            connection=connection,
            events=EventStore(connection),
            inbox=inbox,
            outbox=Outbox(connection),
            projections=Projections(connection),
        )


@asynccontextmanager
async def unit_of_work(
    engine: AsyncEngine, consumer_group: str = "ledger"
) -> AsyncIterator[UnitOfWork]:
    """Commits when the block ends normally, rolls everything back when it raises."""
    async with engine.begin() as connection:
        yield UnitOfWork.on(connection, Inbox(connection, consumer_group))
