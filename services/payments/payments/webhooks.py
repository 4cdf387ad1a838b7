"""Stripe webhook events as payment outcomes.

Stripe delivers each event at least once, in no particular order, and retries for days. An
event takes effect once: its id is recorded in the same transaction as the outcome and the
result it publishes. Event types used:
- `payment_intent.succeeded` / `payment_intent.payment_failed`: a SEPA debit (or a card that
  was still pending) settled or failed;
- `charge.dispute.created`: a SEPA return or a card chargeback; final for SEPA;
- `charge.refunded`: money given back.
Others are acknowledged and ignored.
"""

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters import attempts
from payments.domain.outcomes import AttemptStatus, Outcome
from payments.gateways.stripe_gateway import outcome_of_intent

log = structlog.get_logger(__name__)

_SEEN = text(
    "INSERT INTO stripe_events (event_id, type) VALUES (:id, :type)"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


def outcome_of_event(
    event_type: str, obj: dict[str, Any], method_type: str | None = None
) -> tuple[str | None, Outcome] | None:
    """(PaymentIntent id, outcome) for an event this service acts on, else None."""
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


async def apply_event(
    connection: AsyncConnection, event: dict[str, Any], now: datetime
) -> AttemptStatus | None:
    """Apply one verified event inside the caller's transaction; the new status, if any."""
    first_time = (
        await connection.execute(_SEEN, {"id": event["id"], "type": event["type"]})
    ).first()
    if first_time is None:
        return None
    obj = event.get("data", {}).get("object", {})
    found = outcome_of_event(event["type"], obj)
    if found is None:
        return None
    intent_id = found[0]
    request_id = (obj.get("metadata") or {}).get("request_id")
    if request_id is None and intent_id:
        request_id = await attempts.request_for_reference(connection, intent_id)
    attempt = await attempts.load(connection, request_id) if request_id else None
    if attempt is None:
        log.info("stripe event for no payment of ours", event_id=event["id"], type=event["type"])
        return None
    method_type = (attempt.request.payment_method or {}).get("type")
    _, outcome = outcome_of_event(event["type"], obj, method_type) or found
    return await attempts.record_outcome(connection, attempt.request.request_id, outcome, now)
