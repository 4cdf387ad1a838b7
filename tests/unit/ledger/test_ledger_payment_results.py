"""Payment results for purchases: applied once, repeated results change nothing."""

from __future__ import annotations

import pytest

from ledger.domain import (
    AutoPurchaseSuspended,
    PaymentResultConflict,
    PurchaseReturned,
    PurchaseSucceeded,
    UnknownPurchase,
    record_purchase_failed,
    record_purchase_returned,
    record_purchase_succeeded,
    replay,
)

from .scenarios import T0, debit, given, purchase_requested, settings


def test_a_success_delivered_twice_adds_the_credits_once() -> None:
    state = given(purchase_requested("pur-1", 5_000, reason="manual"))
    events = record_purchase_succeeded(state, purchase_id="pur-1")
    assert events == [PurchaseSucceeded(purchase_id="pur-1", credits=5_000, amount_minor=5_000)]
    state = replay(events, state)
    assert record_purchase_succeeded(state, purchase_id="pur-1") == []
    assert (state.balance, state.purchases["pur-1"].status) == (5_000, "succeeded")


def test_a_failure_delivered_twice_is_recorded_once() -> None:
    state = given(purchase_requested("pur-1", 5_000, reason="manual"))
    state = replay(
        record_purchase_failed(
            state, purchase_id="pur-1", reason="declined", code=None, retryable=True, now=T0
        ),
        state,
    )
    again = record_purchase_failed(
        state, purchase_id="pur-1", reason="declined", code=None, retryable=True, now=T0
    )
    assert again == []
    assert (state.balance, state.purchases["pur-1"].status) == (0, "failed")


def test_contradicting_results_are_a_conflict() -> None:
    state = given(purchase_requested("pur-1", 5_000, reason="manual"))
    succeeded = replay(record_purchase_succeeded(state, purchase_id="pur-1"), state)
    with pytest.raises(PaymentResultConflict, match="succeeded"):
        record_purchase_failed(
            succeeded, purchase_id="pur-1", reason="late", code=None, retryable=True, now=T0
        )
    with pytest.raises(PaymentResultConflict, match="requested"):
        record_purchase_returned(state, purchase_id="pur-1", reason="AM04", code="AM04")


def test_a_result_for_an_unknown_purchase_is_refused() -> None:
    with pytest.raises(UnknownPurchase, match="pur-x"):
        record_purchase_succeeded(given(), purchase_id="pur-x")


def test_a_return_takes_the_credits_back_below_zero_and_suspends_auto_purchase() -> None:
    state = given(
        settings(auto_purchase_credits=10_000),
        purchase_requested("pur-1", 10_000),
        PurchaseSucceeded(purchase_id="pur-1", credits=10_000, amount_minor=10_000),
    )
    state = replay([purchase_requested("pur-2", 1_000, reason="manual")], state)
    state = replay(record_purchase_succeeded(state, purchase_id="pur-2"), state)
    state = replay(debit(state, "m-1", 8_000), state)
    events = record_purchase_returned(state, purchase_id="pur-1", reason="AM04", code="AM04")
    assert events == [
        PurchaseReturned(
            purchase_id="pur-1", credits=10_000, amount_minor=10_000, reason="AM04", code="AM04"
        ),
        AutoPurchaseSuspended(failures=1, reason="payment returned: AM04"),
    ]
    state = replay(events, state)
    assert state.balance == -7_000
    assert record_purchase_returned(state, purchase_id="pur-1", reason="AM04", code="AM04") == []
    # A late copy of the success after the return changes nothing either.
    assert record_purchase_succeeded(state, purchase_id="pur-1") == []
