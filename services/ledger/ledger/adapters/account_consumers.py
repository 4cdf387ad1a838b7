"""The ledger's Kafka consumers: each runs a service-layer batch handler on the batch
consumer's transaction, with account states cached between batches."""

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.adapters.unit_of_work import PostgresUnitOfWork
from ledger.service_layer.accounts import AccountCache
from ledger.service_layer.ports import ConcurrencyConflict, UnitOfWork
from shared.messaging.consumer import BatchResult, Subscription
from shared.messaging.inbox import Inbox, IncomingRecord


class AccountBatchHandler(Protocol):
    topic: str
    dead_letter_topic: str
    transient: tuple[type[Exception], ...]

    async def handle(
        self, uow: UnitOfWork, records: Sequence[IncomingRecord], cache: AccountCache
    ) -> BatchResult: ...


class AccountConsumer:
    def __init__(self, handler: AccountBatchHandler, snapshot_interval: int) -> None:
        self.handler = handler
        self.cache = AccountCache()
        self._snapshot_interval = snapshot_interval

    @property
    def topic(self) -> str:
        return self.handler.topic

    @property
    def dead_letter_topic(self) -> str:
        return self.handler.dead_letter_topic

    async def __call__(
        self, connection: AsyncConnection, inbox: Inbox, records: Sequence[IncomingRecord]
    ) -> BatchResult:
        uow = PostgresUnitOfWork.on(connection, inbox, self._snapshot_interval)
        return await self.handler.handle(uow, records, self.cache)

    def subscription(self, group: str) -> Subscription:
        def forget(records: Sequence[IncomingRecord]) -> None:
            # The batch is tried again: its accounts are read afresh from the store.
            self.cache.discard({r.key.decode("utf-8", "replace") for r in records if r.key})

        return Subscription(
            topic=self.handler.topic,
            group=group,
            handler=self,
            dead_letter_topic=self.handler.dead_letter_topic,
            # Another writer appended first, or something the handler knows is passing.
            retry_on=(ConcurrencyConflict, *self.handler.transient),
            on_retry=forget,
        )
