"""Payment results for purchases: applied once, repeated results change nothing."""

from __future__ import annotations

import pytest

from ledger.domain import (
    AutoPurchaseSuspended,
    Event,
    PaymentResultConflict,
    PurchaseReturned,
    PurchaseSucceeded,
    UnknownPurchase,
    record_purchase_failed,
    record_purchase_returned,
    record_purchase_succeeded,
    replay,
)

from .records import purchase_record, records_of
from .scenarios import T0, debit, given, purchase_requested, settings


def test_a_success_delivered_twice_adds_the_credits_once() -> None:
    history: list[Event] = [purchase_requested("pur-1", 5_000, reason="manual")]
    state = given(*history)
    events = record_purchase_succeeded(state, purchase_id="pur-1")
    assert events == [PurchaseSucceeded(purchase_id="pur-1", credits=5_000, amount_minor=5_000)]
    state = replay(events, state)
    history += events
    recorded = purchase_record(records_of(history), "pur-1")
    assert recorded is not None
    assert record_purchase_succeeded(state, purchase_id="pur-1", recorded=recorded) == []
    assert (state.balance, recorded.status) == (5_000, "succeeded")
    assert "pur-1" not in state.purchases_in_flight


def test_a_failure_delivered_twice_is_recorded_once() -> None:
    history: list[Event] = [purchase_requested("pur-1", 5_000, reason="manual")]
    state = given(*history)
    events = record_purchase_failed(
        state, purchase_id="pur-1", reason="declined", code=None, retryable=True, now=T0
    )
    state = replay(events, state)
    history += events
    recorded = purchase_record(records_of(history), "pur-1")
    assert recorded is not None
    again = record_purchase_failed(
        state,
        purchase_id="pur-1",
        reason="declined",
        code=None,
        retryable=True,
        now=T0,
        recorded=recorded,
    )
    assert again == []
    assert (state.balance, recorded.status) == (0, "failed")
    assert "pur-1" not in state.purchases_in_flight


def test_contradicting_results_are_a_conflict() -> None:
    history: list[Event] = [purchase_requested("pur-1", 5_000, reason="manual")]
    state = given(*history)
    success = record_purchase_succeeded(state, purchase_id="pur-1")
    succeeded = replay(success, state)
    recorded = purchase_record(records_of([*history, *success]), "pur-1")
    with pytest.raises(PaymentResultConflict, match="succeeded"):
        record_purchase_failed(
            succeeded,
            purchase_id="pur-1",
            reason="late",
            code=None,
            retryable=True,
            now=T0,
            recorded=recorded,
        )
    with pytest.raises(PaymentResultConflict, match="requested"):
        record_purchase_returned(
            state,
            purchase_id="pur-1",
            reason="AM04",
            code="AM04",
            recorded=purchase_record(records_of(history), "pur-1"),
        )


def test_a_result_for_a_closed_purchase_needs_its_record() -> None:
    history: list[Event] = [purchase_requested("pur-1", 5_000, reason="manual")]
    state = given(*history)
    events = record_purchase_succeeded(state, purchase_id="pur-1")
    state = replay(events, state)
    # The state no longer knows the purchase; only the ledger's record answers for it.
    with pytest.raises(UnknownPurchase, match="pur-1"):
        record_purchase_succeeded(state, purchase_id="pur-1")


def test_a_result_for_an_unknown_purchase_is_refused() -> None:
    with pytest.raises(UnknownPurchase, match="pur-x"):
        record_purchase_succeeded(given(), purchase_id="pur-x")


def test_a_return_takes_the_credits_back_below_zero_and_suspends_auto_purchase() -> None:
    history: list[Event] = [
        settings(auto_purchase_credits=10_000),
        purchase_requested("pur-1", 10_000),
        PurchaseSucceeded(purchase_id="pur-1", credits=10_000, amount_minor=10_000),
    ]
    state = given(*history)

    def record(events: list[Event]) -> None:
        nonlocal state
        history.extend(events)
        state = replay(events, state)

    record([purchase_requested("pur-2", 1_000, reason="manual")])
    record(record_purchase_succeeded(state, purchase_id="pur-2"))
    record(debit(state, "m-1", 8_000))
    events = record_purchase_returned(
        state,
        purchase_id="pur-1",
        reason="AM04",
        code="AM04",
        recorded=purchase_record(records_of(history), "pur-1"),
    )
    assert events == [
        PurchaseReturned(
            purchase_id="pur-1", credits=10_000, amount_minor=10_000, reason="AM04", code="AM04"
        ),
        AutoPurchaseSuspended(failures=1, reason="payment returned: AM04"),
    ]
    record(events)
    assert state.balance == -7_000
    recorded = purchase_record(records_of(history), "pur-1")
    assert recorded is not None
    assert recorded.status == "returned"
    assert (
        record_purchase_returned(
            state, purchase_id="pur-1", reason="AM04", code="AM04", recorded=recorded
        )
        == []
    )
    # A late copy of the success after the return changes nothing either.
    assert record_purchase_succeeded(state, purchase_id="pur-1", recorded=recorded) == []
