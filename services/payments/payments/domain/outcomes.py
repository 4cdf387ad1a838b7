"""What a gateway said about a payment, and how a payment's recorded state may move on.

An attempt is `charging` from the moment it is recorded (before any gateway call) until a gateway
answer is recorded; then `pending` (SEPA: days until the bank settles), `succeeded` or `failed`;
a succeeded payment can still be `returned` (SEPA return, dispute, refund). Answers arrive more
than once and out of order (the worker's own call, a lookup after a crash, webhooks, bank files),
so every answer goes through `transition`, and only a real change is published.
"""

from dataclasses import dataclass
from typing import Literal

AttemptStatus = Literal["charging", "pending", "succeeded", "failed", "returned"]
OutcomeStatus = Literal["pending", "succeeded", "failed", "returned"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One answer about a payment. `retryable` only means something for `failed`: whether asking
    again later (a new request from the ledger) may succeed."""

    status: OutcomeStatus
    reference: str | None = None
    code: str | None = None
    reason: str | None = None
    retryable: bool = False


def transition(current: AttemptStatus, outcome: OutcomeStatus) -> AttemptStatus | None:
    """The attempt's next status after `outcome`, or None when nothing changes (a repeat, a late
    copy, or an answer that contradicts what was already published).

    A return of a payment that never succeeded is a failure: the ledger granted nothing for it,
    and it only accepts `returned` after `succeeded`.
    """
    if current in ("charging", "pending"):
        if outcome == "returned":
            return "failed"
        if outcome == "pending" and current == "pending":
            return None
        return outcome
    if current == "succeeded" and outcome == "returned":
        return "returned"
    return None


def is_final(status: AttemptStatus) -> bool:
    """Whether the gateway has nothing more to say, short of a later return."""
    return status in ("succeeded", "failed", "returned")
