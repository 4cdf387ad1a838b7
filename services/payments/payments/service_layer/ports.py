"""What the service layer needs from the world, as Protocols; `payments.adapters` implements
them (PostgreSQL, Stripe, the bank file, SMTP) and `payments.bootstrap` plugs them in."""

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from payments.domain.outcomes import AttemptStatus, Outcome
from payments.domain.requests import GatewayName, PaymentRequest
from payments.domain.sepa import BankEntry
from shared.messaging.inbox import EventKey
from shared.messaging.outbox import OutgoingMessage

# --- gateways ----------------------------------------------------------------------------


class GatewayUnavailable(Exception):
    """The gateway could not answer (network, 5xx, rate limit): the payment is in doubt and
    must be looked up, then tried again later with the same idempotency key."""


class Gateway(Protocol):
    """Charges a request at most once per idempotency key, and finds such a charge again."""

    name: str

    async def charge(self, request: PaymentRequest, idempotency_key: str) -> Outcome:
        """Charge once; a repeated call with the same key must not charge again. A decline is
        an outcome (`failed`); only an unanswered call raises `GatewayUnavailable`."""
        ...

    async def lookup(
        self, request: PaymentRequest, idempotency_key: str, since: datetime
    ) -> Outcome | None:
        """The payment made for this request (created at or after `since`), or None if the
        gateway has none: then charging is safe."""
        ...


# --- what one transaction writes ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    """A payment request as recorded, and how far it got."""

    request: PaymentRequest
    gateway: GatewayName
    status: AttemptStatus
    tries: int
    created_at: datetime
    gateway_reference: str | None = None


class Attempts(Protocol):
    async def add(self, request: PaymentRequest, gateway: GatewayName) -> bool:
        """Record a new attempt as `charging`; False when the request id was recorded before."""
        ...

    async def get(self, request_id: str, *, for_update: bool = False) -> Attempt | None:
        """The attempt; with `for_update`, locked until the transaction ends."""
        ...

    async def request_for_reference(self, reference: str) -> str | None:
        """The request a gateway reference (a PaymentIntent id) belongs to."""
        ...

    async def save_outcome(self, request_id: str, status: AttemptStatus, outcome: Outcome) -> None:
        """Store the new status with what the outcome says about it."""
        ...

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Attempts still waiting for a gateway answer whose time has come."""
        ...

    async def begin_try(self, request_id: str, retry_at: datetime) -> int | None:
        """Count one more call; the number of calls so far, None if no longer charging."""
        ...

    async def retry_later(self, request_id: str, retry_at: datetime, error: str) -> None: ...

    async def recent_declines(self, method_key: str, now: datetime) -> int:
        """Declined attempts of one payment method in the 30 days before `now`."""
        ...


class StripeEvents(Protocol):
    async def first_time(self, event_id: str, event_type: str) -> bool:
        """Record a webhook event's id; False when it was recorded before."""
        ...


class BankCollections(Protocol):
    async def requests_for(self, entry: BankEntry) -> list[str]:
        """The requests a bank answer is about: one debit by its end-to-end id, or every debit
        of a rejected file by its message id."""
        ...


@dataclass(frozen=True, slots=True)
class Notification:
    """A reminder e-mail as recorded before anything is sent."""

    message_id: str
    partner_id: str
    type: str
    locale: str
    recipient: str
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class DueMail:
    """A notification claimed for sending (now `sending`)."""

    message_id: str
    recipient: str
    subject: str
    body: str
    locale: str
    tries: int


class Notifications(Protocol):
    async def add(self, notification: Notification) -> None:
        """Record it as `pending`, unless its message id was recorded before."""
        ...

    async def claim_due(self, now: datetime, limit: int) -> list[DueMail]:
        """Mark the due `pending` ones `sending` (one more try) and return them."""
        ...

    async def finish(
        self,
        message_id: str,
        status: str,
        sent_at: datetime | None,
        next_try_at: datetime,
        error: str | None,
    ) -> None:
        """Move a `sending` notification on to `status`."""
        ...


class MessageClaims(Protocol):
    async def claim(self, topic: str, events: Sequence[EventKey]) -> set[EventKey]:
        """The (source, id) keys not seen before; they are recorded as seen."""
        ...


class Outbox(Protocol):
    async def write(self, messages: Sequence[OutgoingMessage]) -> None: ...


class UnitOfWork(Protocol):
    """Every store the payments database holds, in one transaction."""

    @property
    def attempts(self) -> Attempts: ...
    @property
    def stripe_events(self) -> StripeEvents: ...
    @property
    def bank_collections(self) -> BankCollections: ...
    @property
    def notifications(self) -> Notifications: ...
    @property
    def inbox(self) -> MessageClaims: ...
    @property
    def outbox(self) -> Outbox: ...


# A new transaction per call; commits when the block ends normally, rolls back when it raises.
UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


class AttemptLocks(Protocol):
    def hold(self, request_id: str) -> AbstractAsyncContextManager[bool]:
        """Keep other processes off one attempt for the block; yields False (and holds
        nothing) when another process has it already."""
        ...


# --- mail ----------------------------------------------------------------------------------


class MailNotAccepted(Exception):
    """The mail server answered and refused the message: it certainly was not accepted.
    `permanent` (a 5xx) means sending it again would get the same answer."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


class MailSender(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand the message over; `MailNotAccepted` when refused. Any other exception leaves
        it in doubt: it may have been accepted."""
        ...


# --- tests only ----------------------------------------------------------------------------


class FaultInjector(Protocol):
    """A test's hook into the worker's crash windows. Production wires none (None), and the
    worker then pays one `is None` check per payment."""

    async def after_gateway_answered(self, request_id: str) -> None:
        """Called after the gateway answered and before the answer is recorded."""
        ...
