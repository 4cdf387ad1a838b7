"""Domain events of a partner account: immutable facts, named in the past tense.

The events carry only domain data. The event store adds the stream id (partner id), the
version, the time and the metadata (causation id, correlation id, actor of the request).
Credits are ``int`` and may be negative where a field says so; money is ``int`` minor units
in the partner's currency.

How events are stored and read back (names, schema versions, JSON) is the event store
adapter's business (``ledger.adapters.stored_events``): here they are plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

BillingMode = Literal["prepaid", "on_demand"]
Locale = Literal["de", "en"]
PurchaseReason = Literal["auto", "manual"]
SettledBy = Literal["payment", "adjustment"]
PaymentMethod = Mapping[str, str]
"""``{"type": "card" | "sepa_debit", ...}``: gateway references, never raw card data."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerRegistered:
    partner_id: str
    name: str
    locale: Locale
    billing_mode: BillingMode
    currency: str
    credit_price_list_id: str
    mailing_price_list_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerAttached:
    customer_id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingSettingsChanged:
    """The complete billing settings after the change (not a diff)."""

    billing_mode: BillingMode
    reminder_threshold: int | None
    reminder_armed: bool
    auto_purchase_credits: int | None
    auto_purchase_trigger: int | None
    payment_method: PaymentMethod | None
    # Balance alert levels besides the reminder, highest first (schema version 2; ``()``
    # before it and while none are set).
    reminder_thresholds: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MailingDebited:
    """A sent mailing's cost.

    ``price_list_id``, ``price_list_version`` and ``recipients`` identify the price: a version
    of a price list never changes, so the quote behind ``credits`` can always be recomputed
    (the ledger also keeps each distinct quote once, for audits).

    ``charge_minor is None``: prepaid, ``credits`` leave the balance (which may go negative).
    ``charge_minor`` set: on demand, the balance is untouched and the credits and money are
    added to what is waiting to be charged.
    A hold was used iff ``captured_credits + released_credits > 0``: it is then closed,
    ``captured_credits`` (at most the hold) came out of it and ``released_credits`` went back.
    ``sent_at``: when the mailing went out, to the second (its usage counts on that UTC
    day); ``None`` for
    debits stored before schema version 3, which did not record it: readers then take the
    time the event was recorded.
    """

    mailing_id: str
    customer_id: str
    recipients: int
    credits: int
    price_list_id: str
    price_list_version: int
    reservation_id: str | None
    captured_credits: int
    released_credits: int
    charge_minor: int | None
    sent_at: datetime | None

    @property
    def hold_used(self) -> bool:
        return self.captured_credits + self.released_credits > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditsReserved:
    """``customer_id``: the customer whose budget the hold counts against (schema version 2;
    ``None`` before it and for a hold that names no customer)."""

    reservation_id: str
    credits: int
    expires_at: datetime
    mailing_id: str | None
    customer_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReservationReleased:
    reservation_id: str
    credits: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReservationExpired:
    reservation_id: str
    credits: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LowBalanceReached:
    """The balance fell below the reminder threshold (once per downward crossing)."""

    balance: int
    threshold: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderRearmed:
    """The balance is back at or above the threshold after the reminder fired: the next fall
    below it fires again."""

    balance: int
    threshold: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderArmed:
    """The balance reached a threshold that was set above it: the reminder is armed from now
    on. It never fired, so nothing recovered and nobody is told."""

    balance: int
    threshold: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceThresholdCrossed:
    """The balance fell below one of the alert levels (once per downward crossing)."""

    threshold: int
    balance: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceRecovered:
    """The balance is back at or above an alert level it had fallen below (the level fired):
    its next fall below fires again."""

    threshold: int
    balance: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceThresholdArmed:
    """The balance reached an alert level that was set above it: the level is armed from now
    on. It never fired, so nothing recovered and nobody is told."""

    threshold: int
    balance: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerBudgetSet:
    """A customer's monthly budget, complete (``monthly_credits is None``: no budget).

    ``used`` is what the customer had used in ``month`` (``YYYY-MM``, UTC, by the mailings'
    ``sent_at``) when the budget was set, so the account counts the month from its start
    without keeping every customer's usage.
    """

    customer_id: str
    monthly_credits: int | None
    alert_percents: tuple[int, ...]
    month: str
    used: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerBudgetAlert:
    """A customer's usage in ``month`` reached ``percent`` of its budget (once per month and
    crossing)."""

    customer_id: str
    percent: int
    used: int
    monthly_credits: int
    month: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseRequested:
    purchase_id: str
    credits: int
    amount_minor: int
    currency: str
    price_list_id: str
    price_list_version: int
    reason: PurchaseReason
    actor: str
    payment_method: PaymentMethod | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseSucceeded:
    purchase_id: str
    credits: int
    amount_minor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseFailed:
    """A declined payment.

    ``consecutive_failures`` is set when the decline counts against auto-purchase (an automatic
    purchase while auto-purchase is on); ``retry_not_before`` is set when it then backs off
    rather than being suspended.
    """

    purchase_id: str
    reason: str | None
    code: str | None
    retryable: bool
    retry_not_before: datetime | None
    consecutive_failures: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseReturned:
    """A succeeded payment was reversed later (SEPA return, chargeback): credits go back."""

    purchase_id: str
    credits: int
    amount_minor: int
    reason: str | None
    code: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoPurchaseSuspended:
    failures: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoPurchaseResumed:
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditsGranted:
    credits: int
    reason: str
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditsAdjusted:
    delta: int
    reason: str
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeRequested:
    charge_id: str
    credits: int
    amount_minor: int
    currency: str
    mailing_ids: tuple[str, ...]
    payment_method: PaymentMethod | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeSucceeded:
    charge_id: str
    credits: int
    amount_minor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeFailed:
    charge_id: str
    reason: str | None
    code: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeReturned:
    charge_id: str
    credits: int
    amount_minor: int
    reason: str | None
    code: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DebtRecorded:
    charge_id: str
    credits: int
    amount_minor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DebtSettled:
    credits: int
    amount_minor: int
    by: SettledBy
    actor: str
    reference: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContractChanged:
    """A customer's resale contract, complete (not a diff), in effect from ``starts_on``.

    The terms name a plan variant of one of the partner's own price lists in the pricing
    service; ``billing_period`` is that variant's (ISO 8601, e.g. ``P1M``) when the contract
    was agreed, ``billing_anchor`` places its billing cycles, ``booked`` holds the booked
    quantities of recurring components as decimal strings.
    """

    customer_id: str
    price_list_id: str
    plan_variant_id: str
    starts_on: date
    billing_anchor: date
    billing_period: str
    booked: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementIssued:
    """The statement a partner invoices a customer from, for ``[period_start, period_end)``.

    ``quote`` is the pricing service's quote as it answered (so the statement can be shown
    again exactly, whatever later price list versions say); ``mailings``, ``recipients`` and
    ``credits`` are the customer's usage of the period as the ledger recorded it.
    """

    customer_id: str
    period_start: date
    period_end: date
    price_list_id: str
    price_list_version: int
    plan_variant_id: str
    currency: str
    total: str
    total_minor: int
    mailings: int
    recipients: int
    credits: int
    quote: Mapping[str, Any]


Event = (
    PartnerRegistered
    | CustomerAttached
    | BillingSettingsChanged
    | MailingDebited
    | CreditsReserved
    | ReservationReleased
    | ReservationExpired
    | LowBalanceReached
    | ReminderRearmed
    | ReminderArmed
    | BalanceThresholdCrossed
    | BalanceRecovered
    | BalanceThresholdArmed
    | CustomerBudgetSet
    | CustomerBudgetAlert
    | PurchaseRequested
    | PurchaseSucceeded
    | PurchaseFailed
    | PurchaseReturned
    | AutoPurchaseSuspended
    | AutoPurchaseResumed
    | CreditsGranted
    | CreditsAdjusted
    | ChargeRequested
    | ChargeSucceeded
    | ChargeFailed
    | ChargeReturned
    | DebtRecorded
    | DebtSettled
    | ContractChanged
    | StatementIssued
)
