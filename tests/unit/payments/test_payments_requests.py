"""Requests from the ledger: which gateway takes them, what is refused, the stable keys."""

import re

import pytest

from payments.domain.outcomes import Outcome
from payments.domain.requests import (
    PaymentRequest,
    check_amount,
    check_decline_limit,
    end_to_end_id,
    idempotency_key,
    route,
)

CARD = {"type": "card", "customer": "cus_1", "payment_method": "pm_1"}
STRIPE_SEPA = {"type": "sepa_debit", "customer": "cus_1", "payment_method": "pm_2"}
BANK_SEPA = {
    "type": "sepa_debit",
    "iban": "DE89370400440532013000",
    "account_holder": "Muster GmbH",
    "mandate_reference": "MB-1",
    "mandate_signed_on": "2025-01-15",
}


def test_a_purchase_request_and_a_charge_request() -> None:
    purchase = PaymentRequest.from_message(
        "m1",
        "ledger.purchase_requested",
        {
            "partner_id": "p1",
            "purchase_id": "pu1",
            "credits": 100,
            "amount_minor": 1000,
            "currency": "EUR",
            "reason": "auto",
            "payment_method": CARD,
            "requested_at": "2026-01-01T00:00:00Z",
        },
    )
    charge = PaymentRequest.from_message(
        "m2",
        "ledger.charge_requested",
        {
            "partner_id": "p1",
            "charge_id": "ch1",
            "credits": 5250,
            "amount_minor": 5250,
            "currency": "EUR",
            "mailing_ids": ["x"],
            "payment_method": BANK_SEPA,
            "requested_at": "2026-01-01T00:00:00Z",
        },
    )
    assert purchase == PaymentRequest("pu1", "purchase", "p1", 1000, "EUR", CARD, "m1")
    assert charge == PaymentRequest("ch1", "charge", "p1", 5250, "EUR", BANK_SEPA, "m2")
    assert PaymentRequest.from_json(charge.to_json()) == charge
    assert purchase.method_key == "pm_1"
    assert charge.method_key == "DE89370400440532013000"


def test_routing_by_payment_method() -> None:
    assert route(CARD) == "stripe"
    assert route(STRIPE_SEPA) == "stripe"
    assert route(BANK_SEPA) == "sepa_file"
    assert route(None) == Outcome(
        "failed", None, "no_payment_method", "the partner has no payment method", False
    )
    assert route({"type": "paypal"}) == Outcome(
        "failed",
        None,
        "unsupported_payment_method",
        "payment method 'paypal' cannot be charged",
        False,
    )
    assert isinstance(route({"type": "card", "customer": "cus_1"}), Outcome)


def test_below_the_minimum_is_refused_not_charged() -> None:
    assert check_amount(50, 50) is None
    refused = check_amount(49, 50)
    assert refused is not None
    assert (refused.status, refused.code, refused.retryable) == (
        "failed",
        "amount_below_minimum",
        False,
    )
    assert refused.reason == "49 is below the minimum charge of 50 (minor units)"


def test_the_decline_limit_stops_asking_the_card_network() -> None:
    assert check_decline_limit(7, 8) is None
    refused = check_decline_limit(8, 8)
    assert refused is not None
    assert (refused.code, refused.retryable) == ("retry_limit_reached", False)


def test_keys_are_stable_per_request_and_distinct_between_requests() -> None:
    assert idempotency_key("pu1") == idempotency_key("pu1") == "mailbill-payment-pu1"
    assert idempotency_key("pu1") != idempotency_key("pu2")
    e2e = end_to_end_id("pu1")
    assert e2e == end_to_end_id("pu1") != end_to_end_id("pu2")
    assert len(e2e) == 34
    assert re.fullmatch(r"MB[0-9A-F]{32}", e2e)


@pytest.mark.parametrize("amount", [0, 1, 49])
def test_amounts_below_fifty_cents(amount: int) -> None:
    assert check_amount(amount, 50) is not None
