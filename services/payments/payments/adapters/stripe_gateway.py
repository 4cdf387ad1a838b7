"""Cards and SEPA direct debits through Stripe: one off-session PaymentIntent per request.

The PaymentIntent is created and confirmed in one call with the saved payment method and an
Idempotency-Key derived from the request id, so a retry within Stripe's 24 h key window replays
the first answer. Stripe may prune keys after that, so a payment in doubt is first looked up by
its `metadata.request_id` among the customer's PaymentIntents (the list endpoint is consistent;
the search endpoint lags behind and is not used).
"""

from datetime import datetime, timedelta
from typing import Any

import stripe

from payments.domain.declines import card_failure, sepa_failure
from payments.domain.outcomes import Outcome
from payments.domain.requests import PaymentRequest
from payments.domain.stripe_answers import field_of, outcome_of_intent
from payments.service_layer.ports import GatewayUnavailable

# The clocks of Stripe and ours differ a little; look a bit further back than the attempt.
_LOOKUP_SLACK = timedelta(minutes=10)


def create_client(
    api_key: str,
    api_base: str,
    timeout_seconds: float,
    http_client: stripe.HTTPXClient | None = None,
) -> stripe.StripeClient:
    """A client on httpx (for the `_async` calls) that does not retry by itself: the worker's
    retries look the payment up first, which the SDK's own retries would not. Whoever passes
    `http_client` closes it (`close_http_client`)."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        http_client=http_client or stripe.HTTPXClient(timeout=timeout_seconds),
        max_network_retries=0,
    )


async def close_http_client(http_client: stripe.HTTPXClient) -> None:
    """Close both connection pools the SDK's httpx client opened (async and sync)."""
    await http_client.close_async()  # type: ignore[no-untyped-call]
    http_client.close()  # type: ignore[no-untyped-call]


def _method_type(request: PaymentRequest) -> str | None:
    return (request.payment_method or {}).get("type")


def _intent_params(request: PaymentRequest) -> dict[str, Any]:
    method = request.payment_method or {}
    return {
        "amount": request.amount_minor,
        "currency": request.currency.lower(),
        "customer": method["customer"],
        "payment_method": method["payment_method"],
        "payment_method_types": [method["type"]],
        "off_session": True,
        "confirm": True,
        "metadata": {
            "request_id": request.request_id,
            "partner_id": request.partner_id,
            "kind": request.kind,
        },
    }


class StripeGateway:
    name = "stripe"

    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    async def charge(self, request: PaymentRequest, idempotency_key: str) -> Outcome:
        try:
            intent = await self._client.v1.payment_intents.create_async(
                _intent_params(request),  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            return _outcome_of_card_error(exc)
        except stripe.StripeError as exc:
            raise_if_unanswered(exc)
            # Stripe refused the request itself (4xx): asking again cannot change that.
            return Outcome(
                "failed", None, exc.code or "invalid_request", exc.user_message or str(exc), False
            )
        return outcome_of_intent(intent, _method_type(request))

    async def lookup(
        self, request: PaymentRequest, idempotency_key: str, since: datetime
    ) -> Outcome | None:
        method = request.payment_method or {}
        params = {
            "customer": method.get("customer"),
            "created": {"gte": int((since - _LOOKUP_SLACK).timestamp())},
            "limit": 100,
        }
        try:
            page = await self._client.v1.payment_intents.list_async(params)  # type: ignore[arg-type]
            async for intent in page.auto_paging_iter():
                if field_of(intent.metadata, "request_id") == request.request_id:
                    return outcome_of_intent(intent, _method_type(request))
        except stripe.StripeError as exc:
            # A lookup that fails leaves the payment in doubt: never charge on a guess.
            raise GatewayUnavailable(f"stripe lookup failed: {exc}") from exc
        return None


def _outcome_of_card_error(exc: stripe.CardError) -> Outcome:
    error = field_of(exc.json_body, "error") or {}
    intent = field_of(error, "payment_intent")
    reference = field_of(intent, "id")
    decline_code = field_of(error, "decline_code")
    if "sepa_debit" in (field_of(intent, "payment_method_types") or []):
        return sepa_failure(decline_code or exc.code, exc.user_message, reference, returned=False)
    return card_failure(exc.code, decline_code, exc.user_message, reference)


def raise_if_unanswered(exc: stripe.StripeError) -> None:
    """Raise `GatewayUnavailable` for what is worth another try with the same key: no answer,
    a 5xx, a rate limit, a concurrent request with the same key (409), or our own credentials
    (an operator fixes those; the payment must not fail for it)."""
    status = exc.http_status
    if isinstance(
        exc,
        stripe.APIConnectionError
        | stripe.RateLimitError
        | stripe.AuthenticationError
        | stripe.PermissionError
        | stripe.APIError,
    ):
        raise GatewayUnavailable(f"stripe unavailable: {exc}") from exc
    if status is None or status >= 500 or status in (409, 429):
        raise GatewayUnavailable(f"stripe unavailable ({status}): {exc}") from exc


class InvalidWebhook(Exception):
    """Not a Stripe event signed with our secret within the tolerance."""


def verify_webhook(
    payload: bytes, signature: str | None, secret: str, tolerance_seconds: int
) -> dict[str, Any]:
    """The event Stripe signed, as a dict; `InvalidWebhook` with Stripe's reason otherwise."""
    try:
        verified = stripe.Webhook.construct_event(
            payload.decode("utf-8"), signature, secret, tolerance_seconds
        )
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise InvalidWebhook(str(exc)) from exc
    event: dict[str, Any] = verified.to_dict()
    if "id" not in event or "type" not in event:
        raise InvalidWebhook("not a Stripe event")
    return event
