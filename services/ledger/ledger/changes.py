"""Load accounts, collect what commands decide, and write it all in one transaction."""

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.adapters.event_store import ConcurrencyConflict, StoredEvent
from ledger.adapters.pricing_client import PricingUnavailable
from ledger.adapters.projections import AccountChange
from ledger.adapters.unit_of_work import UnitOfWork
from ledger.domain import Event, PartnerAccount, apply, event_from_dict, event_to_dict
from ledger.messages import outgoing_messages
from shared.messaging.consumer import BatchResult, Subscription
from shared.messaging.inbox import Inbox, IncomingRecord
from shared.messaging.outbox import OutgoingMessage


class AccountCache:
    """Recently used account states, so a busy partner is not replayed for every batch.

    Only states read from, or committed to, the store go in; the store is still asked for
    newer events each time, so another writer's appends are never missed.
    """

    def __init__(self, max_accounts: int = 10_000) -> None:
        self._states: OrderedDict[str, PartnerAccount] = OrderedDict()
        self._max = max_accounts

    def get(self, partner_id: str) -> PartnerAccount | None:
        state = self._states.get(partner_id)
        if state is not None:
            self._states.move_to_end(partner_id)
        return state

    def put(self, state: PartnerAccount) -> None:
        self._states[state.partner_id] = state
        self._states.move_to_end(state.partner_id)
        while len(self._states) > self._max:
            self._states.popitem(last=False)

    def discard(self, partner_ids: Iterable[str]) -> None:
        for partner_id in partner_ids:
            self._states.pop(partner_id, None)


async def load_accounts(
    uow: UnitOfWork, partner_ids: Iterable[str], cache: AccountCache | None = None
) -> dict[str, PartnerAccount | None]:
    """Current state of each account (None for a partner never registered)."""
    cached = {pid: cache.get(pid) if cache else None for pid in dict.fromkeys(partner_ids)}
    streams = await uow.events.load_after(
        {pid: state.version if state else 0 for pid, state in cached.items()}
    )
    accounts: dict[str, PartnerAccount | None] = {}
    for partner_id, stored in streams.items():
        state = cached[partner_id]
        for event in stored:
            state = apply(state, event_from_dict(event.type, event.payload))
        accounts[partner_id] = state
    return accounts


@dataclass
class _Stream:
    before: PartnerAccount | None
    state: PartnerAccount | None
    events: list[tuple[int, Event]] = field(default_factory=list)
    states: list[PartnerAccount] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)


class ChangeSet:
    """The events decided in one transaction, per account, with their metadata.

    `decide` folds the events right away, so the next command in the same batch sees them.
    """

    def __init__(self, accounts: dict[str, PartnerAccount | None], now: datetime) -> None:
        self._streams = {pid: _Stream(state, state) for pid, state in accounts.items()}
        self.now = now
        self.extra_messages: list[OutgoingMessage] = []

    def state(self, partner_id: str) -> PartnerAccount | None:
        return self._streams[partner_id].state

    def decide(self, partner_id: str, events: Sequence[Event], metadata: dict[str, Any]) -> None:
        stream = self._streams[partner_id]
        for event in events:
            stream.state = apply(stream.state, event)
            stream.events.append((stream.state.version, event))
            stream.states.append(stream.state)
            stream.metadata.append(metadata)

    @property
    def touched(self) -> list[PartnerAccount]:
        return [s.state for s in self._streams.values() if s.events and s.state is not None]

    def stored_events(self) -> list[StoredEvent]:
        stored = []
        for partner_id, stream in self._streams.items():
            for (version, event), metadata in zip(stream.events, stream.metadata, strict=True):
                type_name, payload = event_to_dict(event)
                stored.append(
                    StoredEvent(
                        partner_id, version, type_name, payload, metadata, recorded_at=self.now
                    )
                )
        return stored

    def account_changes(self) -> list[AccountChange]:
        return [
            AccountChange(
                stream.before, stream.events, stream.states, [self.now] * len(stream.events)
            )
            for stream in self._streams.values()
            if stream.events
        ]

    def outgoing(self) -> list[OutgoingMessage]:
        messages = []
        for stream in self._streams.values():
            for (version, event), state in zip(stream.events, stream.states, strict=True):
                messages += outgoing_messages(state, version, event, self.now)
        return messages + self.extra_messages

    async def write(self, uow: UnitOfWork) -> None:
        """Events, projections and outbox messages, all in the caller's transaction."""
        await uow.events.append(self.stored_events())
        await uow.projections.record(self.account_changes())
        await uow.outbox.write(self.outgoing())


class AccountBatchHandler:
    """Base of the ledger's consumers: each batch runs on the consumer's transaction, with the
    account states cached between batches (and forgotten when a batch has to be retried)."""

    topic: str
    dead_letter_topic: str

    def __init__(self) -> None:
        self.cache = AccountCache()

    async def handle(
        self, uow: UnitOfWork, records: Sequence[IncomingRecord], cache: AccountCache
    ) -> BatchResult:
        raise NotImplementedError

    async def __call__(
        self, connection: AsyncConnection, inbox: Inbox, records: Sequence[IncomingRecord]
    ) -> BatchResult:
        return await self.handle(UnitOfWork.on(connection, inbox), records, self.cache)

    def subscription(self, group: str) -> Subscription:
        def forget(records: Sequence[IncomingRecord]) -> None:
            self.cache.discard({r.key.decode("utf-8", "replace") for r in records if r.key})

        return Subscription(
            topic=self.topic,
            group=group,
            handler=self,
            dead_letter_topic=self.dead_letter_topic,
            # Another writer appended first, or pricing is down: reload and try again.
            retry_on=(ConcurrencyConflict, PricingUnavailable),
            on_retry=forget,
        )
