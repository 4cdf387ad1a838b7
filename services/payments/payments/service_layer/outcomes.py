"""The one way an attempt's status changes once it is recorded.

The worker's own call, a lookup after a crash, Stripe's webhooks and the bank's files all answer
through `record_outcome`, more than once and in any order: the attempt is locked, the domain's
`transition` says whether the answer changes anything, and a change is stored together with the
result it publishes, in the caller's transaction.
"""

from datetime import datetime

from prometheus_client import Counter

from payments.domain.outcomes import AttemptStatus, Outcome, transition
from payments.service_layer.messages import payment_result
from payments.service_layer.ports import UnitOfWork
from shared.messaging.outbox import outgoing

# Every status change, whoever brought the answer (the worker's call, a webhook, a bank file):
# the gateway's own answers alone miss SEPA returns, disputes and refunds. Counted before the
# caller commits, so a rolled-back change counts too; payments are few, an overcount is rare.
CHANGES = Counter("payments_outcomes_total", "Attempt status changes recorded", ["status"])


async def record_outcome(
    uow: UnitOfWork, request_id: str, outcome: Outcome, now: datetime
) -> AttemptStatus | None:
    """Apply `outcome` to the attempt and queue its result; the new status, or None when the
    outcome changes nothing (unknown request, a repeat, a late copy)."""
    attempt = await uow.attempts.get(request_id, for_update=True)
    if attempt is None:
        return None
    status = transition(attempt.status, outcome.status)
    if status is None:
        return None
    await uow.attempts.save_outcome(request_id, status, outcome)
    result = payment_result(attempt, status, outcome, now)
    await uow.outbox.write([outgoing(result, attempt.request.partner_id)])
    CHANGES.labels(status).inc()
    return status
