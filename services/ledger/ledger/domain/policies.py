"""Decision rules of the partner account, as small pure functions of plain values.

They know nothing about events or the state class, so each rule can be read and tested on
its own; ``partner_account`` turns their answers into events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

ReminderTransition = Literal["fire", "rearm"]
PaymentStatus = Literal["requested", "succeeded", "failed", "returned"]
PaymentResult = Literal["succeeded", "failed", "returned"]

AUTO_PURCHASE_BACKOFF: tuple[timedelta, ...] = (timedelta(hours=1), timedelta(hours=4))
"""Wait after the 1st, 2nd, ... consecutive declined automatic purchase (the last one repeats)."""

MAX_AUTO_PURCHASE_FAILURES = 3
"""Consecutive declined automatic purchases after which auto-purchase is suspended."""

DEFAULT_MINIMUM_CHARGE_MINOR = 50
"""The gateway's smallest charge (EUR 0.50); smaller on-demand amounts wait for the next one."""


def reminder_armed_for(*, balance: int, threshold: int | None) -> bool:
    """Whether the reminder may fire: only while the balance is at or above the threshold.

    This is also the rule when the partner changes the threshold: a new threshold above the
    current balance is not a crossing, so it stays silent until the balance has been back at
    or above it and falls again.
    """
    return threshold is not None and balance >= threshold


def reminder_transition(
    *, balance: int, threshold: int | None, armed: bool
) -> ReminderTransition | None:
    """What the reminder does after the balance became ``balance``.

    ``"fire"`` once when an armed reminder sees the balance below the threshold (a downward
    crossing), ``"rearm"`` once the balance is back at or above it, otherwise nothing.
    """
    if threshold is None:
        return None
    if armed and balance < threshold:
        return "fire"
    if not armed and balance >= threshold:
        return "rearm"
    return None


def threshold_transitions(
    *, balance: int, thresholds: tuple[int, ...], below: tuple[int, ...]
) -> tuple[list[int], list[int]]:
    """Which alert levels the balance just crossed: ``(fallen, climbed)``.

    The same edge rule as the reminder, for each level on its own: a level not in ``below``
    (armed) that the balance is now under has fallen (highest first, the order a falling
    balance passes them); a level in ``below`` that the balance is at or above again has
    climbed (lowest first): it recovers if it had fired, and is only armed if it was set
    above the balance.
    """
    fallen = [t for t in thresholds if t not in below and balance < t]
    climbed = [t for t in below if balance >= t]
    return sorted(fallen, reverse=True), sorted(climbed)


def month_of(at: datetime) -> str:
    """The UTC month (``YYYY-MM``) a budget counts ``at`` in."""
    return at.astimezone(UTC).strftime("%Y-%m")


def budget_percent_reached(*, used: int, monthly_credits: int, percent: int) -> bool:
    """Whether ``used`` credits reach ``percent`` of a monthly budget (nothing used reaches
    nothing, even of a budget of 0)."""
    return used > 0 and used * 100 >= percent * monthly_credits


def auto_purchase_amount(*, balance: int, chunk: int, trigger: int | None) -> int | None:
    """Credits an automatic purchase should buy now, or ``None`` when the balance is high enough.

    The purchase fires when the balance is used up (``<= 0``) or, with a trigger threshold, at
    or below the trigger. It buys the smallest whole number of chunks that lifts the balance
    strictly above that level again; landing exactly on it would make the next purchase due at
    once. Example: chunk 10,000, no trigger, balance -25,000 -> 30,000 (balance 5,000);
    balance -30,000 -> 40,000.
    """
    if chunk <= 0:
        raise ValueError("the auto-purchase chunk must be positive")
    level = 0 if trigger is None else trigger
    if balance > level:
        return None
    chunks = (level - balance) // chunk + 1
    return chunks * chunk


def should_suspend_auto_purchase(*, failures: int, retryable: bool) -> bool:
    """Suspend after ``MAX_AUTO_PURCHASE_FAILURES`` consecutive declines, or at once on a hard
    decline: the payment worker reports those as not retryable (stolen card, authentication
    required), and buying again automatically would only be declined again.
    """
    return not retryable or failures >= MAX_AUTO_PURCHASE_FAILURES


def auto_purchase_retry_at(*, failures: int, now: datetime) -> datetime:
    """When the next automatic purchase may start after ``failures`` consecutive declines."""
    if failures < 1:
        raise ValueError("a back-off needs at least one failure")
    step = min(failures, len(AUTO_PURCHASE_BACKOFF)) - 1
    return now + AUTO_PURCHASE_BACKOFF[step]


def charge_due(*, uncharged_minor: int, minimum_charge_minor: int) -> bool:
    """Whether the money waiting to be charged on demand is enough for one gateway charge."""
    return uncharged_minor > 0 and uncharged_minor >= minimum_charge_minor


def reservation_expired(*, expires_at: datetime, now: datetime) -> bool:
    """A hold lives for its time to live; at ``expires_at`` it is over."""
    return now >= expires_at


_MAY_FOLLOW: dict[PaymentResult, tuple[PaymentStatus, ...]] = {
    "succeeded": ("requested",),
    "failed": ("requested",),
    "returned": ("succeeded",),
}
# The result itself, or a later stage of the same payment: a late copy of an old result.
_ALREADY_SEEN: dict[PaymentResult, tuple[PaymentStatus, ...]] = {
    "succeeded": ("succeeded", "returned"),
    "failed": ("failed",),
    "returned": ("returned",),
}


def payment_result_action(
    *, status: PaymentStatus, result: PaymentResult
) -> Literal["apply", "duplicate", "conflict"]:
    """How a payment result (for a purchase or a charge) meets the recorded status.

    Results are delivered at least once, so a result already recorded (or one the payment
    has already moved past, like ``succeeded`` after ``returned``) is a ``"duplicate"`` that
    changes nothing. A result that contradicts the record (``failed`` after ``succeeded``) is
    a ``"conflict"``.
    """
    if status in _MAY_FOLLOW[result]:
        return "apply"
    if status in _ALREADY_SEEN[result]:
        return "duplicate"
    return "conflict"
