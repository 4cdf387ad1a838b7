"""Load accounts, collect what commands decide, and write it all in one transaction."""

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.domain import Event, PartnerAccount, apply
from ledger.service_layer.outgoing_messages import outgoing_messages
from ledger.service_layer.ports import AccountChange, Snapshot, StoredEvent, UnitOfWork
from shared.messaging.outbox import OutgoingMessage


class AccountCache:
    """Recently used account states, so a busy partner is not replayed for every batch.

    Only states read from, or committed to, the store go in; the store is still asked for
    newer events each time, so another writer's appends are never missed.
    """

    def __init__(self, max_accounts: int = 10_000) -> None:
        self._states: OrderedDict[str, PartnerAccount] = OrderedDict()
        self._max = max_accounts
        # Debit quotes (list, version, component, quantity) this process wrote: each is kept
        # once, so a batch need not offer it again. Forgotten with the states on a retry.
        self.quotes_kept: set[tuple[str, int, str, int]] = set()

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
        # A batch that failed may have offered quotes that were never committed.
        self.quotes_kept.clear()


def _version(state: PartnerAccount | None) -> int:
    return state.version if state is not None else 0


async def load_accounts(
    uow: UnitOfWork, partner_ids: Iterable[str], cache: AccountCache | None = None
) -> dict[str, PartnerAccount | None]:
    """Current state of each account (None for a partner never registered).

    Starts from the newer of the cached state and the latest snapshot, and folds only the
    events after it: the cost does not depend on how long the stream is.
    """
    known = {pid: cache.get(pid) if cache else None for pid in dict.fromkeys(partner_ids)}
    snapshots = await uow.snapshots.latest({pid: _version(s) for pid, s in known.items()})
    known.update(snapshots)
    streams = await uow.events.load_after({pid: _version(s) for pid, s in known.items()})
    accounts: dict[str, PartnerAccount | None] = {}
    for partner_id, stored in streams.items():
        state = known[partner_id]
        for event in stored:
            state = apply(state, event.event)
        accounts[partner_id] = state
    return accounts


async def load_account_as_of(
    uow: UnitOfWork, partner_id: str, as_of: datetime
) -> PartnerAccount | None:
    """The account as it stood at ``as_of``: the nearest snapshot recorded by then, and the
    events after it that were recorded by then."""
    snapshot = await uow.snapshots.latest_at(partner_id, as_of)
    state = snapshot.state if snapshot is not None else None
    for event in await uow.events.load_until(partner_id, _version(state), as_of):
        state = apply(state, event)
    return state


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

    def decide(
        self,
        partner_id: str,
        events: Sequence[Event],
        metadata: dict[str, Any],
        states: Sequence[PartnerAccount] | None = None,
    ) -> None:
        """Record the events; ``states``, the account as each event leaves it, when the command
        folded them already (see ``Decision``), else they are folded here."""
        stream = self._streams[partner_id]
        if states is None:
            folded, state = [], stream.state
            for event in events:
                state = apply(state, event)
                folded.append(state)
            states = folded
        elif states and states[0].version != _version(stream.state) + 1:
            raise ValueError("the states given do not follow the account's current state")
        for event, state in zip(events, states, strict=True):
            stream.events.append((state.version, event))
            stream.states.append(state)
            stream.metadata.append(metadata)
        if states:
            stream.state = states[-1]

    @property
    def touched(self) -> list[PartnerAccount]:
        return [s.state for s in self._streams.values() if s.events and s.state is not None]

    def stored_events(self) -> list[StoredEvent]:
        return [
            StoredEvent(partner_id, version, event, metadata, recorded_at=self.now)
            for partner_id, stream in self._streams.items()
            for (version, event), metadata in zip(stream.events, stream.metadata, strict=True)
        ]

    def snapshots(self, interval: int) -> list[Snapshot]:
        """A snapshot of each state whose version is a multiple of ``interval``: the same
        versions whatever the batches were, so a rebuild writes the very same snapshots."""
        snapshots = []
        for stream in self._streams.values():
            if stream.states:
                # The versions of a stream's states run on one by one: the first multiple of
                # the interval is found by arithmetic, not by looking at every state.
                first = stream.states[0].version
                for state in stream.states[(-first) % interval :: interval]:
                    snapshots.append(Snapshot(state, self.now))
        return snapshots

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
        await uow.snapshots.save(self.snapshots(uow.snapshot_interval))
        await uow.projections.record(self.account_changes())
        await uow.outbox.write(self.outgoing())
