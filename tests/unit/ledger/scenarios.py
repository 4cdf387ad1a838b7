"""Given-when-then helpers for the partner account tests: a standard partner and its events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.domain import (
    BillingSettingsChanged,
    CustomerAttached,
    Event,
    MailingDebited,
    PartnerAccount,
    PartnerRegistered,
    PurchaseRequested,
    debit_mailing,
    replay,
)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
PARTNER = "partner-1"
CUSTOMER = "customer-1"
MAILING_PRICES = "mailings-eur"
CARD: Mapping[str, str] = {"type": "card", "gateway_ref": "pm_4242", "last4": "4242"}

REGISTERED = PartnerRegistered(
    partner_id=PARTNER,
    name="Agentur Nord",
    locale="de",
    billing_mode="prepaid",
    currency="EUR",
    credit_price_list_id="credits-eur",
    mailing_price_list_id=MAILING_PRICES,
)
ATTACHED = CustomerAttached(customer_id=CUSTOMER, name="Bäckerei Müller")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def given(*events: Event) -> PartnerAccount:
    """A registered prepaid partner with one customer, then ``events``."""
    return replay([REGISTERED, ATTACHED, *events])


def settings(**changes: Any) -> BillingSettingsChanged:
    """Billing settings as the stream records them: prepaid with a card unless changed."""
    values: dict[str, Any] = {
        "billing_mode": "prepaid",
        "reminder_threshold": None,
        "reminder_armed": False,
        "auto_purchase_credits": None,
        "auto_purchase_trigger": None,
        "payment_method": dict(CARD),
    }
    values.update(changes)
    return BillingSettingsChanged(**values)


ON_DEMAND = settings(billing_mode="on_demand")


def debit(
    state: PartnerAccount,
    mailing_id: str,
    credits: int,
    *,
    now: datetime = T0,
    reservation_id: str | None = None,
    charge_minor: int | None = None,
    **extra: Any,
) -> list[Event]:
    """When a mailing of ``credits`` credits (one per recipient) was sent."""
    return debit_mailing(
        state,
        mailing_id=mailing_id,
        customer_id=extra.pop("customer_id", CUSTOMER),
        recipients=credits,
        credits=credits,
        price_list_id=MAILING_PRICES,
        price_list_version=3,
        now=now,
        reservation_id=reservation_id,
        charge_minor=charge_minor,
        **extra,
    ).events


def debited(
    mailing_id: str,
    credits: int,
    *,
    reservation_id: str | None = None,
    captured: int = 0,
    released: int = 0,
    charge_minor: int | None = None,
    sent_at: datetime | None = T0,
) -> MailingDebited:
    """The event ``debit`` is expected to record (for a mailing sent at ``sent_at``)."""
    return MailingDebited(
        mailing_id=mailing_id,
        customer_id=CUSTOMER,
        recipients=credits,
        credits=credits,
        price_list_id=MAILING_PRICES,
        price_list_version=3,
        reservation_id=reservation_id,
        captured_credits=captured,
        released_credits=released,
        charge_minor=charge_minor,
        sent_at=sent_at,
    )


def purchase_requested(
    purchase_id: str, credits: int, *, reason: str = "auto", amount_minor: int | None = None
) -> PurchaseRequested:
    """A purchase at EUR 0.01 per credit unless ``amount_minor`` says otherwise."""
    return PurchaseRequested(
        purchase_id=purchase_id,
        credits=credits,
        amount_minor=credits if amount_minor is None else amount_minor,
        currency="EUR",
        price_list_id="credits-eur",
        price_list_version=1,
        reason="auto" if reason == "auto" else "manual",
        actor="system" if reason == "auto" else "partner:alice",
        payment_method=dict(CARD),
    )
