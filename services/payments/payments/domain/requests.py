"""A purchase or charge request from the ledger, which gateway takes it, and what is refused.

Payment methods (the ledger stores only gateway references and mandate data, never card data):
- `{"type": "card", "customer": "cus_..", "payment_method": "pm_.."}`: Stripe, off session;
- `{"type": "sepa_debit", "customer": "cus_..", "payment_method": "pm_.."}`: SEPA Core through
  Stripe (the mandate was collected when the method was saved);
- `{"type": "sepa_debit", "iban", "account_holder", "mandate_reference", "mandate_signed_on"}`
  (optionally `bic`): SEPA Core collected by the platform's own bank, in the daily pain.008 file.
"""

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from payments.domain.outcomes import Outcome

Kind = Literal["purchase", "charge"]
GatewayName = Literal["stripe", "sepa_file", "none"]

REQUEST_TYPES: dict[str, Kind] = {
    "ledger.purchase_requested": "purchase",
    "ledger.charge_requested": "charge",
}


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    request_id: str
    kind: Kind
    partner_id: str
    amount_minor: int
    currency: str
    payment_method: dict[str, Any] | None
    message_id: str

    @staticmethod
    def from_message(message_id: str, message_type: str, data: dict[str, Any]) -> "PaymentRequest":
        """From a validated `ledger.purchase_requested` or `ledger.charge_requested` payload."""
        kind = REQUEST_TYPES[message_type]
        return PaymentRequest(
            request_id=data["purchase_id"] if kind == "purchase" else data["charge_id"],
            kind=kind,
            partner_id=data["partner_id"],
            amount_minor=data["amount_minor"],
            currency=data["currency"],
            payment_method=data["payment_method"],
            message_id=message_id,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "kind": self.kind,
            "partner_id": self.partner_id,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "payment_method": self.payment_method,
            "message_id": self.message_id,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> "PaymentRequest":
        return PaymentRequest(**data)

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.request_id)

    @property
    def method_key(self) -> str | None:
        """What identifies the payment method across requests (for the decline limit)."""
        method = self.payment_method or {}
        return method.get("payment_method") or method.get("iban")


def idempotency_key(request_id: str) -> str:
    """The gateway's Idempotency-Key: the same for every try of one request, and different for
    any other (the request id is unique per purchase or charge)."""
    return f"mailbill-payment-{request_id}"


def end_to_end_id(request_id: str) -> str:
    """The SEPA EndToEndId (at most 35 characters of a restricted set): a digest of the request
    id, so it is stable across retries and finds the request again in the bank's files."""
    return "MB" + hashlib.sha256(request_id.encode()).hexdigest()[:32].upper()


def route(method: dict[str, Any] | None) -> GatewayName | Outcome:
    """The gateway for a payment method, or the refusal when there is none."""
    if method is None:
        return refusal("no_payment_method", "the partner has no payment method")
    kind = method.get("type")
    if kind in ("card", "sepa_debit") and _is_stripe_reference(method):
        return "stripe"
    if kind == "sepa_debit" and method.get("iban"):
        return "sepa_file"
    return refusal("unsupported_payment_method", f"payment method {kind!r} cannot be charged")


def _is_stripe_reference(method: dict[str, Any]) -> bool:
    return str(method.get("customer", "")).startswith("cus_") and str(
        method.get("payment_method", "")
    ).startswith("pm_")


def check_amount(amount_minor: int, minimum_minor: int) -> Outcome | None:
    """Defence in depth: the ledger carries amounts below the gateway's minimum into the next
    charge, so one that arrives anyway is refused (never held silently), visibly."""
    if amount_minor < minimum_minor:
        return refusal(
            "amount_below_minimum",
            f"{amount_minor} is below the minimum charge of {minimum_minor} (minor units)",
        )
    return None


def check_decline_limit(declines_last_30_days: int, limit: int) -> Outcome | None:
    """Card networks cap retries per card; past `limit` recent declines the worker stops asking
    the gateway until the partner changes the payment method."""
    if declines_last_30_days >= limit:
        return refusal(
            "retry_limit_reached",
            f"{declines_last_30_days} declines of this payment method in 30 days",
        )
    return None


def refusal(code: str, reason: str) -> Outcome:
    """A request the worker will not take to any gateway; asking again cannot change that."""
    return Outcome(status="failed", code=code, reason=reason, retryable=False)
