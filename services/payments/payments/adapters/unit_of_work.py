"""One database transaction over every store of the payments database, committed together."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.adapters.attempts import PostgresAttempts
from payments.adapters.notifications import PostgresNotifications
from payments.adapters.sepa_file import PostgresBankCollections
from payments.adapters.stripe_events import PostgresStripeEvents
from shared.messaging.inbox import Inbox
from shared.messaging.outbox import Outbox


@dataclass(frozen=True, slots=True)
class PostgresUnitOfWork:
    connection: AsyncConnection
    attempts: PostgresAttempts
    stripe_events: PostgresStripeEvents
    bank_collections: PostgresBankCollections
    notifications: PostgresNotifications
    inbox: Inbox
    outbox: Outbox

    @staticmethod
    def on(connection: AsyncConnection, inbox: Inbox) -> "PostgresUnitOfWork":
        """The stores over a transaction someone else opened (the batch consumer)."""
        return PostgresUnitOfWork(
            connection=connection,
            attempts=PostgresAttempts(connection),
            stripe_events=PostgresStripeEvents(connection),
            bank_collections=PostgresBankCollections(connection),
            notifications=PostgresNotifications(connection),
            inbox=inbox,
            outbox=Outbox(connection),
        )


@asynccontextmanager
async def unit_of_work(
    engine: AsyncEngine, consumer_group: str = "payments"
) -> AsyncIterator[PostgresUnitOfWork]:
    """Commits when the block ends normally, rolls everything back when it raises."""
    async with engine.begin() as connection:
        yield PostgresUnitOfWork.on(connection, Inbox(connection, consumer_group))
