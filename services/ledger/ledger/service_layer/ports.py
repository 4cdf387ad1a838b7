"""What the service layer needs from the world, as Protocols; adapters implement them.

The unit tests implement them in memory (``tests/unit/ledger/fakes.py``), so every use case
runs there without PostgreSQL, Kafka or the pricing service.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from ledger.domain import Event, PartnerAccount, Record, RecordKind
from shared.messaging.inbox import EventKey
from shared.messaging.outbox import OutgoingMessage

# --- the event store ---------------------------------------------------------------------


# NamedTuples (here and QuoteItem): immutable, and cheap to build for every event of a batch.
class StoredEvent(NamedTuple):
    """A domain event as the store keeps it: position in its stream plus metadata."""

    originator_id: str
    originator_version: int
    event: Event
    metadata: dict[str, Any]
    recorded_at: datetime
    global_position: int | None = None


class ConcurrencyConflict(Exception):
    """Another writer appended to one of the streams first; reload and decide again."""


class MailingDebitedBefore(Exception):
    """A debit of the same mailing of the same partner is stored already (each mailing is
    debited once); decide again, looking up which mailings were debited."""


class EventStore(Protocol):
    async def load_after(self, after_versions: Mapping[str, int]) -> dict[str, list[StoredEvent]]:
        """Each stream's events with a version above the one given (0: the whole stream)."""
        ...

    async def load_until(self, partner_id: str, after_version: int, at: datetime) -> list[Event]:
        """One stream's events above ``after_version``, up to the first recorded after ``at``."""
        ...

    async def append(self, events: Sequence[StoredEvent]) -> None:
        """Append new events; ``ConcurrencyConflict`` when a version is taken already,
        ``MailingDebitedBefore`` when a debit's mailing has one already."""
        ...

    async def wait_for_writers(self, originator_ids: Sequence[str]) -> None:
        """Queue behind every other writer of these streams until the unit of work ends."""
        ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    state: PartnerAccount
    recorded_at: datetime  # when the last event it holds was recorded


class Snapshots(Protocol):
    async def latest(self, after_versions: Mapping[str, int]) -> dict[str, PartnerAccount]:
        """The newest snapshot of each account newer than the version given (0: any)."""
        ...

    async def latest_at(self, partner_id: str, at: datetime) -> Snapshot | None:
        """The newest snapshot whose last event was recorded at or before ``at``."""
        ...

    async def save(self, snapshots: Iterable[Snapshot]) -> None: ...


# --- read models kept in the same transaction ---------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What one command or batch did to one account: the events with their versions."""

    before: PartnerAccount | None
    events: Sequence[tuple[int, Event]]
    states: Sequence[PartnerAccount]  # the state after each event
    times: Sequence[datetime]  # when each event was recorded

    @property
    def after(self) -> PartnerAccount:
        return self.states[-1]


class Projections(Protocol):
    async def record(self, changes: Iterable[AccountChange]) -> None:
        """Bring every read model up to date with these changes."""
        ...

    async def mailings_already_debited(
        self, pairs: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which (partner, mailing) pairs have a debit already."""
        ...


@dataclass(frozen=True, slots=True)
class DebitQuote:
    """The pricing service's breakdown behind a debit, for audits. A version of a price list
    never changes, so the quote for a component and quantity is the same every time."""

    price_list_id: str
    price_list_version: int
    component: str
    quantity: int
    quote: dict[str, Any]


class DebitQuotes(Protocol):
    """Each distinct quote behind the debits, kept once (the events name it, not hold it)."""

    async def keep(self, quotes: Sequence[DebitQuote]) -> None:
        """Keep the quotes not kept yet; one already kept stays as it is."""
        ...


class Records(Protocol):
    """The ledger's records of reservations, purchases and charges (open and closed)."""

    async def find(
        self, kind: RecordKind, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Record]:
        """The records with these (partner id, record id) keys that exist."""
        ...


class BudgetUsage(Protocol):
    """What a customer used, from the ledger's usage records (read in the transaction)."""

    async def credits_in_month(self, partner_id: str, customer_id: str, month: str) -> int:
        """Credits of the customer's mailings sent in ``month`` (``YYYY-MM``, UTC)."""
        ...


class Inbox(Protocol):
    async def claim(self, topic: str, events: Sequence[EventKey]) -> set[EventKey]:
        """The (source, id) keys not seen before; they are recorded as seen."""
        ...


class Outbox(Protocol):
    async def write(self, messages: Sequence[OutgoingMessage]) -> None: ...


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The answer given to a request that carried an ``Idempotency-Key``."""

    request_hash: str
    status: int
    body: dict[str, Any]


class IdempotencyKeys(Protocol):
    async def find(self, scope: str, key: str) -> StoredResponse | None: ...

    async def save(self, scope: str, key: str, response: StoredResponse) -> None:
        """``ConcurrencyConflict`` when a twin request stored the key first."""
        ...


class PartnerTokens(Protocol):
    async def store(self, partner_id: str, token: str) -> None:
        """Keep (a hash of) a partner's new API token."""
        ...


class UnitOfWork(Protocol):
    """Every store the ledger writes to, in one transaction."""

    @property
    def events(self) -> EventStore: ...
    @property
    def snapshots(self) -> Snapshots: ...
    @property
    def projections(self) -> Projections: ...
    @property
    def records(self) -> Records: ...
    @property
    def debit_quotes(self) -> DebitQuotes: ...
    @property
    def budget_usage(self) -> BudgetUsage: ...
    @property
    def inbox(self) -> Inbox: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def idempotency_keys(self) -> IdempotencyKeys: ...
    @property
    def tokens(self) -> PartnerTokens: ...
    @property
    def snapshot_interval(self) -> int:
        """A snapshot is written whenever a stream's version is a multiple of this."""
        ...


# --- the pricing service ------------------------------------------------------------------


# One per mailing priced (see StoredEvent).
class QuoteItem(NamedTuple):
    """Price ``quantity`` of a price list's component with the version in effect at ``at``."""

    price_list_id: str
    component: str
    quantity: int
    at: datetime


@dataclass(frozen=True, slots=True)
class PricedItem:
    price_list_id: str
    price_list_version: int
    currency: str
    amount: Decimal
    quote: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RejectedItem:
    """The pricing service refused this item for good (e.g. an unknown price list)."""

    reason: str


class PricingUnavailable(Exception):
    """Pricing could not answer now (down, overloaded, 5xx): retry later, never skip."""


class Pricing(Protocol):
    async def quote_batch(self, items: Sequence[QuoteItem]) -> list[PricedItem | RejectedItem]:
        """One result per item, in the same order."""
        ...


# --- plan variants and quotes (customers' statements) ---------------------------------------


@dataclass(frozen=True, slots=True)
class PlanVersion:
    """What the ledger needs of a price list version to contract and bill a customer."""

    price_list_id: str
    version: int
    currency: str
    billing_periods: Mapping[str, str]  # plan variant id -> billing period (ISO 8601)
    recurring_components: frozenset[str]
    metered_components: frozenset[str]


class PricingRefused(Exception):
    """The pricing service refused the request for good; ``field`` is the JSON path at fault
    in the pricing service's terms (``$.price_list_id``, ``$.booked.seats``, ...)."""

    def __init__(self, status: int, field: str | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.field = field
        self.detail = detail


class PlanPricing(Protocol):
    async def version_at(self, price_list_id: str, at: datetime) -> PlanVersion:
        """The version of a price list in effect at ``at``; ``PricingRefused`` (404) when
        there is no such list or no version yet, ``PricingUnavailable`` when down."""
        ...

    async def quote(self, request: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/quotes`` as the pricing service answers it (``PricingRefused`` on 4xx)."""
        ...


# --- webhooks to partner portals ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """An enabled endpoint, as the intake of outgoing messages sees it."""

    endpoint_id: str
    partner_id: str
    event_types: frozenset[str] | None  # None: every type
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewWebhookDelivery:
    webhook_id: str  # the `webhook-id` header, for every attempt
    endpoint_id: str
    message_source: str
    message_id: str
    event_type: str
    sequence: int
    stream_version: int | None
    body: str  # the JSON sent, exactly


class WebhookIntake(Protocol):
    """Recording deliveries of outgoing messages, inside the consumer's transaction."""

    async def targets(self, partner_ids: Sequence[str]) -> list[WebhookTarget]:
        """The enabled endpoints of these partners."""
        ...

    async def recorded(self, keys: Sequence[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        """Which (endpoint id, message source, message id) already have a delivery."""
        ...

    async def reserve_sequences(self, counts: Mapping[str, int]) -> dict[str, int]:
        """Take `counts[endpoint]` consecutive sequence numbers per endpoint; returns the
        first of each."""
        ...

    async def add(self, deliveries: Sequence[NewWebhookDelivery], now: datetime) -> int:
        """Record the deliveries as due now; returns how many were new."""
        ...


@dataclass(frozen=True, slots=True)
class DueWebhook:
    """A delivery claimed for one attempt (the attempt is already counted)."""

    webhook_id: str
    endpoint_id: str
    url: str
    secrets: tuple[str, ...]  # `whsec_...`; during a rotation's grace period, two
    body: str
    attempt: int  # this attempt's number, from 1 (counting every attempt ever made)
    window_attempt: int  # from 1 since it was recorded or last re-sent by hand
    window_started_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """What one attempt got: a status code, or an error (no answer, or refused by us)."""

    status_code: int | None
    error: str | None
    duration_ms: int
    retry_after_seconds: float | None = None
    refused: bool = False  # not sent: the URL now resolves to an address we may not reach


class WebhookDeliveries(Protocol):
    async def claim_due(
        self, now: datetime, limit: int, busy_endpoints: Collection[str]
    ) -> list[DueWebhook]:
        """Up to `limit` due deliveries, at most one per endpoint and none of the busy ones,
        each leased (not due again for a while) and its attempt counted; others' claims are
        skipped, never waited for."""
        ...

    async def record_attempt(
        self,
        delivery: DueWebhook,
        answer: WebhookAnswer,
        attempted_at: datetime,
        status: str,
        next_attempt_at: datetime | None,
        disable_endpoint: bool,
    ) -> None:
        """Log the attempt and move the delivery to `status` ('pending' with its next time,
        'delivered' or 'failed')."""
        ...


class WebhookSender(Protocol):
    async def send(self, delivery: DueWebhook, now: datetime) -> WebhookAnswer:
        """One signed POST of the delivery's body to its endpoint."""
        ...
