"""The ledger's HTTP API for partner portals and ops. Thin: parse, authorise, run a command."""

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from sqlalchemy import text

from ledger.adapters.idempotency import request_fingerprint
from ledger.adapters.pricing_client import QuoteItem, RejectedItem
from ledger.adapters.unit_of_work import UnitOfWork
from ledger.api.auth import Caller, CurrentCaller
from ledger.api.schemas import (
    Balance,
    BillingSettings,
    CreditAdjustment,
    CreditGrant,
    DebtSettlement,
    EventPage,
    HistoryEvent,
    NewCustomer,
    NewPartner,
    NewPurchase,
    NewReservation,
)
from ledger.bootstrap import LedgerContainer
from ledger.domain import (
    Event,
    PartnerAccount,
    adjust_credits,
    attach_customer,
    change_billing,
    grant_credits,
    register_partner,
    release,
    replay,
    request_purchase,
    reserve,
    settle_debt,
)
from ledger.ingest import CREDITS_COMPONENT
from ledger.service import (
    Command,
    Idempotency,
    new_partner_token,
    read_account,
    run_command,
    store_partner_token,
)
from shared.problems import Problem, invalid, not_found

router = APIRouter(prefix="/v1")

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


def balance_body(state: PartnerAccount) -> dict[str, Any]:
    return Balance(
        partner_id=state.partner_id,
        balance=state.balance,
        held=state.held,
        available=state.available,
        debt=state.debt_credits,
        debt_minor=state.debt_minor,
        version=state.version,
    ).model_dump()


def billing_body(state: PartnerAccount) -> dict[str, Any]:
    return {
        "billing_mode": state.billing_mode,
        "reminder_threshold": state.reminder_threshold,
        "auto_purchase": None
        if state.auto_purchase_credits is None
        else {
            "credits": state.auto_purchase_credits,
            "trigger_threshold": state.auto_purchase_trigger,
            "suspended": state.auto_purchase_suspended,
        },
        "payment_method": dict(state.payment_method) if state.payment_method else None,
    }


def _registered(partner_id: str, state: PartnerAccount | None) -> PartnerAccount:
    if state is None:
        raise not_found(f"partner {partner_id!r}")
    return state


def _billing_args(billing: BillingSettings) -> dict[str, Any]:
    return {
        "billing_mode": billing.billing_mode,
        "reminder_threshold": billing.reminder_threshold,
        "auto_purchase_credits": billing.auto_purchase.credits if billing.auto_purchase else None,
        "auto_purchase_trigger": (
            billing.auto_purchase.trigger_threshold if billing.auto_purchase else None
        ),
        "payment_method": billing.payment_method.model_dump() if billing.payment_method else None,
    }


@router.post("/partners", status_code=201, tags=["partners"])
async def create_partner(
    body: NewPartner, caller: CurrentCaller, request: Request
) -> dict[str, Any]:
    """Register a partner (ops only). The answer holds the partner's API token, shown once."""
    caller.require_ops()
    token = new_partner_token()

    def decide(state: PartnerAccount | None) -> list[Event]:
        events = register_partner(
            state,
            partner_id=body.partner_id,
            name=body.name,
            locale=body.locale,
            billing_mode=body.billing.billing_mode,
            currency=body.currency,
            credit_price_list_id=body.credit_price_list_id,
            mailing_price_list_id=body.mailing_price_list_id,
        )
        return events + change_billing(replay(events), **_billing_args(body.billing))

    async def save_token(uow: UnitOfWork, state: PartnerAccount) -> None:
        await store_partner_token(uow, state.partner_id, token)

    def respond(state: PartnerAccount | None, _: list[Event]) -> tuple[int, dict[str, Any]]:
        account = _registered(body.partner_id, state)
        return 201, {
            "partner_id": account.partner_id,
            "name": account.name,
            "token": token,
            "billing": billing_body(account),
            "balance": balance_body(account),
        }

    _, answer = await run_command(
        _container(request).engine,
        Command(body.partner_id, decide, _metadata(caller, request), respond, after=save_token),
        _now(),
    )
    return answer


@router.get("/partners/{partner_id}", tags=["partners"])
async def get_partner(partner_id: str, caller: CurrentCaller, request: Request) -> dict[str, Any]:
    caller.require_partner(partner_id)
    state = await _read(request, partner_id)
    return {
        "partner_id": state.partner_id,
        "name": state.name,
        "locale": state.locale,
        "currency": state.currency,
        "credit_price_list_id": state.credit_price_list_id,
        "mailing_price_list_id": state.mailing_price_list_id,
        "billing": billing_body(state),
        "balance": balance_body(state),
    }


async def _read(request: Request, partner_id: str) -> PartnerAccount:
    return _registered(partner_id, await read_account(_container(request).engine, partner_id))


async def _change(
    request: Request,
    caller: Caller,
    partner_id: str,
    decide: Callable[[PartnerAccount], list[Event]],
    respond: Callable[[PartnerAccount, list[Event]], dict[str, Any]],
    *,
    status: int = 200,
    idempotency: Idempotency | None = None,
    **metadata: Any,
) -> tuple[int, dict[str, Any]]:
    """Run a command on an existing partner's account."""
    caller.require_partner(partner_id)

    def on_registered(state: PartnerAccount | None) -> list[Event]:
        return decide(_registered(partner_id, state))

    def answer(state: PartnerAccount | None, events: list[Event]) -> tuple[int, dict[str, Any]]:
        return status, respond(_registered(partner_id, state), events)

    return await run_command(
        _container(request).engine,
        Command(
            partner_id,
            on_registered,
            _metadata(caller, request, **metadata),
            answer,
            idempotency=idempotency,
        ),
        _now(),
    )


@router.post("/partners/{partner_id}/customers", status_code=201, tags=["customers"])
async def add_customer(
    partner_id: str, body: NewCustomer, caller: CurrentCaller, request: Request
) -> dict[str, Any]:
    """Attach a customer (sub-account) whose mailings the partner pays for."""
    _, answer = await _change(
        request,
        caller,
        partner_id,
        lambda s: attach_customer(s, customer_id=body.customer_id, name=body.name),
        lambda s, _: {"customer_id": body.customer_id, "name": s.customers[body.customer_id]},
        status=201,
    )
    return answer


@router.get("/partners/{partner_id}/customers", tags=["customers"])
async def list_customers(
    partner_id: str, caller: CurrentCaller, request: Request
) -> dict[str, Any]:
    caller.require_partner(partner_id)
    state = await _read(request, partner_id)
    return {
        "partner_id": partner_id,
        "customers": [{"customer_id": c, "name": n} for c, n in sorted(state.customers.items())],
    }


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
        state = await read_account(_container(request).engine, partner_id, as_of)
        if state is None:
            raise not_found(f"partner {partner_id!r} at {as_of.isoformat()}")
        return Balance(**balance_body(state))
    async with _container(request).engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT balance, held, debt_credits, debt_minor, version"
                    " FROM partner_balances WHERE partner_id = :p"
                ),
                {"p": partner_id},
            )
        ).first()
    if row is None:
        raise not_found(f"partner {partner_id!r}")
    balance, held, debt, debt_minor, version = row
    return Balance(
        partner_id=partner_id,
        balance=balance,
        held=held,
        available=balance - held,
        debt=debt,
        debt_minor=debt_minor,
        version=version,
    )


@router.get("/partners/{partner_id}/events", tags=["history"])
async def list_events(
    partner_id: str,
    caller: CurrentCaller,
    request: Request,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """The partner's events in order, `limit` at a time after version `after`."""
    caller.require_partner(partner_id)
    async with _container(request).engine.connect() as connection:
        exists = (
            await connection.execute(
                text("SELECT 1 FROM partner_balances WHERE partner_id = :p"), {"p": partner_id}
            )
        ).first()
        if exists is None:
            raise not_found(f"partner {partner_id!r}")
        rows = (
            await connection.execute(
                text(
                    "SELECT originator_version, global_position, type, recorded_at, payload,"
                    " metadata FROM events WHERE originator_id = :p AND originator_version > :after"
                    " ORDER BY originator_version LIMIT :limit"
                ),
                {"p": partner_id, "after": after, "limit": limit + 1},
            )
        ).all()
    page = [
        HistoryEvent(
            version=r[0],
            global_position=r[1],
            type=r[2],
            recorded_at=r[3],
            payload=r[4],
            metadata=r[5],
        )
        for r in rows[:limit]
    ]
    return EventPage(
        partner_id=partner_id,
        events=page,
        next_after=page[-1].version if len(rows) > limit else None,
    )


@router.get("/partners/{partner_id}/billing", tags=["billing"])
async def get_billing(partner_id: str, caller: CurrentCaller, request: Request) -> dict[str, Any]:
    caller.require_partner(partner_id)
    return billing_body(await _read(request, partner_id))


@router.put("/partners/{partner_id}/billing", tags=["billing"])
async def put_billing(
    partner_id: str, body: BillingSettings, caller: CurrentCaller, request: Request
) -> dict[str, Any]:
    """Billing mode, reminder threshold, auto-purchase and payment method, all at once."""
    _, answer = await _change(
        request,
        caller,
        partner_id,
        lambda s: change_billing(s, **_billing_args(body)),
        lambda s, _: billing_body(s),
    )
    return answer


@router.post("/partners/{partner_id}/purchases", status_code=202, tags=["purchases"])
async def create_purchase(
    partner_id: str,
    body: NewPurchase,
    caller: CurrentCaller,
    request: Request,
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    """Buy credits now. The payment worker charges the partner's payment method; the credits
    arrive on the balance when the payment succeeds (202: accepted, not yet paid)."""
    caller.require_partner(partner_id)
    container = _container(request)
    state = await _read(request, partner_id)
    now = _now()
    [price] = await container.pricing.quote_batch(
        [QuoteItem(state.credit_price_list_id, CREDITS_COMPONENT, body.credits, now)]
    )
    if isinstance(price, RejectedItem):
        raise Problem(
            409, "Conflict", f"the partner's credit price list cannot price this: {price.reason}"
        )
    idempotency = _idempotency(caller, request, idempotency_key, body.model_dump())
    # One purchase per Idempotency-Key (and caller): the same package bought again with a new
    # key is a new purchase. (Derived from the body, a second buy of the same credits was
    # taken for the first one and silently not bought.)
    key_hash = hashlib.sha256(f"{idempotency.scope}\n{idempotency.key}".encode()).hexdigest()
    purchase_id = f"{partner_id}:purchase:{key_hash[:24]}"
    _, answer = await _change(
        request,
        caller,
        partner_id,
        lambda s: request_purchase(
            s,
            purchase_id=purchase_id,
            credits=body.credits,
            amount_minor=int(price.quote["amount_minor"]),
            currency=price.currency,
            price_list_id=price.price_list_id,
            price_list_version=price.price_list_version,
            reason="manual",
            actor=caller.actor,
            now=now,
        ),
        lambda s, _: {
            "purchase_id": purchase_id,
            "credits": body.credits,
            "amount_minor": int(price.quote["amount_minor"]),
            "currency": price.currency,
            "status": s.purchases[purchase_id].status,
        },
        status=202,
        idempotency=idempotency,
        correlation_id=purchase_id,
        price_list_id=price.price_list_id,
        price_list_version=price.price_list_version,
    )
    return answer


@router.post("/partners/{partner_id}/reservations", status_code=201, tags=["reservations"])
async def create_reservation(
    partner_id: str,
    body: NewReservation,
    caller: CurrentCaller,
    request: Request,
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    """Hold credits for a planned mailing. Its `mailing.sent` (with `reservation_id`) captures
    the hold up to its amount and releases the rest; an unused hold expires after its TTL."""
    ttl = body.ttl_seconds or _container(request).settings.reservation_ttl_seconds
    _, answer = await _change(
        request,
        caller,
        partner_id,
        lambda s: reserve(
            s,
            reservation_id=body.reservation_id,
            credits=body.credits,
            ttl_seconds=ttl,
            now=_now(),
            mailing_id=body.mailing_id,
        ),
        lambda s, _: _reservation_body(s, body.reservation_id),
        status=201,
        idempotency=_idempotency(caller, request, idempotency_key, body.model_dump()),
        correlation_id=body.mailing_id,
    )
    return answer


def _reservation_body(state: PartnerAccount, reservation_id: str) -> dict[str, Any]:
    reservation = state.reservations[reservation_id]
    return {
        "reservation_id": reservation_id,
        "credits": reservation.credits,
        "status": reservation.status,
        "expires_at": reservation.expires_at.isoformat(),
        "mailing_id": reservation.mailing_id,
        "balance": balance_body(state),
    }


@router.get("/partners/{partner_id}/reservations/{reservation_id}", tags=["reservations"])
async def get_reservation(
    partner_id: str, reservation_id: str, caller: CurrentCaller, request: Request
) -> dict[str, Any]:
    caller.require_partner(partner_id)
    state = await _read(request, partner_id)
    if reservation_id not in state.reservations:
        raise not_found(f"reservation {reservation_id!r}")
    return _reservation_body(state, reservation_id)


@router.post("/partners/{partner_id}/reservations/{reservation_id}/release", tags=["reservations"])
async def release_reservation(
    partner_id: str, reservation_id: str, caller: CurrentCaller, request: Request
) -> dict[str, Any]:
    """Give the held credits back (the mailing will not be sent)."""
    _, answer = await _change(
        request,
        caller,
        partner_id,
        lambda s: release(s, reservation_id=reservation_id),
        lambda s, _: _reservation_body(s, reservation_id),
    )
    return answer


async def _correct(
    request: Request,
    caller: Caller,
    partner_id: str,
    decide: Callable[[PartnerAccount], list[Event]],
) -> Balance:
    """An ops correction of the account; answers with the balance after it."""
    caller.require_ops()
    _, answer = await _change(
        request, caller, partner_id, decide, lambda s, _: balance_body(s), status=201
    )
    return Balance(**answer)


@router.post("/partners/{partner_id}/credits/grants", status_code=201, tags=["ops"])
async def grant(
    partner_id: str, body: CreditGrant, caller: CurrentCaller, request: Request
) -> Balance:
    """Give credits for free (ops only), e.g. a goodwill gesture."""
    return await _correct(
        request,
        caller,
        partner_id,
        lambda s: grant_credits(s, credits=body.credits, reason=body.reason, actor=caller.actor),
    )


@router.post("/partners/{partner_id}/credits/adjustments", status_code=201, tags=["ops"])
async def adjust(
    partner_id: str, body: CreditAdjustment, caller: CurrentCaller, request: Request
) -> Balance:
    """Correct the balance up or down (ops only), with the reason on record."""
    return await _correct(
        request,
        caller,
        partner_id,
        lambda s: adjust_credits(s, delta=body.delta, reason=body.reason, actor=caller.actor),
    )


@router.post("/partners/{partner_id}/debt/settlements", status_code=201, tags=["ops"])
async def settle(
    partner_id: str, body: DebtSettlement, caller: CurrentCaller, request: Request
) -> Balance:
    """Record that the partner's debt was paid or written off (ops only); unblocks reservations."""
    return await _correct(
        request,
        caller,
        partner_id,
        lambda s: settle_debt(s, by=body.by, actor=caller.actor, reference=body.reference),
    )
