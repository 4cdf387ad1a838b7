"""Stripe's answers (PaymentIntents, webhook events) as outcomes. Pure: plain dicts or Stripe
objects in, `Outcome` out; the gateway and the webhook handler both read Stripe through here, so
a PaymentIntent means the same whichever way it arrived."""

from typing import Any

from payments.domain.declines import card_failure, sepa_failure
from payments.domain.outcomes import Outcome


def field_of(obj: Any, key: str) -> Any:
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
    status = field_of(intent, "status")
    reference = field_of(intent, "id")
    types = field_of(intent, "payment_method_types") or [method_type]
    is_sepa = "sepa_debit" in types
    if status == "succeeded":
        return Outcome("succeeded", reference)
    if status in ("processing", "requires_capture"):
        return Outcome("pending", reference)
    if status in ("requires_action", "requires_confirmation"):
        return card_failure("authentication_required", None, "authentication required", reference)
    error = field_of(intent, "last_payment_error") or {}
    code, decline_code, message = (field_of(error, k) for k in ("code", "decline_code", "message"))
    if status == "canceled":
        return Outcome("failed", reference, "canceled", "the payment was canceled", False)
    if is_sepa:
        return sepa_failure(decline_code or code, message, reference, returned=False)
    return card_failure(code, decline_code, message, reference)


def outcome_of_event(
    event_type: str, obj: dict[str, Any], method_type: str | None = None
) -> tuple[str | None, Outcome] | None:
    """(PaymentIntent id, outcome) for a webhook event this service acts on, else None."""
    if event_type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return obj.get("id"), outcome_of_intent(obj, method_type)
    if event_type == "charge.dispute.created":
        reason = obj.get("reason") or "disputed"
        return obj.get("payment_intent"), Outcome(
            "returned", obj.get("payment_intent"), f"dispute_{reason}", f"disputed: {reason}"
        )
    if event_type == "charge.refunded":
        return obj.get("payment_intent"), Outcome(
            "returned", obj.get("payment_intent"), "refunded", "the payment was refunded"
        )
    return None
