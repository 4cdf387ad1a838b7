"""In-memory fakes of every port in ``ledger.service_layer.ports``, for service-layer tests.

They follow what the PostgreSQL adapters do, not more: the event store refuses a version that
is taken (``ConcurrencyConflict``) and a second debit of a mailing (``MailingDebitedBefore``),
snapshots are kept per version (a second save of a version is ignored), the records are kept by
``record_change`` applied to every event, as the projections do.

``FakeStore`` is the database: what committed transactions left. ``FakeUnitOfWork`` is one
transaction over it: it reads its own writes, and publishes them all at ``commit`` or none.
Several units of work can be opened over the same store, one after the other or overlapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from types import TracebackType
from typing import Any

import orjson

from ledger.domain import (
    Event,
    MailingDebited,
    PartnerAccount,
    Record,
    RecordKind,
    budget_month,
    record_change,
)
from ledger.service_layer.accounts import ChangeSet, load_accounts
from ledger.service_layer.commands import UnitOfWorkFactory
from ledger.service_layer.ports import (
    AccountChange,
    ConcurrencyConflict,
    DebitQuote,
    MailingDebitedBefore,
    PlanPricing,
    PlanVersion,
    PricedItem,
    Pricing,
    PricingUnavailable,
    QuoteItem,
    RejectedItem,
    Snapshot,
    StoredEvent,
    StoredResponse,
    UnitOfWork,
)
from shared.messaging.inbox import EventKey
from shared.messaging.outbox import OutgoingMessage
from tests.support.price_lists import CREDIT_TIERS, CREDITS_PER_RECIPIENT

RecordKey = tuple[RecordKind, str, str]  # (kind, partner id, record id)
QuoteKey = tuple[str, int, str, int]  # (price list id, version, component, quantity)


@dataclass
class LedgerData:
    """Every table the ledger writes to, as plain containers."""

    streams: dict[str, list[StoredEvent]] = field(default_factory=dict)
    snapshots: dict[str, dict[int, Snapshot]] = field(default_factory=dict)
    records: dict[RecordKey, Record] = field(default_factory=dict)
    quotes: dict[QuoteKey, DebitQuote] = field(default_factory=dict)
    debited: set[tuple[str, str]] = field(default_factory=set)
    changes: list[AccountChange] = field(default_factory=list)
    seen: dict[EventKey, str] = field(default_factory=dict)  # inbox: (source, id) -> topic
    outbox: list[OutgoingMessage] = field(default_factory=list)
    idempotency: dict[tuple[str, str], StoredResponse] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    next_position: int = 1

    def copy(self) -> LedgerData:
        return LedgerData(
            streams={pid: list(events) for pid, events in self.streams.items()},
            snapshots={pid: dict(by_version) for pid, by_version in self.snapshots.items()},
            records=dict(self.records),
            quotes=dict(self.quotes),
            debited=set(self.debited),
            changes=list(self.changes),
            seen=dict(self.seen),
            outbox=list(self.outbox),
            idempotency=dict(self.idempotency),
            tokens=dict(self.tokens),
            next_position=self.next_position,
        )

    # --- writes: each runs once in the transaction's copy and again at commit -------------

    def append(self, events: Sequence[StoredEvent]) -> None:
        """As the unique keys (originator_id, originator_version) and, of debits, (mailing_id,
        originator_id) do: a taken version or a mailing debited before fails."""
        for stored in sorted(events, key=lambda e: (e.originator_id, e.originator_version)):
            stream = self.streams.setdefault(stored.originator_id, [])
            if any(e.originator_version == stored.originator_version for e in stream):
                raise ConcurrencyConflict(
                    f"version {stored.originator_version} of {stored.originator_id!r} is taken"
                )
            if isinstance(stored.event, MailingDebited):
                mailing = (stored.originator_id, stored.event.mailing_id)
                if mailing in self.debited:
                    raise MailingDebitedBefore(f"mailing {mailing} has a debit already")
                self.debited.add(mailing)
            stream.append(_positioned(stored, self.next_position))
            stream.sort(key=lambda e: e.originator_version)
            self.next_position += 1

    def save_snapshots(self, snapshots: Iterable[Snapshot]) -> None:
        for snapshot in snapshots:  # ON CONFLICT (partner_id, version) DO NOTHING
            by_version = self.snapshots.setdefault(snapshot.state.partner_id, {})
            by_version.setdefault(snapshot.state.version, snapshot)

    def project(self, changes: Iterable[AccountChange]) -> None:
        for change in changes:
            self.changes.append(change)
            for (_, event), state in zip(change.events, change.states, strict=True):
                found = record_change(event)
                if found is not None:
                    key: RecordKey = (found.kind, state.partner_id, found.record_id)
                    self.records[key] = found.applied_to(self.records.get(key))

    def keep_quotes(self, quotes: Sequence[DebitQuote]) -> None:
        for quote in quotes:  # ON CONFLICT DO NOTHING: the first one kept stays
            key = (quote.price_list_id, quote.price_list_version, quote.component, quote.quantity)
            self.quotes.setdefault(key, quote)

    def claim(self, topic: str, message_ids: Iterable[EventKey]) -> None:
        """Record ids never seen. (Had a concurrent transaction claimed one first, the real
        inbox would have waited for it and then skipped the id; here the later commit fails.)"""
        taken = [i for i in message_ids if i in self.seen]
        if taken:
            raise ConcurrencyConflict(f"message ids {taken} were claimed meanwhile")
        for message_id in message_ids:
            self.seen[message_id] = topic

    def write_outbox(self, messages: Sequence[OutgoingMessage]) -> None:
        self.outbox.extend(messages)

    def save_key(self, scope: str, key: str, response: StoredResponse) -> None:
        if (scope, key) in self.idempotency:
            raise ConcurrencyConflict(f"idempotency key {key!r} was stored meanwhile")
        self.idempotency[(scope, key)] = response

    def store_token(self, partner_id: str, token: str) -> None:
        self.tokens[partner_id] = token


def _positioned(stored: StoredEvent, position: int) -> StoredEvent:
    return StoredEvent(
        stored.originator_id,
        stored.originator_version,
        stored.event,
        stored.metadata,
        stored.recorded_at,
        global_position=position,
    )


class FakeStore:
    """The database: what committed units of work left, plus a log of what was asked of it."""

    def __init__(self, snapshot_interval: int = 100) -> None:
        self.data = LedgerData()
        self.snapshot_interval = snapshot_interval
        self.event_loads: list[dict[str, int]] = []  # the `after_versions` of each load_after
        self.snapshot_loads: list[dict[str, int]] = []
        self.mailing_lookups: list[list[tuple[str, str]]] = []  # each mailings_already_debited
        self.units_opened = 0
        self._before_next_append: list[Callable[[], None]] = []

    def unit_of_work(self) -> FakeUnitOfWork:
        """A new transaction (the ``UnitOfWorkFactory`` of ``run_command``)."""
        self.units_opened += 1
        return FakeUnitOfWork(self)

    def race_next_append(self, partner_id: str, *events: Event) -> None:
        """Another writer appends ``events`` to the stream just before the next append does:
        both decided on the same version, so the next append meets a ConcurrencyConflict.
        Called n times, it makes the next n appends lose the race."""

        def other_writer() -> None:
            data = self.data.copy()
            last = data.streams[partner_id][-1]
            version, at = last.originator_version, last.recorded_at
            data.append(
                [
                    StoredEvent(partner_id, version + n, event, {"actor": "other-writer"}, at)
                    for n, event in enumerate(events, start=1)
                ]
            )
            self.data = data

        self._before_next_append.append(other_writer)

    def before_append(self) -> None:
        """Before an append: the first race waiting, if any (one race per append)."""
        if self._before_next_append:
            self._before_next_append.pop(0)()

    # --- what tests look at --------------------------------------------------------------

    def events(self, partner_id: str) -> list[Event]:
        return [e.event for e in self.data.streams.get(partner_id, [])]

    def stored(self, partner_id: str) -> list[StoredEvent]:
        return list(self.data.streams.get(partner_id, []))

    def snapshot_versions(self, partner_id: str) -> list[int]:
        return sorted(self.data.snapshots.get(partner_id, {}))

    def record(self, kind: RecordKind, partner_id: str, record_id: str) -> Record:
        return self.data.records[(kind, partner_id, record_id)]

    def message_types(self) -> list[str]:
        """The ``type`` of every outbox message, in the order written."""
        return [orjson.loads(m.value or b"{}")["type"] for m in self.data.outbox]


class FakeUnitOfWork:
    """One transaction over a ``FakeStore``: commits when the ``async with`` block ends
    normally (as ``adapters.unit_of_work.unit_of_work`` does), rolls back when it raises."""

    def __init__(self, store: FakeStore, snapshot_interval: int | None = None) -> None:
        self._store = store
        self._data = store.data.copy()
        self._writes: list[Callable[[LedgerData], None]] = []
        self._open = True
        self.committed = False
        self.rolled_back = False
        self.events = FakeEventStore(self)
        self.snapshots = FakeSnapshots(self)
        self.projections = FakeProjections(self)
        self.records = FakeRecords(self)
        self.debit_quotes = FakeDebitQuotes(self)
        self.budget_usage = FakeBudgetUsage(self)
        self.inbox = FakeInbox(self)
        self.outbox = FakeOutbox(self)
        self.idempotency_keys = FakeIdempotencyKeys(self)
        self.tokens = FakePartnerTokens(self)
        self.snapshot_interval = (
            store.snapshot_interval if snapshot_interval is None else snapshot_interval
        )

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._open:
            return
        if exc_type is None:
            await self.commit()
        else:
            await self.rollback()

    async def commit(self) -> None:
        """Every write of this transaction, or (on a conflict) none of them."""
        self._check_open()
        data = self._store.data.copy()
        try:
            for write in self._writes:
                write(data)
        except ConcurrencyConflict:
            await self.rollback()
            raise
        self._store.data = data
        self._open = False
        self.committed = True

    async def rollback(self) -> None:
        self._open = False
        self.rolled_back = True

    @property
    def store(self) -> FakeStore:
        return self._store

    def read(self) -> LedgerData:
        """What this transaction sees: the store as it was at its start, plus its writes."""
        self._check_open()
        return self._data

    def write(self, change: Callable[[LedgerData], None]) -> None:
        """Make ``change`` in this transaction now, and again on the store at commit."""
        self._check_open()
        change(self._data)  # a conflict inside the transaction fails the statement
        self._writes.append(change)

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError("the unit of work is closed")


class FakeEventStore:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def load_after(self, after_versions: Mapping[str, int]) -> dict[str, list[StoredEvent]]:
        self._uow.store.event_loads.append(dict(after_versions))
        streams = self._uow.read().streams
        return {
            pid: [e for e in streams.get(pid, []) if e.originator_version > after]
            for pid, after in after_versions.items()
        }

    async def load_until(self, partner_id: str, after_version: int, at: datetime) -> list[Event]:
        events: list[Event] = []
        for stored in self._uow.read().streams.get(partner_id, []):
            if stored.originator_version <= after_version:
                continue
            if stored.recorded_at > at:
                break
            events.append(stored.event)
        return events

    async def wait_for_writers(self, originator_ids: Sequence[str]) -> None:
        """One process, one event loop: nothing to queue behind here."""

    async def append(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        self._uow.store.before_append()
        # The row lock of the real store makes us see a concurrent writer's committed rows.
        committed = self._uow.store.data.streams
        for stored in events:
            theirs = committed.get(stored.originator_id, [])
            if any(e.originator_version == stored.originator_version for e in theirs):
                raise ConcurrencyConflict(
                    f"version {stored.originator_version} of {stored.originator_id!r} is taken"
                )
        self._uow.write(lambda data: data.append(events))


class FakeSnapshots:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def latest(self, after_versions: Mapping[str, int]) -> dict[str, PartnerAccount]:
        self._uow.store.snapshot_loads.append(dict(after_versions))
        found: dict[str, PartnerAccount] = {}
        for pid, after in after_versions.items():
            newer = [v for v in self._uow.read().snapshots.get(pid, {}) if v > after]
            if newer:
                found[pid] = self._uow.read().snapshots[pid][max(newer)].state
        return found

    async def latest_at(self, partner_id: str, at: datetime) -> Snapshot | None:
        candidates = [
            s
            for s in self._uow.read().snapshots.get(partner_id, {}).values()
            if s.recorded_at <= at
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda s: (s.recorded_at, s.state.version))

    async def save(self, snapshots: Iterable[Snapshot]) -> None:
        kept = list(snapshots)
        self._uow.write(lambda data: data.save_snapshots(kept))


class FakeProjections:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def record(self, changes: Iterable[AccountChange]) -> None:
        kept = list(changes)
        self._uow.write(lambda data: data.project(kept))

    async def mailings_already_debited(
        self, pairs: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        self._uow.store.mailing_lookups.append(list(pairs))
        debited = self._uow.read().debited
        return {pair for pair in pairs if pair in debited}


class FakeRecords:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def find(
        self, kind: RecordKind, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Record]:
        records = self._uow.read().records
        return {
            (pid, rid): records[(kind, pid, rid)]
            for pid, rid in keys
            if (kind, pid, rid) in records
        }


class FakeBudgetUsage:
    """What the usage read model answers: the credits of a customer's debits by the month of
    their ``sent_at`` (of their recording time for debits without one)."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def credits_in_month(self, partner_id: str, customer_id: str, month: str) -> int:
        return sum(
            stored.event.credits
            for stored in self._uow.read().streams.get(partner_id, [])
            if isinstance(stored.event, MailingDebited)
            and stored.event.customer_id == customer_id
            and budget_month(stored.event.sent_at or stored.recorded_at) == month
        )


class FakeDebitQuotes:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def keep(self, quotes: Sequence[DebitQuote]) -> None:
        kept = list(quotes)
        self._uow.write(lambda data: data.keep_quotes(kept))


class FakeInbox:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def claim(self, topic: str, message_ids: Sequence[EventKey]) -> set[EventKey]:
        seen = self._uow.read().seen
        new = [i for i in dict.fromkeys(message_ids) if i not in seen]
        self._uow.write(lambda data: data.claim(topic, new))
        return set(new)


class FakeOutbox:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def write(self, messages: Sequence[OutgoingMessage]) -> None:
        kept = list(messages)
        self._uow.write(lambda data: data.write_outbox(kept))


class FakeIdempotencyKeys:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def find(self, scope: str, key: str) -> StoredResponse | None:
        return self._uow.read().idempotency.get((scope, key))

    async def save(self, scope: str, key: str, response: StoredResponse) -> None:
        self._uow.write(lambda data: data.save_key(scope, key, response))


class FakePartnerTokens:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def store(self, partner_id: str, token: str) -> None:
        self._uow.write(lambda data: data.store_token(partner_id, token))


# mypy checks here that the fakes satisfy the Protocols (the unit of work, every port it
# holds, pricing) and that a store's factory is what ``run_command`` takes.
_a_unit_of_work: UnitOfWork = FakeUnitOfWork(FakeStore())
_a_factory: UnitOfWorkFactory = FakeStore().unit_of_work


async def given_stream(
    store: FakeStore, partner_id: str, events: Sequence[Event], at: datetime
) -> PartnerAccount:
    """Commit ``events`` to a partner's stream as a command would (read models, snapshots and
    outbox included); returns the account after them."""
    async with store.unit_of_work() as uow:
        accounts = await load_accounts(uow, [partner_id])
        changes = ChangeSet(accounts, at)
        changes.decide(partner_id, events, {"actor": "test"})
        await changes.write(uow)
    state = changes.state(partner_id)
    assert state is not None
    return state


# --- pricing -------------------------------------------------------------------------------

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class VolumeTier:
    """Every credit costs ``unit_amount`` when the whole quantity is at most ``up_to``."""

    up_to: int | None
    unit_amount: Decimal


# The tiers of the canonical credit price list (tests.support.price_lists).
DEFAULT_CREDIT_TIERS = tuple(VolumeTier(up_to, unit_price) for up_to, unit_price in CREDIT_TIERS)


class FakePricing:
    """The pricing service: recipients -> credits at ``credits_per_recipient`` (the exact
    amount rounded once, half-up, to a whole credit: 5,000 -> 5,250; 1 -> 1), and credits ->
    money with a volume price list. It can refuse a price list for good, or be down."""

    def __init__(
        self,
        credits_per_recipient: Decimal = CREDITS_PER_RECIPIENT,
        credit_tiers: Sequence[VolumeTier] = DEFAULT_CREDIT_TIERS,
        currency: str = "EUR",
        price_list_version: int = 3,
    ) -> None:
        self.credits_per_recipient = credits_per_recipient
        self.credit_tiers = tuple(credit_tiers)
        self.currency = currency
        self.price_list_version = price_list_version
        self.refused: dict[str, str] = {}
        self.unavailable = False
        self.asked: list[QuoteItem] = []

    def refuse(self, price_list_id: str, reason: str = "no such price list") -> None:
        self.refused[price_list_id] = reason

    async def quote_batch(self, items: Sequence[QuoteItem]) -> list[PricedItem | RejectedItem]:
        if self.unavailable:
            raise PricingUnavailable("pricing answered 503")
        self.asked += items
        return [self._quote(item) for item in items]

    def _quote(self, item: QuoteItem) -> PricedItem | RejectedItem:
        if item.price_list_id in self.refused:
            return RejectedItem(self.refused[item.price_list_id])
        if item.component == "recipients":
            exact = item.quantity * self.credits_per_recipient
            amount = exact.quantize(Decimal(1), ROUND_HALF_UP)
            return self._priced(item, "CREDITS", exact, amount, int(amount))
        if item.component == "credits":
            tier = next(t for t in self.credit_tiers if t.up_to is None or item.quantity <= t.up_to)
            exact = item.quantity * tier.unit_amount
            amount = exact.quantize(CENT, ROUND_HALF_UP)
            return self._priced(item, self.currency, exact, amount, int(amount / CENT))
        return RejectedItem(f"price list {item.price_list_id!r} has no {item.component!r}")

    def _priced(
        self, item: QuoteItem, currency: str, exact: Decimal, amount: Decimal, minor: int
    ) -> PricedItem:
        quote: dict[str, Any] = {
            "component": item.component,
            "currency": currency,
            "quantity": str(item.quantity),
            "billable_quantity": str(item.quantity),
            "exact_amount": str(exact),
            "amount": str(amount),
            "amount_minor": minor,
        }
        return PricedItem(item.price_list_id, self.price_list_version, currency, amount, quote)


_a_pricing: Pricing = FakePricing()


class FakePlanPricing:
    """The pricing service's plan side: one version, and quotes echoed for inspection."""

    def __init__(self, metered: frozenset[str] = frozenset({"recipients"})) -> None:
        self.metered = metered
        self.asked: list[dict[str, Any]] = []

    async def version_at(self, price_list_id: str, at: datetime) -> PlanVersion:
        return PlanVersion(
            price_list_id, 1, "EUR", {"basic": "P1M"}, frozenset({"seats"}), self.metered
        )

    async def quote(self, request: dict[str, Any]) -> dict[str, Any]:
        self.asked.append(request)
        return {"price_list_id": request["price_list_id"], "total": "0.00"}


_a_plan_pricing: PlanPricing = FakePlanPricing()
