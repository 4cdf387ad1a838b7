"""One database transaction with every store the ledger writes to, committed together."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.adapters.budgets import PostgresBudgetUsage
from ledger.adapters.debit_quotes import PostgresDebitQuotes
from ledger.adapters.event_store import PostgresEventStore
from ledger.adapters.idempotency import PostgresIdempotencyKeys
from ledger.adapters.projections import PostgresProjections
from ledger.adapters.records import PostgresRecords
from ledger.adapters.snapshots import PostgresSnapshots
from ledger.adapters.tokens import PostgresPartnerTokens
from shared.messaging.inbox import Inbox
from shared.messaging.outbox import Outbox

DEFAULT_SNAPSHOT_INTERVAL = 100


@dataclass(frozen=True, slots=True)
class PostgresUnitOfWork:
    connection: AsyncConnection
    events: PostgresEventStore
    snapshots: PostgresSnapshots
    projections: PostgresProjections
    records: PostgresRecords
    debit_quotes: PostgresDebitQuotes
    budget_usage: PostgresBudgetUsage
    inbox: Inbox
    outbox: Outbox
    idempotency_keys: PostgresIdempotencyKeys
    tokens: PostgresPartnerTokens
    snapshot_interval: int

    @staticmethod
    def on(
        connection: AsyncConnection,
        inbox: Inbox,
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
    ) -> "PostgresUnitOfWork":
        """The stores over a transaction someone else opened (the batch consumer)."""
        return PostgresUnitOfWork(
            connection=connection,
            events=PostgresEventStore(connection),
            snapshots=PostgresSnapshots(connection),
            projections=PostgresProjections(connection),
            records=PostgresRecords(connection),
            debit_quotes=PostgresDebitQuotes(connection),
            budget_usage=PostgresBudgetUsage(connection),
            inbox=inbox,
            outbox=Outbox(connection),
            idempotency_keys=PostgresIdempotencyKeys(connection),
            tokens=PostgresPartnerTokens(connection),
            snapshot_interval=snapshot_interval,
        )


@asynccontextmanager
async def unit_of_work(
    engine: AsyncEngine,
    consumer_group: str = "ledger",
    snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
) -> AsyncIterator[PostgresUnitOfWork]:
    """Commits when the block ends normally, rolls everything back when it raises."""
    async with engine.begin() as connection:
        yield PostgresUnitOfWork.on(
            connection, Inbox(connection, consumer_group), snapshot_interval
        )
