"""The low-balance reminder: once per downward crossing, re-armed at or above the threshold."""

from __future__ import annotations

from ledger.domain import (
    CreditsAdjusted,
    CreditsGranted,
    Event,
    LowBalanceReached,
    PartnerAccount,
    PurchaseReturned,
    PurchaseSucceeded,
    ReminderRearmed,
    adjust_credits,
    grant_credits,
    record_purchase_returned,
    record_purchase_succeeded,
    replay,
)

from .records import purchase_record, records_of
from .scenarios import debit, debited, given, purchase_requested, settings


def with_threshold(balance: int, threshold: int = 1_000) -> PartnerAccount:
    """A partner with ``balance`` credits and an armed reminder at ``threshold``."""
    return given(
        CreditsGranted(credits=balance, reason="welcome", actor="ops"),
        settings(reminder_threshold=threshold, reminder_armed=balance >= threshold),
    )


def test_falling_below_the_threshold_fires_the_reminder() -> None:
    state = with_threshold(1_200)
    assert debit(state, "m-1", 300) == [
        debited("m-1", 300),
        LowBalanceReached(balance=900, threshold=1_000),
    ]


def test_landing_exactly_on_the_threshold_does_not_fire() -> None:
    assert debit(with_threshold(1_200), "m-1", 200) == [debited("m-1", 200)]


def test_the_reminder_fires_once_while_the_balance_stays_below() -> None:
    state = with_threshold(1_200)
    state = replay(debit(state, "m-1", 300), state)
    assert state.reminder_armed is False
    assert debit(state, "m-2", 300) == [debited("m-2", 300)]


def test_back_at_the_threshold_re_arms_and_the_next_fall_fires_again() -> None:
    state = with_threshold(1_200)
    state = replay(debit(state, "m-1", 300), state)
    events = grant_credits(state, credits=100, reason="goodwill", actor="ops")
    assert events == [
        CreditsGranted(credits=100, reason="goodwill", actor="ops"),
        ReminderRearmed(balance=1_000, threshold=1_000),
    ]
    state = replay(events, state)
    assert debit(state, "m-2", 1) == [
        debited("m-2", 1),
        LowBalanceReached(balance=999, threshold=1_000),
    ]


def test_a_rise_that_stays_below_the_threshold_does_not_re_arm() -> None:
    state = replay(debit(with_threshold(1_200), "m-1", 1_000), with_threshold(1_200))
    assert grant_credits(state, credits=500, reason="goodwill", actor="ops") == [
        CreditsGranted(credits=500, reason="goodwill", actor="ops")
    ]


def test_a_succeeded_purchase_re_arms_and_a_returned_one_fires() -> None:
    state = with_threshold(1_200)
    requested = purchase_requested("pur-1", 5_000, reason="manual")
    state = replay([requested], state)
    state = replay(debit(state, "m-1", 1_000), state)
    succeeded = record_purchase_succeeded(state, purchase_id="pur-1")
    assert succeeded == [
        PurchaseSucceeded(purchase_id="pur-1", credits=5_000, amount_minor=5_000),
        ReminderRearmed(balance=5_200, threshold=1_000),
    ]
    state = replay(succeeded, state)
    returned = record_purchase_returned(
        state,
        purchase_id="pur-1",
        reason="AM04",
        code="AM04",
        recorded=purchase_record(records_of([requested, *succeeded]), "pur-1"),
    )
    assert returned == [
        PurchaseReturned(
            purchase_id="pur-1", credits=5_000, amount_minor=5_000, reason="AM04", code="AM04"
        ),
        LowBalanceReached(balance=200, threshold=1_000),
    ]


def test_over_a_long_sequence_it_fires_once_per_downward_crossing() -> None:
    state = with_threshold(1_200)
    # balance: 1200 -> 900 (fire) -> 600 -> 1100 (re-arm) -> 1000 -> 999 (fire)
    #          -> 2000 (re-arm) -> 1500 -> -200 (fire) -> -100
    deltas = [-300, -300, +500, -100, -1, +1_001, -500, -1_700, +100]
    recorded: list[Event] = []
    for number, delta in enumerate(deltas):
        if delta < 0:
            events = debit(state, f"m-{number}", -delta)
        else:
            events = grant_credits(state, credits=delta, reason="goodwill", actor="ops")
        recorded += events
        state = replay(events, state)
    reminders = [e for e in recorded if isinstance(e, LowBalanceReached | ReminderRearmed)]
    assert reminders == [
        LowBalanceReached(balance=900, threshold=1_000),
        ReminderRearmed(balance=1_100, threshold=1_000),
        LowBalanceReached(balance=999, threshold=1_000),
        ReminderRearmed(balance=2_000, threshold=1_000),
        LowBalanceReached(balance=-200, threshold=1_000),
    ]
    assert state.balance == -100


def test_an_adjustment_can_cross_downward_too() -> None:
    state = with_threshold(1_200)
    assert adjust_credits(state, delta=-201, reason="correction", actor="ops") == [
        CreditsAdjusted(delta=-201, reason="correction", actor="ops"),
        LowBalanceReached(balance=999, threshold=1_000),
    ]
