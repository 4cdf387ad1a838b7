"""Reconciliation: the payments the ledger recorded against the payment gateway's own records.

The ledger knows each purchase and on-demand charge by its id, with the amount it asked for and
whether it was paid; the gateway (Stripe) knows each PaymentIntent with the request id in its
metadata. Whatever is paid on one side and not the other, or paid with another amount, is listed.
SEPA collected by bank file is reconciled against the bank's statements instead, not here.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

import stripe


@dataclass(frozen=True, slots=True)
class RecordedPayment:
    request_id: str
    partner_id: str
    amount_minor: int
    currency: str
    paid: bool


@dataclass(frozen=True, slots=True)
class Mismatch:
    request_id: str
    partner_id: str
    problem: str


def _problem(ours: RecordedPayment | None, theirs: RecordedPayment | None) -> str | None:
    if theirs is None or not theirs.paid:
        return "paid in the ledger, not at the gateway" if ours and ours.paid else None
    if ours is None:
        return "paid at the gateway, unknown to the ledger"
    if not ours.paid:
        return "paid at the gateway, not in the ledger"
    if (ours.amount_minor, ours.currency) != (theirs.amount_minor, theirs.currency):
        return (
            f"amount differs: ledger {ours.amount_minor} {ours.currency},"
            f" gateway {theirs.amount_minor} {theirs.currency}"
        )
    return None


def compare(
    ledger: Mapping[str, RecordedPayment], gateway: Mapping[str, RecordedPayment]
) -> list[Mismatch]:
    """Every request whose paid state or paid amount differs between the two sides."""
    found = []
    for request_id in sorted(set(ledger) | set(gateway)):
        ours, theirs = ledger.get(request_id), gateway.get(request_id)
        problem = _problem(ours, theirs)
        if problem is not None:
            partner = (ours or theirs or RecordedPayment(request_id, "?", 0, "", False)).partner_id
            found.append(Mismatch(request_id, partner, problem))
    return found


def from_intents(intents: Iterable[stripe.PaymentIntent]) -> dict[str, RecordedPayment]:
    """The gateway's view: a request counts as paid when one of its intents succeeded."""
    payments: dict[str, RecordedPayment] = {}
    for intent in intents:
        metadata = cast(Mapping[str, str], intent.metadata.to_dict() if intent.metadata else {})
        request_id = metadata.get("request_id")
        if not request_id:
            continue  # not one of ours
        paid = intent.status == "succeeded"
        if paid or request_id not in payments:
            payments[request_id] = RecordedPayment(
                request_id,
                metadata.get("partner_id", "?"),
                intent.amount,
                intent.currency.upper(),
                paid,
            )
    return payments


async def gateway_payments(client: stripe.StripeClient) -> dict[str, RecordedPayment]:
    page = await client.v1.payment_intents.list_async({"limit": 100})
    return from_intents([intent async for intent in page.auto_paging_iter()])
