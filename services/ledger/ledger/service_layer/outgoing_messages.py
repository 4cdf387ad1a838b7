"""The one place where stored domain events become messages for other services.

Domain events are the ledger's history and never change; the wire contracts (JSON Schemas in
`shared/schemas`) may evolve. Keeping the mapping here lets either change without the other.
"""

from datetime import datetime
from typing import Any

from ledger.domain import (
    AutoPurchaseSuspended,
    BalanceRecovered,
    BalanceThresholdCrossed,
    ChargeFailed,
    ChargeRequested,
    ChargeReturned,
    CustomerBudgetAlert,
    Event,
    LowBalanceReached,
    PartnerAccount,
    PurchaseFailed,
    PurchaseRequested,
    PurchaseReturned,
    ReminderRearmed,
    ReservationExpired,
    StatementIssued,
)
from shared.envelope import CloudEvent
from shared.messaging.outbox import OutgoingMessage, outgoing

SOURCE = "/ledger"

MESSAGE_EVENTS = (
    LowBalanceReached,
    PurchaseRequested,
    ChargeRequested,
    ReservationExpired,
    AutoPurchaseSuspended,
    PurchaseFailed,
    StatementIssued,
    BalanceThresholdCrossed,
    BalanceRecovered,
    ReminderRearmed,
    CustomerBudgetAlert,
    ChargeFailed,
    PurchaseReturned,
    ChargeReturned,
)


def _data(event: Event, account: PartnerAccount, at: str) -> tuple[str, dict[str, Any]] | None:
    partner = account.partner_id
    match event:
        case LowBalanceReached():
            return "ledger.low_balance_reached", {
                "partner_id": partner,
                "balance": event.balance,
                "threshold": event.threshold,
                "locale": account.locale,
                "occurred_at": at,
            }
        case BalanceThresholdCrossed() | BalanceRecovered() | ReminderRearmed():
            # The reminder's own recovery is the same news as an alert level's.
            kind = (
                "ledger.balance_threshold_crossed"
                if isinstance(event, BalanceThresholdCrossed)
                else "ledger.balance_recovered"
            )
            return kind, {
                "partner_id": partner,
                "threshold": event.threshold,
                "balance": event.balance,
                "locale": account.locale,
                "occurred_at": at,
            }
        case CustomerBudgetAlert():
            return "ledger.customer_budget_alert", {
                "partner_id": partner,
                "customer_id": event.customer_id,
                "customer_name": account.customers.get(event.customer_id, event.customer_id),
                "percent": event.percent,
                "used": event.used,
                "monthly_credits": event.monthly_credits,
                "month": event.month,
                "locale": account.locale,
                "occurred_at": at,
            }
        case PurchaseRequested():
            return "ledger.purchase_requested", {
                "partner_id": partner,
                "purchase_id": event.purchase_id,
                "credits": event.credits,
                "amount_minor": event.amount_minor,
                "currency": event.currency,
                "reason": event.reason,
                "payment_method": dict(event.payment_method) if event.payment_method else None,
                "price_list_id": event.price_list_id,
                "price_list_version": event.price_list_version,
                "requested_at": at,
            }
        case ChargeRequested():
            return "ledger.charge_requested", {
                "partner_id": partner,
                "charge_id": event.charge_id,
                "credits": event.credits,
                "amount_minor": event.amount_minor,
                "currency": event.currency,
                "mailing_ids": list(event.mailing_ids),
                "payment_method": dict(event.payment_method) if event.payment_method else None,
                "requested_at": at,
            }
        case ReservationExpired():
            return "ledger.reservation_expired", {
                "partner_id": partner,
                "reservation_id": event.reservation_id,
                "credits": event.credits,
                "occurred_at": at,
            }
        case AutoPurchaseSuspended():
            return "ledger.auto_purchase_suspended", {
                "partner_id": partner,
                "failures": event.failures,
                "reason": event.reason,
                "locale": account.locale,
                "occurred_at": at,
            }
        case PurchaseFailed():
            return "ledger.purchase_failed", {
                "partner_id": partner,
                "purchase_id": event.purchase_id,
                "reason": event.reason or "declined",
                "code": event.code,
                "retryable": event.retryable,
                "locale": account.locale,
                "occurred_at": at,
            }
        case ChargeFailed():
            # The amount is the charge_requested's of the same charge_id, owed now (the
            # DebtRecorded that follows tells the partner nothing more).
            return "ledger.charge_failed", {
                "partner_id": partner,
                "charge_id": event.charge_id,
                "reason": event.reason or "declined",
                "code": event.code,
                "locale": account.locale,
                "occurred_at": at,
            }
        case PurchaseReturned() | ChargeReturned():
            # A payment that had succeeded was reversed: the credits are taken back (a
            # purchase) or the amount is owed again (a charge, now debt).
            kind, key, payment_id = (
                ("ledger.purchase_returned", "purchase_id", event.purchase_id)
                if isinstance(event, PurchaseReturned)
                else ("ledger.charge_returned", "charge_id", event.charge_id)
            )
            return kind, {
                "partner_id": partner,
                key: payment_id,
                "credits": event.credits,
                "amount_minor": event.amount_minor,
                "currency": account.currency,
                "reason": event.reason or "returned",
                "code": event.code,
                "locale": account.locale,
                "occurred_at": at,
            }
        case StatementIssued():
            return "ledger.statement_issued", {
                "partner_id": partner,
                "customer_id": event.customer_id,
                "period_start": event.period_start.isoformat(),
                "period_end": event.period_end.isoformat(),
                "price_list_id": event.price_list_id,
                "price_list_version": event.price_list_version,
                "plan_variant_id": event.plan_variant_id,
                "currency": event.currency,
                "total": event.total,
                "total_minor": event.total_minor,
                "mailings": event.mailings,
                "recipients": event.recipients,
                "credits": event.credits,
                "locale": account.locale,
                "issued_at": at,
            }
    return None


def outgoing_messages(
    account: PartnerAccount, version: int, event: Event, occurred_at: datetime
) -> list[OutgoingMessage]:
    """The messages one stored event sends; its id is derived from the stream position, so a
    consumer can drop a second delivery of the same message."""
    if not isinstance(event, MESSAGE_EVENTS):
        return []  # most events (debits above all) tell no other service anything
    mapped = _data(event, account, occurred_at.isoformat())
    if mapped is None:
        return []
    message_type, data = mapped
    message = CloudEvent.new(
        message_type,
        SOURCE,
        data,
        subject=account.partner_id,
        id=f"{account.partner_id}/{version}",
        time=occurred_at,
    )
    return [outgoing(message, account.partner_id)]
