"""One handler per command on a partner account.

A command is an order in the domain's words (``ReserveCredits``); its handler looks at the
account (and at the ledger's record of a closed item where the command needs one) and returns
the events the domain decides. ``execute`` runs any command in one unit of work through
``run_command``: load, decide, append events with read models and outgoing messages, and keep
the answer of an idempotent request.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from ledger.domain import (
    BillingMode,
    Event,
    Locale,
    PartnerAccount,
    PartnerNotRegistered,
    PaymentMethod,
    Purchase,
    Record,
    RecordKind,
    Reservation,
    SettledBy,
    adjust_credits,
    attach_customer,
    budget_month,
    change_billing,
    change_contract,
    expire_reservations,
    grant_credits,
    issue_statement,
    register_partner,
    release,
    replay,
    request_purchase,
    reserve,
    set_customer_budget,
    settle_debt,
)
from ledger.service_layer.commands import (
    Command,
    Idempotency,
    UnitOfWorkFactory,
    run_command,
)
from ledger.service_layer.ports import UnitOfWork

# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingChoice:
    """The billing settings as a whole, as the partner portal's form sends them."""

    billing_mode: BillingMode
    reminder_threshold: int | None
    auto_purchase_credits: int | None
    auto_purchase_trigger: int | None
    payment_method: PaymentMethod | None
    reminder_thresholds: tuple[int, ...] = ()  # balance alert levels besides the reminder


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterPartner:
    partner_id: str
    name: str
    locale: Locale
    currency: str
    credit_price_list_id: str
    mailing_price_list_id: str
    billing: BillingChoice
    token: str  # the partner's API token; only its hash is kept


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachCustomer:
    partner_id: str
    customer_id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeBilling:
    partner_id: str
    billing: BillingChoice


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPurchase:
    """Buy ``credits`` for ``amount_minor`` (priced by the caller from the credit price list)."""

    partner_id: str
    purchase_id: str
    credits: int
    amount_minor: int
    currency: str
    price_list_id: str
    price_list_version: int
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReserveCredits:
    partner_id: str
    reservation_id: str
    credits: int
    ttl_seconds: int
    mailing_id: str | None
    customer_id: str | None = None  # whose monthly budget the hold counts against


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseReservation:
    partner_id: str
    reservation_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantCredits:
    partner_id: str
    credits: int
    reason: str
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AdjustCredits:
    partner_id: str
    delta: int
    reason: str
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SettleDebt:
    partner_id: str
    by: SettledBy
    actor: str
    reference: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpireReservations:
    partner_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeContract:
    """Put a customer on a plan variant (checked with the pricing service by the caller)."""

    partner_id: str
    customer_id: str
    price_list_id: str
    plan_variant_id: str
    starts_on: date
    billing_anchor: date
    billing_period: str
    booked: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueStatement:
    """Record a priced statement once (``quote`` as the pricing service answered)."""

    partner_id: str
    customer_id: str
    period_start: date
    period_end: date
    quote: Mapping[str, Any]
    mailings: int
    recipients: int
    credits: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SetCustomerBudget:
    """A customer's monthly budget (``monthly_credits is None``: none) and alert percents.

    ``used_this_month`` is looked up by ``execute`` in the command's transaction: what the
    customer used this month before it had a budget."""

    partner_id: str
    customer_id: str
    monthly_credits: int | None
    alert_percents: tuple[int, ...]
    used_this_month: int | None = None


AccountCommand = (
    RegisterPartner
    | AttachCustomer
    | ChangeBilling
    | RequestPurchase
    | ReserveCredits
    | ReleaseReservation
    | GrantCredits
    | AdjustCredits
    | SettleDebt
    | ExpireReservations
    | ChangeContract
    | IssueStatement
    | SetCustomerBudget
)


# --- handlers -------------------------------------------------------------------------------


def _account(state: PartnerAccount | None) -> PartnerAccount:
    if state is None:
        raise PartnerNotRegistered()
    return state


def _billing(state: PartnerAccount, billing: BillingChoice) -> list[Event]:
    return change_billing(
        state,
        billing_mode=billing.billing_mode,
        reminder_threshold=billing.reminder_threshold,
        auto_purchase_credits=billing.auto_purchase_credits,
        auto_purchase_trigger=billing.auto_purchase_trigger,
        payment_method=billing.payment_method,
        reminder_thresholds=billing.reminder_thresholds,
    )


def _register(
    c: RegisterPartner, state: PartnerAccount | None, _: Record | None, __: datetime
) -> list[Event]:
    events = register_partner(
        state,
        partner_id=c.partner_id,
        name=c.name,
        locale=c.locale,
        billing_mode=c.billing.billing_mode,
        currency=c.currency,
        credit_price_list_id=c.credit_price_list_id,
        mailing_price_list_id=c.mailing_price_list_id,
    )
    return events + _billing(replay(events), c.billing)


def _attach(
    c: AttachCustomer, state: PartnerAccount | None, _: Record | None, __: datetime
) -> list[Event]:
    return attach_customer(state, customer_id=c.customer_id, name=c.name)


def _change_billing(
    c: ChangeBilling, state: PartnerAccount | None, _: Record | None, __: datetime
) -> list[Event]:
    return _billing(_account(state), c.billing)


def _purchase(
    c: RequestPurchase, state: PartnerAccount | None, recorded: Record | None, now: datetime
) -> list[Event]:
    return request_purchase(
        state,
        purchase_id=c.purchase_id,
        credits=c.credits,
        amount_minor=c.amount_minor,
        currency=c.currency,
        price_list_id=c.price_list_id,
        price_list_version=c.price_list_version,
        reason="manual",
        actor=c.actor,
        now=now,
        recorded=recorded if isinstance(recorded, Purchase) else None,
    )


def _reserve(
    c: ReserveCredits, state: PartnerAccount | None, recorded: Record | None, now: datetime
) -> list[Event]:
    return reserve(
        state,
        reservation_id=c.reservation_id,
        credits=c.credits,
        ttl_seconds=c.ttl_seconds,
        now=now,
        mailing_id=c.mailing_id,
        recorded=recorded if isinstance(recorded, Reservation) else None,
        customer_id=c.customer_id,
    )


def _release(
    c: ReleaseReservation, state: PartnerAccount | None, recorded: Record | None, _: datetime
) -> list[Event]:
    return release(
        state,
        reservation_id=c.reservation_id,
        recorded=recorded if isinstance(recorded, Reservation) else None,
    )


def _grant(
    c: GrantCredits, state: PartnerAccount | None, _: Record | None, __: datetime
) -> list[Event]:
    return grant_credits(state, credits=c.credits, reason=c.reason, actor=c.actor)


def _adjust(
    c: AdjustCredits, state: PartnerAccount | None, _: Record | None, __: datetime
) -> list[Event]:
    return adjust_credits(state, delta=c.delta, reason=c.reason, actor=c.actor)


def _settle(
    c: SettleDebt, state: PartnerAccount | None, _: Record | None, __: datetime
) -> list[Event]:
    return settle_debt(state, by=c.by, actor=c.actor, reference=c.reference)


def _expire(
    _: ExpireReservations, state: PartnerAccount | None, __: Record | None, now: datetime
) -> list[Event]:
    return expire_reservations(state, now) if state is not None else []


def _contract(
    c: ChangeContract, state: PartnerAccount | None, _: Record | None, __: datetime
) -> list[Event]:
    return change_contract(
        state,
        customer_id=c.customer_id,
        price_list_id=c.price_list_id,
        plan_variant_id=c.plan_variant_id,
        starts_on=c.starts_on,
        billing_anchor=c.billing_anchor,
        billing_period=c.billing_period,
        booked=c.booked,
    )


def _statement(
    c: IssueStatement, state: PartnerAccount | None, _: Record | None, __: datetime
) -> list[Event]:
    quote = c.quote
    return issue_statement(
        state,
        customer_id=c.customer_id,
        period_start=c.period_start,
        period_end=c.period_end,
        price_list_id=str(quote["price_list_id"]),
        price_list_version=int(quote["price_list_version"]),
        plan_variant_id=str(quote["plan_variant_id"]),
        currency=str(quote["currency"]),
        total=str(quote["total"]),
        total_minor=int(quote["total_minor"]),
        mailings=c.mailings,
        recipients=c.recipients,
        credits=c.credits,
        quote=quote,
    )


def _budget(
    c: SetCustomerBudget, state: PartnerAccount | None, _: Record | None, now: datetime
) -> list[Event]:
    if c.used_this_month is None:
        raise AssertionError("SetCustomerBudget runs with its usage looked up (execute)")
    return set_customer_budget(
        state,
        customer_id=c.customer_id,
        monthly_credits=c.monthly_credits,
        alert_percents=c.alert_percents,
        now=now,
        used_this_month=c.used_this_month,
    )


async def _looked_up(uow: UnitOfWork, command: AccountCommand, now: datetime) -> AccountCommand:
    """The command with what it needs from the ledger's records filled in."""
    if isinstance(command, SetCustomerBudget):
        used = await uow.budget_usage.credits_in_month(
            command.partner_id, command.customer_id, budget_month(now)
        )
        return replace(command, used_this_month=used)
    return command


Handler = Callable[[Any, PartnerAccount | None, Record | None, datetime], list[Event]]

HANDLERS: dict[type[Any], Handler] = {
    RegisterPartner: _register,
    AttachCustomer: _attach,
    ChangeBilling: _change_billing,
    RequestPurchase: _purchase,
    ReserveCredits: _reserve,
    ReleaseReservation: _release,
    GrantCredits: _grant,
    AdjustCredits: _adjust,
    SettleDebt: _settle,
    ExpireReservations: _expire,
    ChangeContract: _contract,
    IssueStatement: _statement,
    SetCustomerBudget: _budget,
}


def record_needed(command: AccountCommand) -> tuple[RecordKind, str] | None:
    """The record a command must see besides the account's state, if any."""
    match command:
        case RequestPurchase(purchase_id=pid):
            return ("purchase", pid)
        case ReserveCredits(reservation_id=rid) | ReleaseReservation(reservation_id=rid):
            return ("reservation", rid)
    return None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The account after a command, what it decided, and the record it concerns (as it
    stands after the command)."""

    state: PartnerAccount
    events: list[Event]
    record: Record | None


Present = Callable[[Outcome], tuple[int, dict[str, Any]]]


async def execute(
    unit_of_work: UnitOfWorkFactory,
    command: AccountCommand,
    now: datetime,
    *,
    metadata: dict[str, Any],
    present: Present,
    idempotency: Idempotency | None = None,
) -> tuple[int, dict[str, Any]]:
    """Run ``command`` with its handler in one unit of work; ``present`` makes the answer
    (status and body) from the outcome, which an idempotent request keeps."""
    handler = HANDLERS[type(command)]
    looked_up = command

    async def look_up(uow: UnitOfWork) -> None:
        nonlocal looked_up
        looked_up = await _looked_up(uow, command, now)

    def decide(state: PartnerAccount | None, recorded: Record | None) -> list[Event]:
        return handler(looked_up, state, recorded, now)

    def respond(
        state: PartnerAccount | None, events: list[Event], recorded: Record | None
    ) -> tuple[int, dict[str, Any]]:
        return present(Outcome(_account(state), events, recorded))

    async def save_token(uow: UnitOfWork, state: PartnerAccount) -> None:
        assert isinstance(command, RegisterPartner)
        await uow.tokens.store(state.partner_id, command.token)

    return await run_command(
        unit_of_work,
        Command(
            command.partner_id,
            decide,
            metadata,
            respond,
            idempotency=idempotency,
            after=save_token if isinstance(command, RegisterPartner) else None,
            record=record_needed(command),
            before=look_up if isinstance(command, SetCustomerBudget) else None,
        ),
        now,
    )
