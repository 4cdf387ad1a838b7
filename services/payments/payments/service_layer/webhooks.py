"""Stripe webhook events as payment outcomes.

Stripe delivers each event at least once, in no particular order, and retries for days. An
event takes effect once: its id is recorded in the same transaction as the outcome and the
result it publishes. Event types used:
- `payment_intent.succeeded` / `payment_intent.payment_failed`: a SEPA debit (or a card that
  was still pending) settled or failed;
- `charge.dispute.created`: a SEPA return or a card chargeback; final for SEPA;
- `charge.refunded`: money given back.
Others are acknowledged and ignored. The signature is checked before (the API, with the adapter).
"""

from datetime import datetime
from typing import Any

import structlog

from payments.domain.outcomes import AttemptStatus
from payments.domain.stripe_answers import outcome_of_event
from payments.service_layer.outcomes import record_outcome
from payments.service_layer.ports import UnitOfWork

log = structlog.get_logger(__name__)


async def apply_stripe_event(
    uow: UnitOfWork, event: dict[str, Any], now: datetime
) -> AttemptStatus | None:
    """Apply one verified event inside the caller's transaction; the new status, if any."""
    if not await uow.stripe_events.first_time(event["id"], event["type"]):
        return None
    obj = event.get("data", {}).get("object", {})
    found = outcome_of_event(event["type"], obj)
    if found is None:
        return None
    intent_id = found[0]
    request_id = (obj.get("metadata") or {}).get("request_id")
    if request_id is None and intent_id:
        request_id = await uow.attempts.request_for_reference(intent_id)
    attempt = await uow.attempts.get(request_id) if request_id else None
    if attempt is None:
        log.info("stripe event for no payment of ours", event_id=event["id"], type=event["type"])
        return None
    # Read again knowing the method: an intent without `payment_method_types` is ours to type.
    method_type = (attempt.request.payment_method or {}).get("type")
    _, outcome = outcome_of_event(event["type"], obj, method_type) or found
    return await record_outcome(uow, attempt.request.request_id, outcome, now)
