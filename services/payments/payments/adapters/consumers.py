"""The shared batch consumer runs a service-layer batch handler on its own transaction: the
handler gets that transaction as a unit of work, with the consumer's inbox."""

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.unit_of_work import PostgresUnitOfWork
from payments.service_layer.ports import UnitOfWork
from shared.messaging.consumer import BatchResult, Subscription
from shared.messaging.inbox import Inbox, IncomingRecord


class BatchUseCase(Protocol):
    topic: str
    dead_letter_topic: str

    async def handle(self, uow: UnitOfWork, records: Sequence[IncomingRecord]) -> BatchResult: ...


class UseCaseConsumer:
    def __init__(self, use_case: BatchUseCase) -> None:
        self.use_case = use_case

    async def __call__(
        self, connection: AsyncConnection, inbox: Inbox, records: Sequence[IncomingRecord]
    ) -> BatchResult:
        return await self.use_case.handle(PostgresUnitOfWork.on(connection, inbox), records)

    def subscription(self, group: str) -> Subscription:
        return Subscription(
            self.use_case.topic, group, self, dead_letter_topic=self.use_case.dead_letter_topic
        )
