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
from payments.gateways import GatewayUnavailable

# The clocks of Stripe and ours differ a little; look a bit further back than the attempt.
_LOOKUP_SLACK = timedelta(minutes=10)


def create_client(api_key: str, api_base: str, timeout_seconds: float) -> stripe.StripeClient:
    """A client on httpx (for the `_async` calls) that does not retry by itself: the worker's
    retries look the payment up first, which the SDK's own retries would not."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        http_client=stripe.HTTPXClient(timeout=timeout_seconds),
        max_network_retries=0,
    )


def _get(obj: Any, key: str) -> Any:
    """A field of a Stripe object or a plain dict (webhook payloads), None when absent."""
    if obj is None:
        return None
    try:
        return obj[key]
    except (KeyError, TypeError):
        return None


def outcome_of_intent(intent: Any, method_type: str | None = None) -> Outcome:
    """A PaymentIntent's state as an outcome; `method_type` (ours) says how to read a failure
    when the intent does not list its `payment_method_types`. An off-session intent that wants
    authentication (`requires_action`) is a hard decline: the partner must come back."""
    status = _get(intent, "status")
    reference = _get(intent, "id")
    types = _get(intent, "payment_method_types") or [method_type]
    is_sepa = "sepa_debit" in types
    if status == "succeeded":
        return Outcome("succeeded", reference)
    if status in ("processing", "requires_capture"):
        return Outcome("pending", reference)
    if status in ("requires_action", "requires_confirmation"):
        return card_failure("authentication_required", None, "authentication required", reference)
    error = _get(intent, "last_payment_error") or {}
    code, decline_code, message = (_get(error, k) for k in ("code", "decline_code", "message"))
    if status == "canceled":
        return Outcome("failed", reference, "canceled", "the payment was canceled", False)
    if is_sepa:
        return sepa_failure(decline_code or code, message, reference, returned=False)
    return card_failure(code, decline_code, message, reference)


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
                if _get(intent.metadata, "request_id") == request.request_id:
                    return outcome_of_intent(intent, _method_type(request))
        except stripe.StripeError as exc:
            # A lookup that fails leaves the payment in doubt: never charge on a guess.
            raise GatewayUnavailable(f"stripe lookup failed: {exc}") from exc
        return None


def _outcome_of_card_error(exc: stripe.CardError) -> Outcome:
    error = _get(exc.json_body, "error") or {}
    intent = _get(error, "payment_intent")
    reference = _get(intent, "id")
    decline_code = _get(error, "decline_code")
    if "sepa_debit" in (_get(intent, "payment_method_types") or []):
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
