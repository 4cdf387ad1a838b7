"""Stripe's PaymentIntents, errors and webhook events as outcomes."""

from typing import Any

import pytest
import stripe

from payments.adapters.stripe_gateway import raise_if_unanswered
from payments.domain.outcomes import Outcome
from payments.domain.stripe_answers import outcome_of_event, outcome_of_intent
from payments.service_layer.ports import GatewayUnavailable


def intent(status: str, **fields: Any) -> dict[str, Any]:
    return {"id": "pi_1", "status": status, "payment_method_types": ["card"], **fields}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (intent("succeeded"), Outcome("succeeded", "pi_1")),
        (intent("processing"), Outcome("pending", "pi_1")),
        (
            intent("requires_action"),
            Outcome("failed", "pi_1", "authentication_required", "authentication required", False),
        ),
        (
            intent(
                "requires_payment_method",
                last_payment_error={
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Insufficient funds.",
                },
            ),
            Outcome("failed", "pi_1", "insufficient_funds", "Insufficient funds.", True),
        ),
        (
            intent("requires_payment_method", last_payment_error={"code": "expired_card"}),
            Outcome("failed", "pi_1", "expired_card", "the card was declined", False),
        ),
        (
            intent("canceled"),
            Outcome("failed", "pi_1", "canceled", "the payment was canceled", False),
        ),
        (
            intent(
                "requires_payment_method",
                payment_method_types=["sepa_debit"],
                last_payment_error={"code": "insufficient_funds", "message": None},
            ),
            Outcome("failed", "pi_1", "insufficient_funds", "direct debit not collected", True),
        ),
    ],
)
def test_outcome_of_intent(given: dict[str, Any], expected: Outcome) -> None:
    assert outcome_of_intent(given) == expected


def invalid_request(message: str, status: int) -> stripe.StripeError:
    # The SDK's error constructors carry no annotations.
    return stripe.InvalidRequestError(message, None, http_status=status)  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    "error",
    [
        stripe.APIConnectionError("connection refused"),  # type: ignore[no-untyped-call]
        stripe.APIError("boom", http_status=500),
        stripe.RateLimitError("slow down", http_status=429),
        stripe.AuthenticationError("bad key", http_status=401),
        invalid_request("in use", 409),
        invalid_request("bad gateway", 502),
    ],
)
def test_unanswered_calls_are_retried(error: stripe.StripeError) -> None:
    with pytest.raises(GatewayUnavailable):
        raise_if_unanswered(error)


def test_a_refused_request_is_an_answer() -> None:
    raise_if_unanswered(invalid_request("No such customer", 400))


@pytest.mark.parametrize(
    ("event_type", "obj", "expected"),
    [
        ("payment_intent.succeeded", intent("succeeded"), ("pi_1", Outcome("succeeded", "pi_1"))),
        (
            "payment_intent.payment_failed",
            intent(
                "requires_payment_method",
                payment_method_types=["sepa_debit"],
                last_payment_error={"code": "account_closed", "message": "closed"},
            ),
            ("pi_1", Outcome("failed", "pi_1", "account_closed", "closed", False)),
        ),
        (
            "charge.dispute.created",
            {"id": "dp_1", "payment_intent": "pi_1", "reason": "debit_not_authorized"},
            (
                "pi_1",
                Outcome(
                    "returned",
                    "pi_1",
                    "dispute_debit_not_authorized",
                    "disputed: debit_not_authorized",
                ),
            ),
        ),
        (
            "charge.refunded",
            {"id": "ch_1", "payment_intent": "pi_1"},
            ("pi_1", Outcome("returned", "pi_1", "refunded", "the payment was refunded")),
        ),
        ("customer.created", {"id": "cus_1"}, None),
    ],
)
def test_webhook_events(
    event_type: str, obj: dict[str, Any], expected: tuple[str, Outcome] | None
) -> None:
    assert outcome_of_event(event_type, obj) == expected
