"""The partner account aggregate, as pure functions.

A command looks at a ``PartnerAccount`` (or ``None`` before registration) and returns the new
events, or raises a ``LedgerError``; it never changes anything. ``apply`` folds one event into
the state and ``replay`` folds a whole stream. Time and ids come in as arguments (or are
derived from them), so that running a command again on the same state gives the same events.

Rules kept here, in one place:
- Balance: a prepaid mailing's debit is always recorded, even below zero (the mailing went out).
- Reminder: armed exactly while ``balance >= threshold``; ``LowBalanceReached`` when an armed
  reminder sees the balance below the threshold, ``ReminderRearmed`` when it is back at or
  above after it fired. A threshold set above the balance never fired: reaching it is
  ``ReminderArmed``, which tells nobody anything. These follow the event that moved the
  balance. The balance counts, not ``available``: a hold is a plan, the reminder is about
  credits that are gone.
- Auto-purchase: see ``auto_purchase_due`` and ``policies``.
- Alert levels (``reminder_thresholds``): each by the reminder's edge rule on its own,
  ``BalanceThresholdCrossed`` once per downward crossing and ``BalanceRecovered`` when the
  balance is back at or above it; a level set above the balance is reached silently
  (``BalanceThresholdArmed``).
- Reservations: ``available = balance - held``; the debit of a mailing closes its hold.
- Customer budgets: a hold naming a customer with a budget is refused when the customer's
  credits used this month, its holds and the hold would pass the budget. A debit is a fact
  and always counts, even past the budget; each alert percent fires once per month and
  crossing (``CustomerBudgetAlert``). Only the current month's counter of customers with a
  budget is kept.
- On demand: a mailing's credits are charged, not taken from the balance; failed or returned
  charges become debt, which blocks new reservations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple, TypeVar, assert_never

from . import policies
from .errors import (
    AutoPurchaseNotAllowed,
    BudgetExceeded,
    ContractConflict,
    CorruptStream,
    CustomerAlreadyAttached,
    InsufficientCredits,
    InvalidCommand,
    LedgerError,
    NoContract,
    NotFound,
    PartnerAlreadyRegistered,
    PartnerInDebt,
    PartnerNotRegistered,
    PaymentResultConflict,
    PurchaseAlreadyInFlight,
    PurchaseConflict,
    ReservationConflict,
    ReservationNotActive,
    StatementConflict,
    UnknownCharge,
    UnknownCustomer,
    UnknownPurchase,
    UnknownReservation,
)
from .events import (
    AutoPurchaseResumed,
    AutoPurchaseSuspended,
    BalanceRecovered,
    BalanceThresholdArmed,
    BalanceThresholdCrossed,
    BillingMode,
    BillingSettingsChanged,
    ChargeFailed,
    ChargeRequested,
    ChargeReturned,
    ChargeSucceeded,
    ContractChanged,
    CreditsAdjusted,
    CreditsGranted,
    CreditsReserved,
    CustomerAttached,
    CustomerBudgetAlert,
    CustomerBudgetSet,
    DebtRecorded,
    DebtSettled,
    Event,
    Locale,
    LowBalanceReached,
    MailingDebited,
    PartnerRegistered,
    PaymentMethod,
    PurchaseFailed,
    PurchaseReason,
    PurchaseRequested,
    PurchaseReturned,
    PurchaseSucceeded,
    ReminderArmed,
    ReminderRearmed,
    ReservationExpired,
    ReservationReleased,
    SettledBy,
    StatementIssued,
)
from .policies import DEFAULT_MINIMUM_CHARGE_MINOR, PaymentResult, PaymentStatus

ReservationStatus = Literal["active", "captured", "released", "expired"]

BILLING_MODES: tuple[BillingMode, ...] = ("prepaid", "on_demand")
LOCALES: tuple[Locale, ...] = ("de", "en")
PAYMENT_METHOD_TYPES = ("card", "sepa_debit")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    """A hold of credits for a planned mailing."""

    credits: int
    expires_at: datetime
    mailing_id: str | None
    status: ReservationStatus = "active"
    customer_id: str | None = None  # whose budget the hold counts against


@dataclass(frozen=True, slots=True, kw_only=True)
class Purchase:
    """Credits bought with money (prepaid), automatically or by hand."""

    credits: int
    amount_minor: int
    reason: PurchaseReason
    status: PaymentStatus = "requested"


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """Money taken on demand for the credits of one or more sent mailings."""

    credits: int
    amount_minor: int
    status: PaymentStatus = "requested"


@dataclass(frozen=True, slots=True, kw_only=True)
class Contract:
    """A customer's resale contract as it stands (the terms of its latest change), and
    ``first_starts_on``: when the customer's first contract started (its first invoice holds
    the setup fee; later changes are plan changes, which never do)."""

    price_list_id: str
    plan_variant_id: str
    starts_on: date
    billing_anchor: date
    billing_period: str
    booked: Mapping[str, str]
    first_starts_on: date


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerBudget:
    """A customer's monthly budget and its counter for one month (``YYYY-MM``, UTC).

    ``used``: credits the customer's mailings sent in ``month`` cost; ``alerted``: the alert
    percents that fired (or were passed already when the budget was set) in ``month``. A
    mailing of a later month starts the counter afresh; nothing of earlier months is kept.
    """

    monthly_credits: int
    alert_percents: tuple[int, ...]
    month: str
    used: int = 0
    alerted: tuple[int, ...] = ()

    def used_in(self, month: str) -> int:
        """Credits used in ``month`` as far as the counter knows (0 for a month it has not
        started: nothing was sent in it yet)."""
        return self.used if month == self.month else 0


# No __slots__: a state with a __dict__ is copied by one dict copy, in C (see ``_evolve``).
@dataclass(frozen=True, kw_only=True)
class PartnerAccount:
    """State of one partner's account: what ``replay`` makes of its events.

    Never change it in place; ``apply`` returns a new one. ``version`` is the number of events
    applied, which the event store uses for optimistic concurrency.

    The state holds only what is still open, so its size does not grow with the account's
    history: active ``holds``, purchases and charges waiting for their payment result (oldest
    first). What is closed leaves the state; the commands that must know about a closed item
    (an id used twice, a late or repeated payment result) are handed the ledger's record of it
    (the ``recorded`` arguments), which the service layer reads from its tables.
    """

    partner_id: str
    name: str
    locale: Locale
    billing_mode: BillingMode
    currency: str
    credit_price_list_id: str
    mailing_price_list_id: str
    customers: Mapping[str, str] = field(default_factory=dict)
    balance: int = 0
    holds: Mapping[str, Reservation] = field(default_factory=dict)
    held: int = 0
    debt_credits: int = 0
    debt_minor: int = 0
    reminder_threshold: int | None = None
    reminder_armed: bool = False
    # The reminder fired and the balance has not been back at or above the threshold since
    # (not armed and not fired: the threshold was set above the balance).
    reminder_fired: bool = False
    # Alert levels, highest first; those the balance is under (fired, or set above it); and
    # of those, the ones that fired (only these recover with a message).
    reminder_thresholds: tuple[int, ...] = ()
    thresholds_below: tuple[int, ...] = ()
    thresholds_fired: tuple[int, ...] = ()
    auto_purchase_credits: int | None = None
    auto_purchase_trigger: int | None = None
    auto_purchase_failures: int = 0
    auto_purchase_suspended: bool = False
    auto_purchase_retry_not_before: datetime | None = None
    purchases_in_flight: Mapping[str, Purchase] = field(default_factory=dict)
    uncharged_credits: int = 0
    uncharged_minor: int = 0
    uncharged_mailing_ids: tuple[str, ...] = ()
    charges_in_flight: Mapping[str, Charge] = field(default_factory=dict)
    payment_method: PaymentMethod | None = None
    contracts: Mapping[str, Contract] = field(default_factory=dict)
    # Per customer, the end of the last statement issued: statements go forward, so one date
    # per customer answers "issued already?" without keeping every statement in the state.
    statements_through: Mapping[str, date] = field(default_factory=dict)
    # Only customers with a budget, each with the counter of one month.
    budgets: Mapping[str, CustomerBudget] = field(default_factory=dict)
    version: int = 0

    @property
    def available(self) -> int:
        """Credits not promised to an active reservation: ``balance - held``."""
        return self.balance - self.held

    @property
    def in_debt(self) -> bool:
        return self.debt_credits > 0 or self.debt_minor > 0

    @property
    def auto_purchase_enabled(self) -> bool:
        return self.auto_purchase_credits is not None


# --- ids -------------------------------------------------------------------------------------


def auto_purchase_id(state: PartnerAccount) -> str:
    """The id of the automatic purchase decided on this state.

    Derived from the version, so a retried command proposes the same id and the event store's
    version check turns a concurrent second decision into a conflict.
    """
    return f"{state.partner_id}:auto-purchase:{state.version}"


def budget_month(now: datetime) -> str:
    """The month (``YYYY-MM``, UTC) a budget counts ``now`` in."""
    return policies.month_of(now)


def customer_held(state: PartnerAccount, customer_id: str) -> int:
    """Credits the customer's active holds keep."""
    return sum(h.credits for h in state.holds.values() if h.customer_id == customer_id)


def charge_id_for(partner_id: str, mailing_id: str) -> str:
    """The id of the on-demand charge that the debit of ``mailing_id`` requests."""
    return f"{partner_id}:charge:{mailing_id}"


# --- small checks ----------------------------------------------------------------------------


def _registered(state: PartnerAccount | None) -> PartnerAccount:
    if state is None:
        raise PartnerNotRegistered()
    return state


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidCommand(message)


def _aware(now: datetime) -> None:
    _require(now.utcoffset() is not None, "times must be timezone-aware (UTC)")


def _text(value: str, name: str) -> None:
    _require(bool(value.strip()), f"{name} must not be empty")


def _choice(value: str, choices: Sequence[str], name: str) -> None:
    _require(value in choices, f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _non_negative(value: int, name: str) -> None:
    _require(value >= 0, f"{name} must not be negative; got {value}")


def _positive(value: int, name: str) -> None:
    _require(value > 0, f"{name} must be positive; got {value}")


# --- follow-up rules -------------------------------------------------------------------------

_ACCOUNT_FIELDS = tuple(f.name for f in fields(PartnerAccount))
_ACCOUNT_FIELD_SET = frozenset(_ACCOUNT_FIELDS)


def _evolve(state: PartnerAccount, **changes: Any) -> PartnerAccount:
    """``dataclasses.replace`` for the account, without its per-call overhead.

    Every event makes a new state, so this is the ledger's hottest line (replay folds tens of
    thousands of events a second): it skips the generated ``__init__`` (the fields are already
    checked) and copies the fields as one dictionary.
    """
    if not _ACCOUNT_FIELD_SET.issuperset(changes):
        unknown = changes.keys() - _ACCOUNT_FIELD_SET
        raise TypeError(f"PartnerAccount has no field {sorted(unknown)}")
    new = object.__new__(PartnerAccount)
    object.__setattr__(new, "__dict__", {**state.__dict__, **changes})
    return new


def _fold(state: PartnerAccount, events: Iterable[Event]) -> PartnerAccount:
    for event in events:
        state = apply(state, event)
    return state


class Decision(NamedTuple):
    """A command's events with the account as each of them leaves it: a command that had to
    fold its events to decide (a debit, for its alerts and charge) hands the states on, so
    whoever records the events does not fold them a second time."""

    events: list[Event]
    states: list[PartnerAccount]


def _reminder_for(after: PartnerAccount) -> list[Event]:
    """The reminder event a balance change to ``after`` calls for, if any. (It changes
    nothing but the reminder's own state, so it can follow the events that caused it.)"""
    events: list[Event] = []
    threshold = after.reminder_threshold
    transition = policies.reminder_transition(
        balance=after.balance, threshold=threshold, armed=after.reminder_armed
    )
    if threshold is not None and transition == "fire":
        events.append(LowBalanceReached(balance=after.balance, threshold=threshold))
    elif threshold is not None and transition == "rearm":
        # Only a reminder that fired recovers; one set above the balance is just armed.
        rearmed = ReminderRearmed if after.reminder_fired else ReminderArmed
        events.append(rearmed(balance=after.balance, threshold=threshold))
    if after.reminder_thresholds:
        fallen, climbed = policies.threshold_transitions(
            balance=after.balance,
            thresholds=after.reminder_thresholds,
            below=after.thresholds_below,
        )
        events += [BalanceThresholdCrossed(threshold=t, balance=after.balance) for t in fallen]
        events += [
            (BalanceRecovered if t in after.thresholds_fired else BalanceThresholdArmed)(
                threshold=t, balance=after.balance
            )
            for t in climbed
        ]
    return events


def _with_reminder(state: PartnerAccount, events: list[Event]) -> list[Event]:
    """``events`` plus the reminder event their balance change calls for, if any."""
    return [*events, *_reminder_for(_fold(state, events))]


# --- partner, customers, settings ------------------------------------------------------------


def register_partner(
    state: PartnerAccount | None,
    *,
    partner_id: str,
    name: str,
    locale: Locale,
    billing_mode: BillingMode,
    currency: str,
    credit_price_list_id: str,
    mailing_price_list_id: str,
) -> list[Event]:
    """Open the account. A second registration is a conflict: the API hands out the
    partner's token only once, so a silent repeat would leave the caller without one."""
    if state is not None:
        raise PartnerAlreadyRegistered(state.partner_id)
    for value, label in (
        (partner_id, "partner_id"),
        (name, "name"),
        (credit_price_list_id, "credit_price_list_id"),
        (mailing_price_list_id, "mailing_price_list_id"),
    ):
        _text(value, label)
    _choice(locale, LOCALES, "locale")
    _choice(billing_mode, BILLING_MODES, "billing_mode")
    _require(
        len(currency) == 3 and currency.isalpha() and currency.isupper(),
        f"currency must be an ISO 4217 code like 'EUR'; got {currency!r}",
    )
    return [
        PartnerRegistered(
            partner_id=partner_id,
            name=name,
            locale=locale,
            billing_mode=billing_mode,
            currency=currency,
            credit_price_list_id=credit_price_list_id,
            mailing_price_list_id=mailing_price_list_id,
        )
    ]


def attach_customer(state: PartnerAccount | None, *, customer_id: str, name: str) -> list[Event]:
    """Attach a customer (sub-account). The same id and name again changes nothing; the same
    id under another name is a conflict (renaming is not a feature yet)."""
    account = _registered(state)
    _text(customer_id, "customer_id")
    _text(name, "name")
    existing = account.customers.get(customer_id)
    if existing == name:
        return []
    if existing is not None:
        raise CustomerAlreadyAttached(customer_id, existing)
    return [CustomerAttached(customer_id=customer_id, name=name)]


def change_billing(
    state: PartnerAccount | None,
    *,
    billing_mode: BillingMode,
    reminder_threshold: int | None,
    auto_purchase_credits: int | None,
    auto_purchase_trigger: int | None,
    payment_method: PaymentMethod | None,
    reminder_thresholds: Sequence[int] = (),
) -> list[Event]:
    """Replace the billing settings (all of them, as the portal's form sends them).

    - The reminder is armed iff the balance is at or above the new threshold: a threshold set
      above the current balance does not fire (no crossing happened). The same holds for
      each alert level of ``reminder_thresholds`` (kept highest first, each once, without
      the reminder's threshold: that crossing is the reminder's).
    - Auto-purchase needs a payment method; on demand needs one too. Auto-purchase settings are
      kept in on-demand mode but only act while prepaid.
    - Saving the settings with auto-purchase on while it is suspended resumes it: the partner
      was told about the suspension and has confirmed (usually with a new payment method).
      Turning auto-purchase off clears its failure history.
    Saving unchanged settings emits no ``BillingSettingsChanged``.
    """
    account = _registered(state)
    _choice(billing_mode, BILLING_MODES, "billing_mode")
    if reminder_threshold is not None:
        _non_negative(reminder_threshold, "reminder_threshold")
    for level in reminder_thresholds:
        _non_negative(level, "reminder_thresholds")
    # A level at the reminder's own threshold would alert twice for one crossing: the
    # reminder covers it.
    levels = tuple(sorted(set(reminder_thresholds) - {reminder_threshold}, reverse=True))
    if auto_purchase_credits is not None:
        _positive(auto_purchase_credits, "auto_purchase_credits")
    if auto_purchase_trigger is not None:
        _require(auto_purchase_credits is not None, "a trigger needs auto_purchase_credits")
        _non_negative(auto_purchase_trigger, "auto_purchase_trigger")
    if payment_method is not None:
        _choice(payment_method.get("type", ""), PAYMENT_METHOD_TYPES, "payment_method type")
    _require(
        payment_method is not None or (billing_mode == "prepaid" and auto_purchase_credits is None),
        "on-demand billing and auto-purchase need a payment method",
    )
    changed = BillingSettingsChanged(
        billing_mode=billing_mode,
        reminder_threshold=reminder_threshold,
        reminder_armed=policies.reminder_armed_for(
            balance=account.balance, threshold=reminder_threshold
        ),
        auto_purchase_credits=auto_purchase_credits,
        auto_purchase_trigger=auto_purchase_trigger,
        payment_method=dict(payment_method) if payment_method is not None else None,
        reminder_thresholds=levels,
    )
    current = (
        account.billing_mode,
        account.reminder_threshold,
        account.auto_purchase_credits,
        account.auto_purchase_trigger,
        account.payment_method,
        account.reminder_thresholds,
    )
    wanted = (
        billing_mode,
        reminder_threshold,
        auto_purchase_credits,
        auto_purchase_trigger,
        changed.payment_method,
        levels,
    )
    events: list[Event] = [] if wanted == current else [changed]
    if auto_purchase_credits is not None and account.auto_purchase_suspended:
        events.append(AutoPurchaseResumed(reason="billing settings saved by the partner"))
    return events


# --- credits in and out ----------------------------------------------------------------------


def grant_credits(
    state: PartnerAccount | None, *, credits: int, reason: str, actor: str
) -> list[Event]:
    """Give credits without payment (goodwill, migration); ``reason`` and ``actor`` required."""
    account = _registered(state)
    _positive(credits, "credits")
    _text(reason, "reason")
    _text(actor, "actor")
    return _with_reminder(account, [CreditsGranted(credits=credits, reason=reason, actor=actor)])


def adjust_credits(
    state: PartnerAccount | None, *, delta: int, reason: str, actor: str
) -> list[Event]:
    """Correct the balance by ``delta`` (either sign; the balance may go negative)."""
    account = _registered(state)
    _require(delta != 0, "an adjustment must change the balance")
    _text(reason, "reason")
    _text(actor, "actor")
    return _with_reminder(account, [CreditsAdjusted(delta=delta, reason=reason, actor=actor)])


def debit_mailing(
    state: PartnerAccount | None,
    *,
    mailing_id: str,
    customer_id: str,
    recipients: int,
    credits: int,
    price_list_id: str,
    price_list_version: int,
    now: datetime,
    reservation_id: str | None = None,
    charge_minor: int | None = None,
    minimum_charge_minor: int = DEFAULT_MINIMUM_CHARGE_MINOR,
) -> Decision:
    """Record the cost of a sent mailing. It is a fact: never refused for lack of credits.

    Pass the mailing's ``sent_at`` as ``now``: it decides whether its hold was still alive.
    Reservations whose time is up are expired first. If ``reservation_id`` names an active
    hold, the debit captures up to the hold and releases the rest; more than the hold comes
    from the balance. An unknown or finished reservation means a plain debit.

    Prepaid (``charge_minor`` must be ``None``): ``credits`` leave the balance, which may go
    negative; the reminder may fire. On demand (``charge_minor`` required: the price of the
    credits in minor units): the money waits until it reaches ``minimum_charge_minor``, then a
    ``ChargeRequested`` takes everything waiting, with an id derived from this mailing.
    """
    account = _registered(state)
    _aware(now)
    _text(mailing_id, "mailing_id")
    _text(price_list_id, "price_list_id")
    _non_negative(recipients, "recipients")
    _non_negative(credits, "credits")
    if account.billing_mode == "on_demand":
        _require(charge_minor is not None, "an on-demand debit needs charge_minor")
    else:
        _require(charge_minor is None, "a prepaid debit takes no charge_minor")
    if charge_minor is not None:
        _non_negative(charge_minor, "charge_minor")
    if customer_id not in account.customers:
        raise UnknownCustomer(customer_id)

    events = expire_reservations(account, now)
    states: list[PartnerAccount] = []
    state = account
    for event in events:
        state = apply(state, event)
        states.append(state)
    hold = state.holds.get(reservation_id) if reservation_id is not None else None
    captured = released = 0
    if hold is not None:
        captured = min(credits, hold.credits)
        released = hold.credits - captured
    debit = MailingDebited(
        mailing_id=mailing_id,
        customer_id=customer_id,
        recipients=recipients,
        credits=credits,
        price_list_id=price_list_id,
        price_list_version=price_list_version,
        reservation_id=reservation_id,
        captured_credits=captured,
        released_credits=released,
        charge_minor=charge_minor,
        # To the second: enough for the day its usage counts on, and it keeps debits small.
        sent_at=now.replace(microsecond=0),
    )
    after = apply(state, debit)
    events.append(debit)
    states.append(after)
    follow_ups = _reminder_for(after) + _budget_alerts(after, customer_id)
    if charge_minor is not None and policies.charge_due(
        uncharged_minor=after.uncharged_minor, minimum_charge_minor=minimum_charge_minor
    ):
        follow_ups.append(
            ChargeRequested(
                charge_id=charge_id_for(account.partner_id, mailing_id),
                credits=after.uncharged_credits,
                amount_minor=after.uncharged_minor,
                currency=account.currency,
                mailing_ids=after.uncharged_mailing_ids,
                payment_method=after.payment_method,
            )
        )
    state = after
    for event in follow_ups:
        state = apply(state, event)
        events.append(event)
        states.append(state)
    return Decision(events, states)


def _budget_alerts(after: PartnerAccount, customer_id: str) -> list[Event]:
    """The alerts a debit that left the customer's budget as ``after`` has it calls for:
    each percent reached in the counter's month that has not fired in it yet, lowest first."""
    budget = after.budgets.get(customer_id)
    if budget is None:
        return []
    return [
        CustomerBudgetAlert(
            customer_id=customer_id,
            percent=percent,
            used=budget.used,
            monthly_credits=budget.monthly_credits,
            month=budget.month,
        )
        for percent in budget.alert_percents
        if percent not in budget.alerted
        and policies.budget_percent_reached(
            used=budget.used, monthly_credits=budget.monthly_credits, percent=percent
        )
    ]


# --- customer budgets ------------------------------------------------------------------------

MAX_ALERT_PERCENT = 1000
DEFAULT_ALERT_PERCENTS = (80, 100)
"""The alert percents of a budget set without any: near the budget, and at it."""


def set_customer_budget(
    state: PartnerAccount | None,
    *,
    customer_id: str,
    monthly_credits: int | None,
    alert_percents: Sequence[int],
    now: datetime,
    used_this_month: int,
) -> list[Event]:
    """Give a customer a monthly budget (``monthly_credits is None``: take it away).

    ``used_this_month``: the credits the customer used in ``now``'s month so far, as the
    ledger's usage records have it (the account keeps counters only for customers with a
    budget; a budget counting this month already keeps its own counter). Alert percents
    (1..1000, each once) that the usage has reached already do not fire: setting a budget is
    no crossing. The same budget again changes nothing.
    """
    account = _registered(state)
    _aware(now)
    _text(customer_id, "customer_id")
    if customer_id not in account.customers:
        raise UnknownCustomer(customer_id)
    if monthly_credits is not None:
        _non_negative(monthly_credits, "monthly_credits")
    for percent in alert_percents:
        _require(
            1 <= percent <= MAX_ALERT_PERCENT,
            f"alert_percents must be between 1 and {MAX_ALERT_PERCENT}; got {percent}",
        )
    _require(len(set(alert_percents)) == len(alert_percents), "alert_percents must not repeat")
    _non_negative(used_this_month, "used_this_month")
    percents = tuple(sorted(alert_percents)) if monthly_credits is not None else ()
    current = account.budgets.get(customer_id)
    if current is None and monthly_credits is None:
        return []
    if current is not None and (current.monthly_credits, current.alert_percents) == (
        monthly_credits,
        percents,
    ):
        return []
    month = budget_month(now)
    # A budget that is counting this month already knows the month's usage itself.
    used = current.used if current is not None and current.month == month else used_this_month
    return [
        CustomerBudgetSet(
            customer_id=customer_id,
            monthly_credits=monthly_credits,
            alert_percents=percents,
            month=month,
            used=used,
        )
    ]


def _apply_budget(state: PartnerAccount, e: CustomerBudgetSet) -> PartnerAccount:
    budgets = {k: v for k, v in state.budgets.items() if k != e.customer_id}
    if e.monthly_credits is not None:
        budgets[e.customer_id] = CustomerBudget(
            monthly_credits=e.monthly_credits,
            alert_percents=e.alert_percents,
            month=e.month,
            used=e.used,
            alerted=tuple(
                p
                for p in e.alert_percents
                if policies.budget_percent_reached(
                    used=e.used, monthly_credits=e.monthly_credits, percent=p
                )
            ),
        )
    return _evolve(state, budgets=budgets)


def _count_against_budget(state: PartnerAccount, e: MailingDebited) -> PartnerAccount:
    """A debit of a customer with a budget counts in its month: the counter's month, or a
    later one, which starts the counter afresh. A late debit of an earlier month is past."""
    budget = state.budgets.get(e.customer_id)
    if budget is None or e.sent_at is None:
        return state
    month = policies.month_of(e.sent_at)
    if month == budget.month:
        counted = replace(budget, used=budget.used + e.credits)
    elif month > budget.month:
        counted = replace(budget, month=month, used=e.credits, alerted=())
    else:
        return state
    return _evolve(state, budgets={**state.budgets, e.customer_id: counted})


def _apply_budget_alert(state: PartnerAccount, e: CustomerBudgetAlert) -> PartnerAccount:
    budget = state.budgets.get(e.customer_id)
    if budget is None or budget.month != e.month:
        raise CorruptStream(f"CustomerBudgetAlert: no budget of {e.customer_id!r} in {e.month}")
    alerted = replace(budget, alerted=(*budget.alerted, e.percent))
    return _evolve(state, budgets={**state.budgets, e.customer_id: alerted})


# --- reservations ----------------------------------------------------------------------------


def reserve(
    state: PartnerAccount | None,
    *,
    reservation_id: str,
    credits: int,
    ttl_seconds: int,
    now: datetime,
    mailing_id: str | None = None,
    recorded: Reservation | None = None,
    customer_id: str | None = None,
) -> list[Event]:
    """Hold ``credits`` for a planned mailing for ``ttl_seconds``.

    ``recorded`` is the ledger's record of a closed reservation with this id, if there is one.

    Refused while the partner is in debt, and (prepaid) when fewer credits are available.
    On demand there is no balance to hold: the reservation only passes the debt check.
    The same id with the same credits and mailing again changes nothing (whatever became of
    the reservation since); the same id with other values is a conflict. Holds whose time is
    up are expired first, so they no longer count against ``available``.

    A hold that names a customer with a budget is refused (``BudgetExceeded``) when the
    customer's credits used in ``now``'s month, its other holds and this one would pass the
    budget. The check and the hold are one decision on one version of the account: of two
    holds racing for the last credits of a budget, the event store lets one be written.
    """
    account = _registered(state)
    _aware(now)
    _text(reservation_id, "reservation_id")
    _positive(credits, "credits")
    _positive(ttl_seconds, "ttl_seconds")
    existing = account.holds.get(reservation_id) or recorded
    if existing is not None:
        same = (existing.credits, existing.mailing_id, existing.customer_id)
        if same == (credits, mailing_id, customer_id):
            return []
        raise ReservationConflict(reservation_id, existing.credits)
    if customer_id is not None and customer_id not in account.customers:
        raise UnknownCustomer(customer_id)
    if account.in_debt:
        raise PartnerInDebt(account.debt_credits, account.debt_minor, account.currency)
    events = expire_reservations(account, now)
    unexpired = _fold(account, events)
    available = unexpired.available
    if account.billing_mode == "prepaid" and available < credits:
        raise InsufficientCredits(credits, available)
    budget = account.budgets.get(customer_id) if customer_id is not None else None
    if customer_id is not None and budget is not None:
        month = budget_month(now)
        used = budget.used_in(month)
        held = customer_held(unexpired, customer_id)
        if used + held + credits > budget.monthly_credits:
            raise BudgetExceeded(
                customer_id=customer_id,
                month=month,
                monthly_credits=budget.monthly_credits,
                used=used,
                held=held,
                requested=credits,
            )
    events.append(
        CreditsReserved(
            reservation_id=reservation_id,
            credits=credits,
            expires_at=now + timedelta(seconds=ttl_seconds),
            mailing_id=mailing_id,
            customer_id=customer_id,
        )
    )
    return events


def release(
    state: PartnerAccount | None, *, reservation_id: str, recorded: Reservation | None = None
) -> list[Event]:
    """Give a hold back. Releasing a hold that is already released or expired changes nothing;
    one that a mailing captured is no longer the caller's to release. ``recorded`` is the
    ledger's record of the reservation once it is closed."""
    account = _registered(state)
    hold = account.holds.get(reservation_id) or recorded
    if hold is None:
        raise UnknownReservation(reservation_id)
    if hold.status in ("released", "expired"):
        return []
    if hold.status == "captured":
        raise ReservationNotActive(reservation_id, hold.status)
    return [ReservationReleased(reservation_id=reservation_id, credits=hold.credits)]


def expire_reservations(state: PartnerAccount | None, now: datetime) -> list[Event]:
    """``ReservationExpired`` for every active hold whose time is up at ``now``."""
    account = _registered(state)
    _aware(now)
    if not account.holds:
        return []  # the common case, on every debit
    return [
        ReservationExpired(reservation_id=rid, credits=hold.credits)
        for rid, hold in account.holds.items()
        if policies.reservation_expired(expires_at=hold.expires_at, now=now)
    ]


# --- purchases -------------------------------------------------------------------------------


def _auto_purchase_blocker(account: PartnerAccount, now: datetime) -> LedgerError | None:
    """Why no automatic purchase may start now, or ``None`` when one may."""
    if account.auto_purchase_credits is None:
        return AutoPurchaseNotAllowed("auto-purchase is off")
    if account.billing_mode != "prepaid":
        return AutoPurchaseNotAllowed("the partner is billed on demand")
    if account.auto_purchase_suspended:
        return AutoPurchaseNotAllowed("auto-purchase is suspended after declined payments")
    in_flight = account.purchases_in_flight
    if in_flight:
        return PurchaseAlreadyInFlight(next(iter(in_flight)))
    retry = account.auto_purchase_retry_not_before
    if retry is not None and now < retry:
        return AutoPurchaseNotAllowed("backing off after a declined payment", retry)
    return None


def auto_purchase_due(state: PartnerAccount | None, now: datetime) -> int | None:
    """Credits to buy automatically now, or ``None``.

    Due when auto-purchase is on, the partner is prepaid, auto-purchase is not suspended, no
    purchase (automatic or manual) is waiting for its payment, any back-off is over, and the
    balance is at or below the trigger (``0`` without one). The amount is a whole number of
    chunks: see ``policies.auto_purchase_amount``. Call it after appending any events, then
    price the credits and call ``request_purchase`` with ``reason="auto"`` and
    ``purchase_id=auto_purchase_id(state)``.
    """
    account = _registered(state)
    _aware(now)
    if account.auto_purchase_credits is None or _auto_purchase_blocker(account, now) is not None:
        return None
    return policies.auto_purchase_amount(
        balance=account.balance,
        chunk=account.auto_purchase_credits,
        trigger=account.auto_purchase_trigger,
    )


def request_purchase(
    state: PartnerAccount | None,
    *,
    purchase_id: str,
    credits: int,
    amount_minor: int,
    currency: str,
    price_list_id: str,
    price_list_version: int,
    reason: PurchaseReason,
    actor: str,
    now: datetime,
    recorded: Purchase | None = None,
) -> list[Event]:
    """Ask the payment worker to buy ``credits`` for ``amount_minor``.

    ``recorded`` is the ledger's record of a closed purchase with this id, if there is one.

    The same purchase id with the same values again changes nothing (an HTTP retry with the
    same Idempotency-Key); with other values it is a conflict. An automatic purchase is refused
    when ``auto_purchase_due`` would not allow one (in flight, suspended, backing off, ...).
    A manual purchase is always allowed.
    """
    account = _registered(state)
    _aware(now)
    _text(purchase_id, "purchase_id")
    _positive(credits, "credits")
    _positive(amount_minor, "amount_minor")
    _choice(reason, ("auto", "manual"), "reason")
    _text(actor, "actor")
    _text(price_list_id, "price_list_id")
    existing = account.purchases_in_flight.get(purchase_id) or recorded
    if existing is not None:
        if (existing.credits, existing.amount_minor, existing.reason, account.currency) == (
            credits,
            amount_minor,
            reason,
            currency,
        ):
            return []
        raise PurchaseConflict(purchase_id)
    _require(
        currency == account.currency,
        f"the partner pays in {account.currency}; got {currency!r}",
    )
    if reason == "auto":
        blocker = _auto_purchase_blocker(account, now)
        if blocker is not None:
            raise blocker
    return [
        PurchaseRequested(
            purchase_id=purchase_id,
            credits=credits,
            amount_minor=amount_minor,
            currency=currency,
            price_list_id=price_list_id,
            price_list_version=price_list_version,
            reason=reason,
            actor=actor,
            payment_method=account.payment_method,
        )
    ]


_P = TypeVar("_P", Purchase, Charge)


def _payment_for_result(
    in_flight: Mapping[str, _P],
    recorded: _P | None,
    payment_id: str,
    result: PaymentResult,
    kind: str,
    not_found: type[NotFound],
) -> _P | None:
    """The purchase or charge a payment result applies to; ``None`` for a repeated result.

    Shared by purchases and charges: both follow requested -> succeeded | failed, and
    succeeded -> returned, and results may arrive more than once. A payment still waiting is
    in the state; a closed one is known only from the ledger's record (``recorded``).
    """
    payment = in_flight.get(payment_id) or recorded
    if payment is None:
        raise not_found(payment_id)
    action = policies.payment_result_action(status=payment.status, result=result)
    if action == "duplicate":
        return None
    if action == "conflict":
        raise PaymentResultConflict(kind, payment_id, payment.status, result)
    return payment


def _purchase(
    account: PartnerAccount, purchase_id: str, result: PaymentResult, recorded: Purchase | None
) -> Purchase | None:
    return _payment_for_result(
        account.purchases_in_flight, recorded, purchase_id, result, "purchase", UnknownPurchase
    )


def _charge(
    account: PartnerAccount, charge_id: str, result: PaymentResult, recorded: Charge | None
) -> Charge | None:
    return _payment_for_result(
        account.charges_in_flight, recorded, charge_id, result, "charge", UnknownCharge
    )


def record_purchase_succeeded(
    state: PartnerAccount | None, *, purchase_id: str, recorded: Purchase | None = None
) -> list[Event]:
    """The payment went through: the credits are added. A repeated result changes nothing.

    A success also ends any back-off, and a succeeded manual purchase resumes a suspended
    auto-purchase: it shows that the partner's payment works again.
    """
    account = _registered(state)
    purchase = _purchase(account, purchase_id, "succeeded", recorded)
    if purchase is None:
        return []
    events: list[Event] = [
        PurchaseSucceeded(
            purchase_id=purchase_id, credits=purchase.credits, amount_minor=purchase.amount_minor
        )
    ]
    if purchase.reason == "manual" and account.auto_purchase_suspended:
        events.append(AutoPurchaseResumed(reason="a manual purchase succeeded"))
    return _with_reminder(account, events)


def record_purchase_failed(
    state: PartnerAccount | None,
    *,
    purchase_id: str,
    reason: str | None,
    code: str | None,
    retryable: bool,
    now: datetime,
    recorded: Purchase | None = None,
) -> list[Event]:
    """The payment was declined. A repeated result changes nothing.

    A declined automatic purchase (while auto-purchase is on and not suspended) counts as a
    consecutive failure: the next one waits (``policies.AUTO_PURCHASE_BACKOFF``: 1 h, then
    4 h), and the third consecutive failure, or any failure that is not retryable, suspends
    auto-purchase with ``AutoPurchaseSuspended`` (for the partner's notice). A manual
    purchase's failure only closes that purchase.
    """
    account = _registered(state)
    _aware(now)
    purchase = _purchase(account, purchase_id, "failed", recorded)
    if purchase is None:
        return []
    # Only a decline of auto-purchase as it runs now counts; one that is off or already
    # suspended has nothing left to back off from.
    counts = (
        purchase.reason == "auto"
        and account.auto_purchase_enabled
        and not account.auto_purchase_suspended
    )
    failures = account.auto_purchase_failures + 1 if counts else None
    suspend = failures is not None and policies.should_suspend_auto_purchase(
        failures=failures, retryable=retryable
    )
    retry_not_before = (
        policies.auto_purchase_retry_at(failures=failures, now=now)
        if failures is not None and not suspend
        else None
    )
    events: list[Event] = [
        PurchaseFailed(
            purchase_id=purchase_id,
            reason=reason,
            code=code,
            retryable=retryable,
            retry_not_before=retry_not_before,
            consecutive_failures=failures,
        )
    ]
    if failures is not None and suspend:
        why = (
            f"{failures} consecutive declined payments"
            if retryable
            else f"payment declined, not retryable: {reason or code or 'no reason given'}"
        )
        events.append(AutoPurchaseSuspended(failures=failures, reason=why))
    return events


def record_purchase_returned(
    state: PartnerAccount | None,
    *,
    purchase_id: str,
    reason: str | None,
    code: str | None,
    recorded: Purchase | None = None,
) -> list[Event]:
    """A succeeded payment was reversed (SEPA return, chargeback): its credits are taken back,
    even below zero. Auto-purchase is suspended: buying again with a payment method that was
    just reversed would repeat the loss. A repeated result changes nothing."""
    account = _registered(state)
    purchase = _purchase(account, purchase_id, "returned", recorded)
    if purchase is None:
        return []
    events: list[Event] = [
        PurchaseReturned(
            purchase_id=purchase_id,
            credits=purchase.credits,
            amount_minor=purchase.amount_minor,
            reason=reason,
            code=code,
        )
    ]
    if account.auto_purchase_enabled and not account.auto_purchase_suspended:
        events.append(
            AutoPurchaseSuspended(
                failures=account.auto_purchase_failures + 1,
                reason=f"payment returned: {reason or code or 'no reason given'}",
            )
        )
    return _with_reminder(account, events)


# --- on-demand charges and debt --------------------------------------------------------------


def record_charge_succeeded(
    state: PartnerAccount | None, *, charge_id: str, recorded: Charge | None = None
) -> list[Event]:
    """The on-demand charge went through. A repeated result changes nothing."""
    account = _registered(state)
    charge = _charge(account, charge_id, "succeeded", recorded)
    if charge is None:
        return []
    return [
        ChargeSucceeded(
            charge_id=charge_id, credits=charge.credits, amount_minor=charge.amount_minor
        )
    ]


def _debt(charge_id: str, charge: Charge) -> DebtRecorded:
    return DebtRecorded(
        charge_id=charge_id, credits=charge.credits, amount_minor=charge.amount_minor
    )


def record_charge_failed(
    state: PartnerAccount | None,
    *,
    charge_id: str,
    reason: str | None,
    code: str | None,
    recorded: Charge | None = None,
) -> list[Event]:
    """The charge was declined: its amount becomes debt, which blocks new reservations.
    A repeated result changes nothing."""
    account = _registered(state)
    charge = _charge(account, charge_id, "failed", recorded)
    if charge is None:
        return []
    return [ChargeFailed(charge_id=charge_id, reason=reason, code=code), _debt(charge_id, charge)]


def record_charge_returned(
    state: PartnerAccount | None,
    *,
    charge_id: str,
    reason: str | None,
    code: str | None,
    recorded: Charge | None = None,
) -> list[Event]:
    """A succeeded charge was reversed later (SEPA return, chargeback): it becomes debt.
    A repeated result changes nothing."""
    account = _registered(state)
    charge = _charge(account, charge_id, "returned", recorded)
    if charge is None:
        return []
    returned = ChargeReturned(
        charge_id=charge_id,
        credits=charge.credits,
        amount_minor=charge.amount_minor,
        reason=reason,
        code=code,
    )
    return [returned, _debt(charge_id, charge)]


def settle_debt(
    state: PartnerAccount | None, *, by: SettledBy, actor: str, reference: str | None = None
) -> list[Event]:
    """The whole debt was paid (``by="payment"``) or written off (``"adjustment"``).
    Without debt it changes nothing."""
    account = _registered(state)
    _choice(by, ("payment", "adjustment"), "by")
    _text(actor, "actor")
    if not account.in_debt:
        return []
    return [
        DebtSettled(
            credits=account.debt_credits,
            amount_minor=account.debt_minor,
            by=by,
            actor=actor,
            reference=reference,
        )
    ]


# --- resale contracts and statements ---------------------------------------------------------


def change_contract(
    state: PartnerAccount | None,
    *,
    customer_id: str,
    price_list_id: str,
    plan_variant_id: str,
    starts_on: date,
    billing_anchor: date,
    billing_period: str,
    booked: Mapping[str, str],
) -> list[Event]:
    """Put a customer on a plan variant of the partner's own price list from ``starts_on``.

    The caller has checked the price list, variant and booked components with the pricing
    service. Changes go forward: a change may not start before the terms in effect (they may
    have been invoiced from) nor inside a period a statement was issued for. The same terms
    from the same day again change nothing.
    """
    account = _registered(state)
    for value, label in (
        (customer_id, "customer_id"),
        (price_list_id, "price_list_id"),
        (plan_variant_id, "plan_variant_id"),
        (billing_period, "billing_period"),
    ):
        _text(value, label)
    if customer_id not in account.customers:
        raise UnknownCustomer(customer_id)
    for component, quantity in booked.items():
        _text(component, "booked component")
        _text(quantity, f"booked quantity of {component}")
    current = account.contracts.get(customer_id)
    if current is not None:
        wanted = (price_list_id, plan_variant_id, starts_on, billing_anchor, dict(booked))
        held = (
            current.price_list_id,
            current.plan_variant_id,
            current.starts_on,
            current.billing_anchor,
            dict(current.booked),
        )
        if wanted == held and billing_period == current.billing_period:
            return []
        if starts_on < current.starts_on:
            raise ContractConflict(
                f"the contract of {customer_id!r} has terms in effect from"
                f" {current.starts_on.isoformat()}; a change must start on or after that day"
            )
    issued = account.statements_through.get(customer_id)
    if issued is not None and starts_on < issued:
        raise ContractConflict(
            f"statements of {customer_id!r} were issued up to {issued.isoformat()}; a change"
            " must start on or after that day"
        )
    return [
        ContractChanged(
            customer_id=customer_id,
            price_list_id=price_list_id,
            plan_variant_id=plan_variant_id,
            starts_on=starts_on,
            billing_anchor=billing_anchor,
            billing_period=billing_period,
            booked=dict(booked),
        )
    ]


def issue_statement(
    state: PartnerAccount | None,
    *,
    customer_id: str,
    period_start: date,
    period_end: date,
    price_list_id: str,
    price_list_version: int,
    plan_variant_id: str,
    currency: str,
    total: str,
    total_minor: int,
    mailings: int,
    recipients: int,
    credits: int,
    quote: Mapping[str, Any],
) -> list[Event]:
    """Record the statement of ``[period_start, period_end)`` once.

    A period that ends at or before the last issued one was issued already: nothing changes
    (a second statement run issues nothing). One that overlaps it is a conflict.
    """
    account = _registered(state)
    if customer_id not in account.customers:
        raise UnknownCustomer(customer_id)
    if customer_id not in account.contracts:
        raise NoContract(customer_id)
    _require(period_start < period_end, "period_end must be after period_start")
    for value, label in (
        (mailings, "mailings"),
        (recipients, "recipients"),
        (credits, "credits"),
        (total_minor, "total_minor"),
    ):
        _non_negative(value, label)
    issued = account.statements_through.get(customer_id)
    if issued is not None and period_end <= issued:
        return []
    if issued is not None and period_start < issued:
        raise StatementConflict(
            f"a statement of {customer_id!r} up to {issued.isoformat()} was issued already;"
            f" {period_start.isoformat()}..{period_end.isoformat()} overlaps it"
        )
    return [
        StatementIssued(
            customer_id=customer_id,
            period_start=period_start,
            period_end=period_end,
            price_list_id=price_list_id,
            price_list_version=price_list_version,
            plan_variant_id=plan_variant_id,
            currency=currency,
            total=total,
            total_minor=total_minor,
            mailings=mailings,
            recipients=recipients,
            credits=credits,
            quote=dict(quote),
        )
    ]


def _apply_contract(state: PartnerAccount, e: ContractChanged) -> PartnerAccount:
    current = state.contracts.get(e.customer_id)
    contract = Contract(
        price_list_id=e.price_list_id,
        plan_variant_id=e.plan_variant_id,
        starts_on=e.starts_on,
        billing_anchor=e.billing_anchor,
        billing_period=e.billing_period,
        booked=dict(e.booked),
        first_starts_on=e.starts_on if current is None else current.first_starts_on,
    )
    return _evolve(state, contracts={**state.contracts, e.customer_id: contract})


# --- apply -----------------------------------------------------------------------------------

_T = TypeVar("_T", Reservation, Purchase, Charge)


def _without(items: Mapping[str, _T], key: str, what: str, event: Event) -> dict[str, _T]:
    """``items`` less ``key``, which must be there: a closing event names an open item."""
    if key not in items:
        raise CorruptStream(f"{type(event).__name__} names no open {what} {key!r}")
    return {k: v for k, v in items.items() if k != key}


def _close_hold(
    state: PartnerAccount, reservation_id: str, credits: int, event: Event
) -> PartnerAccount:
    hold = state.holds.get(reservation_id)
    if hold is None or hold.credits != credits:
        raise CorruptStream(
            f"{type(event).__name__} does not match an active reservation {reservation_id!r}"
        )
    return _evolve(
        state,
        holds=_without(state.holds, reservation_id, "reservation", event),
        held=state.held - hold.credits,
    )


def _close_purchase(state: PartnerAccount, pid: str, event: Event) -> PartnerAccount:
    return _evolve(
        state, purchases_in_flight=_without(state.purchases_in_flight, pid, "purchase", event)
    )


def _close_charge(state: PartnerAccount, cid: str, event: Event) -> PartnerAccount:
    return _evolve(state, charges_in_flight=_without(state.charges_in_flight, cid, "charge", event))


def _apply_debit(state: PartnerAccount, e: MailingDebited) -> PartnerAccount:
    if e.hold_used:
        if e.reservation_id is None:
            raise CorruptStream(f"MailingDebited {e.mailing_id!r} used a hold without naming it")
        hold_credits = e.captured_credits + e.released_credits
        state = _close_hold(state, e.reservation_id, hold_credits, e)
    if state.budgets:
        state = _count_against_budget(state, e)
    if e.charge_minor is None:
        return _evolve(state, balance=state.balance - e.credits)
    # A free mailing owes nothing: naming it in the next charge would only grow the state.
    waiting = state.uncharged_mailing_ids
    if e.charge_minor > 0:
        waiting = (*waiting, e.mailing_id)
    return _evolve(
        state,
        uncharged_credits=state.uncharged_credits + e.credits,
        uncharged_minor=state.uncharged_minor + e.charge_minor,
        uncharged_mailing_ids=waiting,
    )


def _apply_settings(state: PartnerAccount, e: BillingSettingsChanged) -> PartnerAccount:
    # An alert that fired for a value stays fired while the balance is below it, whichever
    # field holds the value now: its recovery is still news.
    fired = set(state.thresholds_fired)
    if state.reminder_fired and state.reminder_threshold is not None:
        fired.add(state.reminder_threshold)
    # A level set above the balance is not a crossing: it waits until the balance is back at
    # or above it (as the reminder's ``reminder_armed`` does).
    below = tuple(t for t in e.reminder_thresholds if state.balance < t)
    state = _evolve(
        state,
        billing_mode=e.billing_mode,
        reminder_threshold=e.reminder_threshold,
        reminder_armed=e.reminder_armed,
        reminder_fired=not e.reminder_armed and e.reminder_threshold in fired,
        auto_purchase_credits=e.auto_purchase_credits,
        auto_purchase_trigger=e.auto_purchase_trigger,
        payment_method=e.payment_method,
        reminder_thresholds=e.reminder_thresholds,
        thresholds_below=below,
        thresholds_fired=tuple(t for t in below if t in fired),
    )
    if e.auto_purchase_credits is None:
        # Turning auto-purchase off forgets its failures: turning it on later starts afresh.
        state = _auto_purchase_reset(state)
    return state


def _auto_purchase_reset(state: PartnerAccount) -> PartnerAccount:
    return _evolve(
        state,
        auto_purchase_failures=0,
        auto_purchase_suspended=False,
        auto_purchase_retry_not_before=None,
    )


def _apply(state: PartnerAccount, event: Event) -> PartnerAccount:
    match event:
        case PartnerRegistered():
            raise CorruptStream("PartnerRegistered must be the first event of a stream")
        case CustomerAttached(customer_id=cid, name=name):
            return _evolve(state, customers={**state.customers, cid: name})
        case BillingSettingsChanged():
            return _apply_settings(state, event)
        case MailingDebited():
            return _apply_debit(state, event)
        case CreditsReserved(reservation_id=rid):
            hold = Reservation(
                credits=event.credits,
                expires_at=event.expires_at,
                mailing_id=event.mailing_id,
                customer_id=event.customer_id,
            )
            return _evolve(state, holds={**state.holds, rid: hold}, held=state.held + event.credits)
        case ReservationReleased(reservation_id=rid, credits=credits):
            return _close_hold(state, rid, credits, event)
        case ReservationExpired(reservation_id=rid, credits=credits):
            return _close_hold(state, rid, credits, event)
        case LowBalanceReached():
            return _evolve(state, reminder_armed=False, reminder_fired=True)
        case ReminderRearmed() | ReminderArmed():
            return _evolve(state, reminder_armed=True, reminder_fired=False)
        case BalanceThresholdCrossed(threshold=level):
            return _evolve(
                state,
                thresholds_below=(*state.thresholds_below, level),
                thresholds_fired=(*state.thresholds_fired, level),
            )
        case BalanceRecovered(threshold=level) | BalanceThresholdArmed(threshold=level):
            return _evolve(
                state,
                thresholds_below=tuple(t for t in state.thresholds_below if t != level),
                thresholds_fired=tuple(t for t in state.thresholds_fired if t != level),
            )
        case CustomerBudgetSet():
            return _apply_budget(state, event)
        case CustomerBudgetAlert():
            return _apply_budget_alert(state, event)
        case PurchaseRequested(purchase_id=pid):
            purchase = Purchase(
                credits=event.credits, amount_minor=event.amount_minor, reason=event.reason
            )
            return _evolve(state, purchases_in_flight={**state.purchases_in_flight, pid: purchase})
        case PurchaseSucceeded(purchase_id=pid):
            state = _close_purchase(state, pid, event)
            # A payment that went through ends the streak of declines and its back-off.
            return _evolve(
                state,
                balance=state.balance + event.credits,
                auto_purchase_failures=0,
                auto_purchase_retry_not_before=None,
            )
        case PurchaseFailed(purchase_id=pid, consecutive_failures=failures):
            state = _close_purchase(state, pid, event)
            if failures is None:
                return state
            return _evolve(
                state,
                auto_purchase_failures=failures,
                auto_purchase_retry_not_before=event.retry_not_before,
            )
        case PurchaseReturned():
            # The purchase closed when it succeeded; the event carries what is taken back.
            return _evolve(state, balance=state.balance - event.credits)
        case AutoPurchaseSuspended(failures=failures):
            return _evolve(
                state,
                auto_purchase_suspended=True,
                auto_purchase_failures=failures,
                auto_purchase_retry_not_before=None,
            )
        case AutoPurchaseResumed():
            return _auto_purchase_reset(state)
        case CreditsGranted(credits=credits):
            return _evolve(state, balance=state.balance + credits)
        case CreditsAdjusted(delta=delta):
            return _evolve(state, balance=state.balance + delta)
        case ChargeRequested(charge_id=cid):
            charge = Charge(credits=event.credits, amount_minor=event.amount_minor)
            # A charge takes everything that was waiting.
            return _evolve(
                state,
                charges_in_flight={**state.charges_in_flight, cid: charge},
                uncharged_credits=0,
                uncharged_minor=0,
                uncharged_mailing_ids=(),
            )
        case ChargeSucceeded(charge_id=cid) | ChargeFailed(charge_id=cid):
            return _close_charge(state, cid, event)
        case ChargeReturned():
            return state  # closed when it succeeded; the debt follows as DebtRecorded
        case DebtRecorded():
            return _evolve(
                state,
                debt_credits=state.debt_credits + event.credits,
                debt_minor=state.debt_minor + event.amount_minor,
            )
        case DebtSettled():
            return _evolve(
                state,
                debt_credits=state.debt_credits - event.credits,
                debt_minor=state.debt_minor - event.amount_minor,
            )
        case ContractChanged():
            return _apply_contract(state, event)
        case StatementIssued(customer_id=cid):
            return _evolve(
                state, statements_through={**state.statements_through, cid: event.period_end}
            )
        case _:
            assert_never(event)


def apply(state: PartnerAccount | None, event: Event) -> PartnerAccount:
    """Fold one event into the state (``None`` before the first event); ``version`` + 1.

    Raises ``CorruptStream`` if the event cannot follow the state.
    """
    if state is None:
        if not isinstance(event, PartnerRegistered):
            raise CorruptStream(f"a stream must start with PartnerRegistered, not {event!r}")
        return PartnerAccount(
            partner_id=event.partner_id,
            name=event.name,
            locale=event.locale,
            billing_mode=event.billing_mode,
            currency=event.currency,
            credit_price_list_id=event.credit_price_list_id,
            mailing_price_list_id=event.mailing_price_list_id,
            version=1,
        )
    folded = _apply(state, event)
    if folded is state:
        return _evolve(state, version=state.version + 1)
    # `folded` is a copy made just now and seen by no one else: numbering it in place saves a
    # second copy of the whole state for every event.
    object.__setattr__(folded, "version", state.version + 1)
    return folded


def replay(events: Iterable[Event], state: PartnerAccount | None = None) -> PartnerAccount:
    """Fold events from nothing (or on top of ``state``, e.g. a snapshot)."""
    for event in events:
        state = apply(state, event)
    if state is None:
        raise PartnerNotRegistered()
    return state
