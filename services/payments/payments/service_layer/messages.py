"""The one place where the worker's state becomes the wire contract (`payments.payment_result`)."""

import uuid
from datetime import datetime

from payments.domain.outcomes import AttemptStatus, Outcome
from payments.service_layer.ports import Attempt
from shared.envelope import CloudEvent

SOURCE = "/payments"
RESULT_TYPE = "payments.payment_result"
_IDS = uuid.UUID("5f0c1d2e-8a7b-4c3d-9e1f-2a3b4c5d6e7f")


def result_id(request_id: str, status: AttemptStatus) -> str:
    """A request reaches each status once, so (request, status) names its result: a relay that
    publishes a row twice publishes the same id, which the ledger drops."""
    return str(uuid.uuid5(_IDS, f"{request_id}/{status}"))


def payment_result(
    attempt: Attempt, status: AttemptStatus, outcome: Outcome, now: datetime
) -> CloudEvent:
    """The result for one status change of an attempt (as it was before the change)."""
    failure = status in ("failed", "returned")
    request = attempt.request
    data = {
        "partner_id": request.partner_id,
        "request_id": request.request_id,
        "kind": request.kind,
        "status": status,
        "amount_minor": request.amount_minor,
        "currency": request.currency,
        "reason": outcome.reason if failure else None,
        "code": outcome.code if failure else None,
        "retryable": outcome.retryable if status == "failed" else False,
        "gateway": attempt.gateway,
        "gateway_reference": outcome.reference or attempt.gateway_reference,
        "occurred_at": now.isoformat(),
    }
    return CloudEvent.new(
        RESULT_TYPE,
        SOURCE,
        data,
        subject=request.request_id,
        id=result_id(request.request_id, status),
        time=now,
    )
