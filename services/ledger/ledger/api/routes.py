"""The ledger's HTTP API for partner portals and ops. Thin: parse, authorise, run a command."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel

from ledger.adapters.idempotency import key_fingerprint, request_fingerprint
from ledger.adapters.views.balances import BalanceView, find_balance
from ledger.adapters.views.customers import list_customers as customers_of
from ledger.adapters.views.history import history_page
from ledger.adapters.views.partners import BillingView, find_partner
from ledger.adapters.views.reservations import find_reservation
from ledger.api.auth import Caller, CurrentCaller
from ledger.api.schemas import (
    AutoPurchaseState,
    Balance,
    Billing,
    BillingSettings,
    CreditAdjustment,
    CreditGrant,
    Customer,
    CustomerList,
    DebtSettlement,
    EventPage,
    HistoryEvent,
    NewCustomer,
    NewPartner,
    NewPurchase,
    NewReservation,
    Partner,
    PaymentMethodOnFile,
    PurchaseRequested,
    RegisteredPartner,
    Reservation,
)
from ledger.bootstrap import LedgerContainer
from ledger.domain import PartnerAccount, PartnerNotRegistered, Record
from ledger.domain import Reservation as ReservationRecord
from ledger.service_layer.commands import Idempotency, new_partner_token, read_account
from ledger.service_layer.handlers import (
    AccountCommand,
    AdjustCredits,
    AttachCustomer,
    BillingChoice,
    ChangeBilling,
    GrantCredits,
    Outcome,
    Present,
    RegisterPartner,
    ReleaseReservation,
    RequestPurchase,
    ReserveCredits,
    SettleDebt,
    execute,
)
from ledger.service_layer.mailing_sent import CREDITS_COMPONENT
from ledger.service_layer.ports import QuoteItem, RejectedItem
from shared.problems import Problem, invalid, not_found


def _operation_id(route: APIRoute) -> str:
    # The function's name: what a generated client calls the operation (`get_balance`).
    return route.name


router = APIRouter(prefix="/v1", generate_unique_id_function=_operation_id)

Answer = TypeVar("Answer", bound=BaseModel)

# The largest stream version the events table holds (a 32-bit integer column).
MAX_VERSION = 2**31 - 1

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Same key and body: the first answer again. Same key, other body: 409.",
    ),
]


def _container(request: Request) -> LedgerContainer:
    container: LedgerContainer = request.app.state.container
    return container


def _now() -> datetime:
    return datetime.now(UTC)


def _metadata(caller: Caller, request: Request, **extra: Any) -> dict[str, Any]:
    return {
        "causation_id": request.headers.get("x-request-id") or f"http:{request.url.path}",
        "correlation_id": extra.pop("correlation_id", None),
        "actor": caller.actor,
        **extra,
    }


def _idempotency(caller: Caller, request: Request, key: str, body: object) -> Idempotency:
    return Idempotency(
        scope=caller.actor,
        key=key,
        request_hash=request_fingerprint(request.method, request.url.path, body),
    )


def balance_of(state: PartnerAccount | BalanceView) -> Balance:
    return Balance(
        partner_id=state.partner_id,
        balance=state.balance,
        held=state.held,
        available=state.available,
        debt=state.debt_credits,
        debt_minor=state.debt_minor,
        version=state.version,
    )


def billing_of(state: PartnerAccount | BillingView) -> Billing:
    return Billing(
        billing_mode=state.billing_mode,
        reminder_threshold=state.reminder_threshold,
        reminder_thresholds=list(state.reminder_thresholds),
        auto_purchase=None
        if state.auto_purchase_credits is None
        else AutoPurchaseState(
            credits=state.auto_purchase_credits,
            trigger_threshold=state.auto_purchase_trigger,
            suspended=state.auto_purchase_suspended,
        ),
        payment_method=PaymentMethodOnFile.model_validate(state.payment_method)
        if state.payment_method
        else None,
    )


def _billing_choice(billing: BillingSettings) -> BillingChoice:
    return BillingChoice(
        billing_mode=billing.billing_mode,
        reminder_threshold=billing.reminder_threshold,
        auto_purchase_credits=billing.auto_purchase.credits if billing.auto_purchase else None,
        auto_purchase_trigger=(
            billing.auto_purchase.trigger_threshold if billing.auto_purchase else None
        ),
        payment_method=billing.payment_method.model_dump() if billing.payment_method else None,
        reminder_thresholds=tuple(billing.reminder_thresholds),
    )


async def _execute(
    request: Request,
    caller: Caller,
    command: AccountCommand,
    present: Present,
    *,
    idempotency: Idempotency | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    """Run a command on the partner's account and answer with what ``present`` makes of it."""
    try:
        _, body = await execute(
            _container(request).unit_of_work,
            command,
            _now(),
            metadata=_metadata(caller, request, **metadata),
            present=present,
            idempotency=idempotency,
        )
    except PartnerNotRegistered:
        raise not_found(f"partner {command.partner_id!r}") from None
    return body


async def _answer(
    request: Request,
    caller: Caller,
    command: AccountCommand,
    answer: type[Answer],
    present: Callable[[Outcome], Answer],
    *,
    status: int = 200,
    idempotency: Idempotency | None = None,
    **metadata: Any,
) -> Answer:
    """Run a command and answer with the model ``present`` makes of its outcome. The model is
    kept as JSON with an idempotent request, so a repeated request is answered from there."""
    body = await _execute(
        request,
        caller,
        command,
        lambda outcome: (status, present(outcome).model_dump(mode="json")),
        idempotency=idempotency,
        **metadata,
    )
    return answer.model_validate(body)


@router.post("/partners", status_code=201, tags=["partners"])
async def create_partner(
    body: NewPartner, caller: CurrentCaller, request: Request
) -> RegisteredPartner:
    """Register a partner (ops only). The answer holds the partner's API token, shown once."""
    caller.require_ops()
    token = new_partner_token()

    def present(outcome: Outcome) -> RegisteredPartner:
        account = outcome.state
        return RegisteredPartner(
            partner_id=account.partner_id,
            name=account.name,
            token=token,
            billing=billing_of(account),
            balance=balance_of(account),
        )

    command = RegisterPartner(
        partner_id=body.partner_id,
        name=body.name,
        locale=body.locale,
        currency=body.currency,
        credit_price_list_id=body.credit_price_list_id,
        mailing_price_list_id=body.mailing_price_list_id,
        billing=_billing_choice(body.billing),
        token=token,
    )
    return await _answer(request, caller, command, RegisteredPartner, present, status=201)


@router.get("/partners/{partner_id}", tags=["partners"])
async def get_partner(partner_id: str, caller: CurrentCaller, request: Request) -> Partner:
    caller.require_partner(partner_id)
    partner = await find_partner(_container(request).reads, partner_id)
    if partner is None:
        raise not_found(f"partner {partner_id!r}")
    # Built once from the row; FastAPI takes the instance as it is and serialises it.
    return Partner(
        partner_id=partner.partner_id,
        name=partner.name,
        locale=partner.locale,
        currency=partner.currency,
        credit_price_list_id=partner.credit_price_list_id,
        mailing_price_list_id=partner.mailing_price_list_id,
        billing=billing_of(partner.billing),
        balance=balance_of(partner.balance),
    )


@router.post("/partners/{partner_id}/customers", status_code=201, tags=["customers"])
async def add_customer(
    partner_id: str, body: NewCustomer, caller: CurrentCaller, request: Request
) -> Customer:
    """Attach a customer (sub-account) whose mailings the partner pays for."""
    caller.require_partner(partner_id)
    return await _answer(
        request,
        caller,
        AttachCustomer(partner_id=partner_id, customer_id=body.customer_id, name=body.name),
        Customer,
        lambda o: Customer(customer_id=body.customer_id, name=o.state.customers[body.customer_id]),
        status=201,
    )


@router.get("/partners/{partner_id}/customers", tags=["customers"])
async def list_customers(partner_id: str, caller: CurrentCaller, request: Request) -> CustomerList:
    caller.require_partner(partner_id)
    customers = await customers_of(_container(request).reads, partner_id)
    if customers is None:
        raise not_found(f"partner {partner_id!r}")
    return CustomerList(
        partner_id=partner_id,
        customers=[Customer(customer_id=c.customer_id, name=c.name) for c in customers],
    )


@router.get("/partners/{partner_id}/balance", tags=["balance"])
async def get_balance(
    partner_id: str,
    caller: CurrentCaller,
    request: Request,
    as_of: Annotated[
        datetime | None, Query(description="The balance as it stood at this time (RFC 3339)")
    ] = None,
) -> Balance:
    """The balance projection: `available` = `balance` - `held`; `debt` in credits. With
    `as_of`, the balance is folded from the events recorded up to that time."""
    caller.require_partner(partner_id)
    if as_of is not None:
        if as_of.tzinfo is None:
            raise invalid("$.as_of", "needs a UTC offset")
        state = await read_account(_container(request).unit_of_work, partner_id, as_of)
        if state is None:
            raise not_found(f"partner {partner_id!r} at {as_of.isoformat()}")
        return balance_of(state)
    balance = await find_balance(_container(request).reads, partner_id)
    if balance is None:
        raise not_found(f"partner {partner_id!r}")
    return balance_of(balance)


@router.get("/partners/{partner_id}/events", tags=["history"])
async def list_events(
    partner_id: str,
    caller: CurrentCaller,
    request: Request,
    after: Annotated[int, Query(ge=0, le=MAX_VERSION)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """The partner's events in order, `limit` at a time after version `after`."""
    caller.require_partner(partner_id)
    rows = await history_page(_container(request).reads, partner_id, after, limit + 1)
    if rows is None:
        raise not_found(f"partner {partner_id!r}")
    page = [
        HistoryEvent(
            version=r.version,
            global_position=r.global_position,
            type=r.type,
            recorded_at=r.recorded_at,
            payload=r.payload,
            metadata=r.metadata,
        )
        for r in rows[:limit]
    ]
    return EventPage(
        partner_id=partner_id,
        events=page,
        next_after=page[-1].version if len(rows) > limit else None,
    )


@router.get("/partners/{partner_id}/billing", tags=["billing"])
async def get_billing(partner_id: str, caller: CurrentCaller, request: Request) -> Billing:
    caller.require_partner(partner_id)
    partner = await find_partner(_container(request).reads, partner_id)
    if partner is None:
        raise not_found(f"partner {partner_id!r}")
    return billing_of(partner.billing)


@router.put("/partners/{partner_id}/billing", tags=["billing"])
async def put_billing(
    partner_id: str, body: BillingSettings, caller: CurrentCaller, request: Request
) -> Billing:
    """Billing mode, reminder threshold, auto-purchase and payment method, all at once."""
    caller.require_partner(partner_id)
    return await _answer(
        request,
        caller,
        ChangeBilling(partner_id=partner_id, billing=_billing_choice(body)),
        Billing,
        lambda o: billing_of(o.state),
    )


@router.post("/partners/{partner_id}/purchases", status_code=202, tags=["purchases"])
async def create_purchase(
    partner_id: str,
    body: NewPurchase,
    caller: CurrentCaller,
    request: Request,
    idempotency_key: IdempotencyKey,
) -> PurchaseRequested:
    """Buy credits now. The payment worker charges the partner's payment method; the credits
    arrive on the balance when the payment succeeds (202: accepted, not yet paid)."""
    caller.require_partner(partner_id)
    container = _container(request)
    partner = await find_partner(container.reads, partner_id)
    if partner is None:
        raise not_found(f"partner {partner_id!r}")
    now = _now()
    [price] = await container.pricing.quote_batch(
        [QuoteItem(partner.credit_price_list_id, CREDITS_COMPONENT, body.credits, now)]
    )
    if isinstance(price, RejectedItem):
        raise Problem(
            409, "Conflict", f"the partner's credit price list cannot price this: {price.reason}"
        )
    idempotency = _idempotency(caller, request, idempotency_key, body.model_dump())
    # The key names the purchase: a new key is a new purchase, even of the same credits (after
    # a declined card, say); the same key again is answered from the idempotency record.
    purchase_id = f"{partner_id}:purchase:{key_fingerprint(idempotency.scope, idempotency_key)}"
    amount_minor = int(price.quote["amount_minor"])
    command = RequestPurchase(
        partner_id=partner_id,
        purchase_id=purchase_id,
        credits=body.credits,
        amount_minor=amount_minor,
        currency=price.currency,
        price_list_id=price.price_list_id,
        price_list_version=price.price_list_version,
        actor=caller.actor,
    )
    answer = PurchaseRequested(
        purchase_id=purchase_id,
        credits=body.credits,
        amount_minor=amount_minor,
        currency=price.currency,
        status="requested",
    )
    return await _answer(
        request,
        caller,
        command,
        PurchaseRequested,
        lambda _: answer,
        status=202,
        idempotency=idempotency,
        correlation_id=purchase_id,
        price_list_id=price.price_list_id,
        price_list_version=price.price_list_version,
    )


@router.post("/partners/{partner_id}/reservations", status_code=201, tags=["reservations"])
async def create_reservation(
    partner_id: str,
    body: NewReservation,
    caller: CurrentCaller,
    request: Request,
    idempotency_key: IdempotencyKey,
) -> Reservation:
    """Hold credits for a planned mailing. Its `mailing.sent` (with `reservation_id`) captures
    the hold up to its amount and releases the rest; an unused hold expires after its TTL."""
    caller.require_partner(partner_id)
    command = ReserveCredits(
        partner_id=partner_id,
        reservation_id=body.reservation_id,
        credits=body.credits,
        ttl_seconds=body.ttl_seconds or _container(request).settings.reservation_ttl_seconds,
        mailing_id=body.mailing_id,
        customer_id=body.customer_id,
    )
    return await _answer(
        request,
        caller,
        command,
        Reservation,
        lambda o: _reservation(o.state, o.record, body.reservation_id),
        status=201,
        idempotency=_idempotency(caller, request, idempotency_key, body.model_dump()),
        correlation_id=body.mailing_id,
    )


def _reservation(
    state: PartnerAccount | BalanceView, recorded: Record | None, reservation_id: str
) -> Reservation:
    if not isinstance(recorded, ReservationRecord):
        raise not_found(f"reservation {reservation_id!r}")
    return Reservation(
        reservation_id=reservation_id,
        credits=recorded.credits,
        status=recorded.status,
        # As Python writes it (`+00:00`), as this answer always has.
        expires_at=recorded.expires_at.isoformat(),
        mailing_id=recorded.mailing_id,
        customer_id=recorded.customer_id,
        balance=balance_of(state),
    )


@router.get("/partners/{partner_id}/reservations/{reservation_id}", tags=["reservations"])
async def get_reservation(
    partner_id: str, reservation_id: str, caller: CurrentCaller, request: Request
) -> Reservation:
    caller.require_partner(partner_id)
    found = await find_reservation(_container(request).reads, partner_id, reservation_id)
    if found is None:
        raise not_found(f"reservation {reservation_id!r}")
    hold = ReservationRecord(
        credits=found.credits,
        expires_at=found.expires_at,
        mailing_id=found.mailing_id,
        status=found.status,
        customer_id=found.customer_id,
    )
    return _reservation(found.balance, hold, reservation_id)


@router.post("/partners/{partner_id}/reservations/{reservation_id}/release", tags=["reservations"])
async def release_reservation(
    partner_id: str, reservation_id: str, caller: CurrentCaller, request: Request
) -> Reservation:
    """Give the held credits back (the mailing will not be sent)."""
    caller.require_partner(partner_id)
    return await _answer(
        request,
        caller,
        ReleaseReservation(partner_id=partner_id, reservation_id=reservation_id),
        Reservation,
        lambda o: _reservation(o.state, o.record, reservation_id),
    )


async def _correct(
    request: Request, caller: Caller, command: GrantCredits | AdjustCredits | SettleDebt
) -> Balance:
    """An ops correction of the account; answers with the balance after it."""
    caller.require_ops()
    return await _answer(
        request, caller, command, Balance, lambda o: balance_of(o.state), status=201
    )


@router.post("/partners/{partner_id}/credits/grants", status_code=201, tags=["ops"])
async def grant(
    partner_id: str, body: CreditGrant, caller: CurrentCaller, request: Request
) -> Balance:
    """Give credits for free (ops only), e.g. a goodwill gesture."""
    return await _correct(
        request,
        caller,
        GrantCredits(
            partner_id=partner_id, credits=body.credits, reason=body.reason, actor=caller.actor
        ),
    )


@router.post("/partners/{partner_id}/credits/adjustments", status_code=201, tags=["ops"])
async def adjust(
    partner_id: str, body: CreditAdjustment, caller: CurrentCaller, request: Request
) -> Balance:
    """Correct the balance up or down (ops only), with the reason on record."""
    return await _correct(
        request,
        caller,
        AdjustCredits(
            partner_id=partner_id, delta=body.delta, reason=body.reason, actor=caller.actor
        ),
    )


@router.post("/partners/{partner_id}/debt/settlements", status_code=201, tags=["ops"])
async def settle(
    partner_id: str, body: DebtSettlement, caller: CurrentCaller, request: Request
) -> Balance:
    """Record that the partner's debt was paid or written off (ops only); unblocks reservations."""
    return await _correct(
        request,
        caller,
        SettleDebt(partner_id=partner_id, by=body.by, actor=caller.actor, reference=body.reference),
    )
