"""In-memory fakes of the ports in ``payments.service_layer.ports``, for service-layer tests.

They do what the PostgreSQL adapters do, not more. ``FakeStore`` is the database (what committed
transactions left); ``FakeStore.unit_of_work`` opens one transaction over it, which reads its own
writes and publishes them all when the block ends normally, or none when it raises.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from payments.domain.outcomes import AttemptStatus, Outcome
from payments.domain.requests import GatewayName, PaymentRequest
from payments.domain.sepa import BankEntry
from payments.service_layer.ports import (
    Attempt,
    DueMail,
    MailNotAccepted,
    Notification,
    UnitOfWork,
)
from shared.messaging.inbox import EventKey
from shared.messaging.outbox import OutgoingMessage


@dataclass
class Row:
    """An attempt with the columns the service layer never reads back as such."""

    attempt: Attempt
    next_try_at: datetime
    updated_at: datetime
    code: str | None = None
    last_error: str | None = None


LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class Mail:
    notification: Notification
    status: str = "pending"
    tries: int = 0
    next_try_at: datetime = LONG_AGO
    sent_at: datetime | None = None
    error: str | None = None


@dataclass
class Tables:
    attempts: dict[str, Row] = field(default_factory=dict)
    stripe_events: set[str] = field(default_factory=set)
    collections: dict[str, str] = field(default_factory=dict)  # end-to-end id -> request id
    mails: dict[str, Mail] = field(default_factory=dict)
    seen: set[EventKey] = field(default_factory=set)  # inbox: (source, id)
    outbox: list[OutgoingMessage] = field(default_factory=list)


class FakeAttempts:
    def __init__(self, tables: Tables, now: datetime) -> None:
        self._t = tables
        self._now = now

    async def add(self, request: PaymentRequest, gateway: GatewayName) -> bool:
        if request.request_id in self._t.attempts:
            return False
        attempt = Attempt(request, gateway, "charging", 0, self._now)
        self._t.attempts[request.request_id] = Row(attempt, self._now, self._now)
        return True

    async def get(self, request_id: str, *, for_update: bool = False) -> Attempt | None:
        row = self._t.attempts.get(request_id)
        return None if row is None else row.attempt

    async def request_for_reference(self, reference: str) -> str | None:
        for request_id, row in self._t.attempts.items():
            if row.attempt.gateway_reference == reference:
                return request_id
        return None

    async def save_outcome(self, request_id: str, status: AttemptStatus, outcome: Outcome) -> None:
        row = self._t.attempts[request_id]
        reference = outcome.reference or row.attempt.gateway_reference
        row.attempt = replace(row.attempt, status=status, gateway_reference=reference)
        row.code = outcome.code if status in ("failed", "returned") else None
        row.updated_at = self._now

    async def due(self, now: datetime, limit: int) -> list[str]:
        due = [
            (row.next_try_at, request_id)
            for request_id, row in self._t.attempts.items()
            if row.attempt.status == "charging" and row.next_try_at <= now
        ]
        return [request_id for _, request_id in sorted(due)[:limit]]

    async def begin_try(self, request_id: str, retry_at: datetime) -> int | None:
        row = self._t.attempts[request_id]
        if row.attempt.status != "charging":
            return None
        row.attempt = replace(row.attempt, tries=row.attempt.tries + 1)
        row.next_try_at = retry_at
        return row.attempt.tries

    async def retry_later(self, request_id: str, retry_at: datetime, error: str) -> None:
        row = self._t.attempts[request_id]
        row.next_try_at, row.last_error = retry_at, error

    async def recent_declines(self, method_key: str, now: datetime) -> int:
        return sum(
            1
            for row in self._t.attempts.values()
            if row.attempt.request.method_key == method_key
            and row.attempt.status == "failed"
            and row.attempt.gateway != "none"
            and row.updated_at >= now - timedelta(days=30)
        )


class FakeStripeEvents:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def first_time(self, event_id: str, event_type: str) -> bool:
        if event_id in self._t.stripe_events:
            return False
        self._t.stripe_events.add(event_id)
        return True


class FakeBankCollections:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def requests_for(self, entry: BankEntry) -> list[str]:
        found = self._t.collections.get(entry.end_to_end_id or "")
        return [found] if found is not None else []


class FakeNotifications:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, notification: Notification) -> None:
        self._t.mails.setdefault(notification.message_id, Mail(notification))

    async def claim_due(self, now: datetime, limit: int) -> list[DueMail]:
        due = [m for m in self._t.mails.values() if m.status == "pending" and m.next_try_at <= now]
        claimed = []
        for mail in due[:limit]:
            mail.status, mail.tries = "sending", mail.tries + 1
            n = mail.notification
            claimed.append(
                DueMail(n.message_id, n.recipient, n.subject, n.body, n.locale, mail.tries)
            )
        return claimed

    async def finish(
        self,
        message_id: str,
        status: str,
        sent_at: datetime | None,
        next_try_at: datetime,
        error: str | None,
    ) -> None:
        mail = self._t.mails[message_id]
        if mail.status == "sending":
            mail.status, mail.sent_at, mail.next_try_at, mail.error = (
                status,
                sent_at,
                next_try_at,
                error,
            )


class FakeInbox:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def claim(self, topic: str, events: Sequence[EventKey]) -> set[EventKey]:
        new = {key for key in events if key not in self._t.seen}
        self._t.seen |= new
        return new


class FakeOutbox:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def write(self, messages: Sequence[OutgoingMessage]) -> None:
        self._t.outbox.extend(messages)


@dataclass
class FakeUnitOfWork:
    attempts: FakeAttempts
    stripe_events: FakeStripeEvents
    bank_collections: FakeBankCollections
    notifications: FakeNotifications
    inbox: FakeInbox
    outbox: FakeOutbox


class FakeStore:
    """The payments database in memory; `now` is what `now()` says in its SQL."""

    def __init__(self, now: datetime) -> None:
        self.tables = Tables()
        self.now = now
        self.commits = 0

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        work = copy.deepcopy(self.tables)
        yield FakeUnitOfWork(
            FakeAttempts(work, self.now),
            FakeStripeEvents(work),
            FakeBankCollections(work),
            FakeNotifications(work),
            FakeInbox(work),
            FakeOutbox(work),
        )
        self.tables = work
        self.commits += 1


class FakeLocks:
    """Attempt locks within one process: a second holder is turned away."""

    def __init__(self) -> None:
        self.held: set[str] = set()

    @asynccontextmanager
    async def hold(self, request_id: str) -> AsyncIterator[bool]:
        if request_id in self.held:
            yield False
            return
        self.held.add(request_id)
        try:
            yield True
        finally:
            self.held.discard(request_id)


@dataclass
class FakeMailSender:
    """Accepts every message, or refuses the recipients it is told to."""

    refuse: dict[str, MailNotAccepted] = field(default_factory=dict)
    lose: set[str] = field(default_factory=set)  # the connection drops after the hand-over
    sent: list[EmailMessage] = field(default_factory=list)

    async def send(self, message: EmailMessage) -> None:
        recipient = str(message["To"])
        if recipient in self.refuse:
            raise self.refuse[recipient]
        self.sent.append(message)
        if recipient in self.lose:
            raise ConnectionResetError("connection lost after DATA")
