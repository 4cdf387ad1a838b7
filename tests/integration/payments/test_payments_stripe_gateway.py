"""The Stripe gateway with the real SDK against the local Stripe server, and against a stub for
the answers that server cannot give (402 authentication_required with a decline code, 500)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import stripe
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from payments.adapters.stripe_gateway import StripeGateway, create_client
from payments.domain.outcomes import Outcome
from payments.domain.requests import PaymentRequest
from payments.service_layer.ports import GatewayUnavailable
from tests.integration.conftest import free_port, serve_in_background
from tests.integration.payments.conftest import intents_for, saved_method, unique

AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def request_for(method: dict[str, str] | None, amount_minor: int = 1990) -> PaymentRequest:
    return PaymentRequest(unique("pu"), "purchase", "p1", amount_minor, "EUR", method, unique("m"))


async def test_a_saved_card_is_charged_once_per_key(stripe_client: stripe.StripeClient) -> None:
    gateway = StripeGateway(stripe_client)
    method = await saved_method(stripe_client, card="4242424242424242")
    request = request_for(method)

    first = await gateway.charge(request, request.idempotency_key)
    again = await gateway.charge(request, request.idempotency_key)

    intents = await intents_for(stripe_client, method["customer"], request.request_id)
    assert len(intents) == 1
    assert first == again == Outcome("succeeded", intents[0].id)
    assert (intents[0].amount, intents[0].currency, intents[0].payment_method) == (
        1990,
        "eur",
        method["payment_method"],
    )
    assert intents[0].metadata.to_dict() == {
        "request_id": request.request_id,
        "partner_id": "p1",
        "kind": "purchase",
    }
    assert await gateway.lookup(request, request.idempotency_key, AN_HOUR_AGO) == first
    other = request_for(method)
    assert await gateway.lookup(other, other.idempotency_key, AN_HOUR_AGO) is None


async def test_a_declined_card_is_a_soft_failure(stripe_client: stripe.StripeClient) -> None:
    method = await saved_method(stripe_client, card="4000000000000341")
    request = request_for(method)
    outcome = await StripeGateway(stripe_client).charge(request, request.idempotency_key)
    assert (outcome.status, outcome.code, outcome.reason, outcome.retryable) == (
        "failed",
        "card_declined",
        "Your card was declined.",
        True,
    )


async def test_a_card_wanting_authentication_is_never_retried(
    stripe_client: stripe.StripeClient,
) -> None:
    method = await saved_method(stripe_client, card="4000000000003220")
    request = request_for(method)
    outcome = await StripeGateway(stripe_client).charge(request, request.idempotency_key)
    intents = await intents_for(stripe_client, method["customer"], request.request_id)
    assert outcome == Outcome(
        "failed", intents[0].id, "authentication_required", "authentication required", False
    )


async def test_a_sepa_debit_through_stripe_is_pending(stripe_client: stripe.StripeClient) -> None:
    # localstripe settles this IBAN as failed half a second later (see the webhook tests).
    method = await saved_method(stripe_client, iban="DE62370400440532013001")
    request = request_for(method)
    outcome = await StripeGateway(stripe_client).charge(request, request.idempotency_key)
    intents = await intents_for(stripe_client, method["customer"], request.request_id)
    assert outcome == Outcome("pending", intents[0].id)
    assert intents[0].status == "processing"


async def test_no_answer_is_unavailable_not_a_decline() -> None:
    gateway = StripeGateway(create_client("sk_test_local", f"http://127.0.0.1:{free_port()}", 2))
    request = request_for({"type": "card", "customer": "cus_1", "payment_method": "pm_1"})
    with pytest.raises(GatewayUnavailable, match="stripe unavailable"):
        await gateway.charge(request, request.idempotency_key)
    with pytest.raises(GatewayUnavailable, match="stripe lookup failed"):
        await gateway.lookup(request, request.idempotency_key, AN_HOUR_AGO)


STUB_REPLIES: dict[str, tuple[int, dict[str, Any]]] = {
    "pm_auth": (
        402,
        {
            "error": {
                "type": "card_error",
                "code": "authentication_required",
                "decline_code": "authentication_required",
                "message": "Your card was declined. This transaction requires authentication.",
                "payment_intent": {
                    "id": "pi_auth",
                    "status": "requires_payment_method",
                    "payment_method_types": ["card"],
                },
            }
        },
    ),
    "pm_stolen": (
        402,
        {
            "error": {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "stolen_card",
                "message": "Your card was declined.",
                "payment_intent": {"id": "pi_stolen", "payment_method_types": ["card"]},
            }
        },
    ),
    "pm_sepa_poor": (
        402,
        {
            "error": {
                "type": "card_error",
                "code": "payment_intent_payment_attempt_failed",
                "decline_code": "insufficient_funds",
                "message": "The account has insufficient funds.",
                "payment_intent": {"id": "pi_sepa", "payment_method_types": ["sepa_debit"]},
            }
        },
    ),
    "pm_boom": (500, {"error": {"type": "api_error", "message": "Something went wrong"}}),
    "pm_bad": (
        400,
        {
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": "No such PaymentMethod: 'pm_bad'",
            }
        },
    ),
}


@pytest.fixture(scope="module")
async def stub_gateway() -> AsyncIterator[StripeGateway]:
    """A stand-in Stripe answering each payment method with a fixed reply."""
    app = FastAPI()

    @app.post("/v1/payment_intents")
    async def create(request: Request) -> JSONResponse:
        form = parse_qs((await request.body()).decode())
        status, body = STUB_REPLIES[form["payment_method"][0]]
        return JSONResponse(body, status_code=status)

    port = free_port()
    server, task = await serve_in_background(app, port)
    yield StripeGateway(create_client("sk_test_local", f"http://127.0.0.1:{port}", 5))
    server.should_exit = True
    await task


@pytest.mark.parametrize(
    ("payment_method", "expected"),
    [
        (
            "pm_auth",
            Outcome(
                "failed",
                "pi_auth",
                "authentication_required",
                "Your card was declined. This transaction requires authentication.",
                False,
            ),
        ),
        (
            "pm_stolen",
            Outcome("failed", "pi_stolen", "stolen_card", "Your card was declined.", False),
        ),
        (
            "pm_sepa_poor",
            Outcome(
                "failed",
                "pi_sepa",
                "insufficient_funds",
                "The account has insufficient funds.",
                True,
            ),
        ),
        (
            "pm_bad",
            Outcome("failed", None, "resource_missing", "No such PaymentMethod: 'pm_bad'", False),
        ),
    ],
)
async def test_stripe_errors_as_outcomes(
    stub_gateway: StripeGateway, payment_method: str, expected: Outcome
) -> None:
    request = request_for({"type": "card", "customer": "cus_1", "payment_method": payment_method})
    assert await stub_gateway.charge(request, request.idempotency_key) == expected


async def test_a_server_error_is_retried(stub_gateway: StripeGateway) -> None:
    request = request_for({"type": "card", "customer": "cus_1", "payment_method": "pm_boom"})
    with pytest.raises(GatewayUnavailable, match="Something went wrong"):
        await stub_gateway.charge(request, request.idempotency_key)
