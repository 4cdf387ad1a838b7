"""Auto-purchase: when it is due, how much it buys, one at a time, back-off and suspension."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.domain import (
    AutoPurchaseNotAllowed,
    AutoPurchaseResumed,
    AutoPurchaseSuspended,
    CreditsAdjusted,
    Event,
    InvalidCommand,
    PartnerAccount,
    PurchaseAlreadyInFlight,
    PurchaseConflict,
    PurchaseFailed,
    PurchaseRequested,
    PurchaseSucceeded,
    auto_purchase_due,
    auto_purchase_id,
    record_purchase_failed,
    record_purchase_succeeded,
    replay,
    request_purchase,
)
from ledger.domain.policies import auto_purchase_amount

from .scenarios import CARD, ON_DEMAND, T0, given, purchase_requested, settings

CHUNK = 10_000


def auto(balance: int, *events: Event, trigger: int | None = None) -> PartnerAccount:
    """A prepaid partner at ``balance`` buying ``CHUNK`` credits automatically, then ``events``."""
    return given(
        settings(auto_purchase_credits=CHUNK, auto_purchase_trigger=trigger),
        *([CreditsAdjusted(delta=balance, reason="opening", actor="ops")] if balance else []),
        *events,
    )


def request_auto(
    state: PartnerAccount, credits: int, *, now: timedelta = timedelta()
) -> list[Event]:
    return request_purchase(
        state,
        purchase_id=auto_purchase_id(state),
        credits=credits,
        amount_minor=credits,
        currency="EUR",
        price_list_id="credits-eur",
        price_list_version=1,
        reason="auto",
        actor="system",
        now=T0 + now,
    )


def fail(state: PartnerAccount, purchase_id: str, *, retryable: bool = True) -> list[Event]:
    return record_purchase_failed(
        state,
        purchase_id=purchase_id,
        reason="insufficient funds",
        code="card_declined",
        retryable=retryable,
        now=T0,
    )


def test_due_when_the_balance_is_used_up() -> None:
    assert auto_purchase_due(auto(0), T0) == CHUNK
    assert auto_purchase_due(auto(1), T0) is None


def test_due_at_the_trigger_threshold() -> None:
    assert auto_purchase_due(auto(2_000, trigger=2_000), T0) == CHUNK
    assert auto_purchase_due(auto(2_001, trigger=2_000), T0) is None


@pytest.mark.parametrize(
    ("balance", "trigger", "credits"),
    [
        (0, None, 10_000),  # one chunk lifts 0 to 10,000
        (-1, None, 10_000),
        (-9_999, None, 10_000),
        (-10_000, None, 20_000),  # one chunk would land on 0, still "used up"
        (-25_000, None, 30_000),  # three chunks: 5,000 left after the purchase
        (-30_000, None, 40_000),
        (5_000, 5_000, 10_000),  # 15,000 > trigger 5,000
        (-20_000, 5_000, 30_000),  # 10,000 > 5,000; two chunks would land on 0
        (20_000, 20_000, 10_000),  # trigger above the chunk: 30,000 > 20,000
    ],
)
def test_the_amount_is_the_fewest_chunks_that_lift_the_balance_above_the_trigger(
    balance: int, trigger: int | None, credits: int
) -> None:
    assert auto_purchase_due(auto(balance, trigger=trigger), T0) == credits
    assert auto_purchase_amount(balance=balance, chunk=CHUNK, trigger=trigger) == credits


def test_not_due_when_off_or_on_demand() -> None:
    assert auto_purchase_due(given(), T0) is None
    on_demand_with_auto = settings(billing_mode="on_demand", auto_purchase_credits=CHUNK)
    assert auto_purchase_due(given(on_demand_with_auto), T0) is None
    assert auto_purchase_due(given(ON_DEMAND), T0) is None


def test_requesting_a_due_purchase_records_it_with_a_derived_id() -> None:
    state = auto(-25_000)
    assert auto_purchase_id(state) == "partner-1:auto-purchase:4"
    assert request_auto(state, 30_000) == [
        PurchaseRequested(
            purchase_id="partner-1:auto-purchase:4",
            credits=30_000,
            amount_minor=30_000,
            currency="EUR",
            price_list_id="credits-eur",
            price_list_version=1,
            reason="auto",
            actor="system",
            payment_method=CARD,
        )
    ]


def test_at_most_one_purchase_is_in_flight() -> None:
    state = auto(0, purchase_requested("pur-1", CHUNK))
    assert list(state.purchases_in_flight) == ["pur-1"]
    assert auto_purchase_due(state, T0) is None
    with pytest.raises(PurchaseAlreadyInFlight, match="pur-1"):
        request_auto(state, CHUNK)


def test_a_manual_purchase_in_flight_also_holds_auto_purchase_back() -> None:
    state = auto(0, purchase_requested("pur-m", 50_000, reason="manual"))
    assert auto_purchase_due(state, T0) is None


def test_a_manual_purchase_is_allowed_while_an_automatic_one_is_in_flight() -> None:
    state = auto(0, purchase_requested("pur-1", CHUNK))
    events = request_purchase(
        state,
        purchase_id="pur-m",
        credits=50_000,
        amount_minor=40_000,
        currency="EUR",
        price_list_id="credits-eur",
        price_list_version=1,
        reason="manual",
        actor="partner:alice",
        now=T0,
    )
    assert [type(e) for e in events] == [PurchaseRequested]


def test_repeating_a_request_changes_nothing_and_reusing_its_id_is_a_conflict() -> None:
    state = auto(0)
    state = replay(request_auto(state, CHUNK), state)
    assert len(state.purchases_in_flight) == 1
    purchase_id = next(iter(state.purchases_in_flight))
    repeat = request_purchase(
        state,
        purchase_id=purchase_id,
        credits=CHUNK,
        amount_minor=CHUNK,
        currency="EUR",
        price_list_id="credits-eur",
        price_list_version=1,
        reason="auto",
        actor="system",
        now=T0,
    )
    assert repeat == []
    with pytest.raises(PurchaseConflict):
        request_purchase(
            state,
            purchase_id=purchase_id,
            credits=2 * CHUNK,
            amount_minor=CHUNK,
            currency="EUR",
            price_list_id="credits-eur",
            price_list_version=1,
            reason="auto",
            actor="system",
            now=T0,
        )


def test_a_success_adds_the_credits_and_the_next_purchase_can_follow() -> None:
    state = auto(-25_000, purchase_requested("pur-1", 30_000))
    events = record_purchase_succeeded(state, purchase_id="pur-1")
    assert events == [PurchaseSucceeded(purchase_id="pur-1", credits=30_000, amount_minor=30_000)]
    state = replay(events, state)
    assert state.balance == 5_000
    assert auto_purchase_due(state, T0) is None


def test_a_decline_backs_off_one_hour_then_four_hours_then_suspends() -> None:
    state = auto(0, purchase_requested("pur-1", CHUNK))
    first = fail(state, "pur-1")
    assert first == [
        PurchaseFailed(
            purchase_id="pur-1",
            reason="insufficient funds",
            code="card_declined",
            retryable=True,
            retry_not_before=T0 + timedelta(hours=1),
            consecutive_failures=1,
        )
    ]
    state = replay(first, state)
    assert auto_purchase_due(state, T0 + timedelta(minutes=59)) is None
    with pytest.raises(AutoPurchaseNotAllowed, match="backing off"):
        request_auto(state, CHUNK, now=timedelta(minutes=59))
    assert auto_purchase_due(state, T0 + timedelta(hours=1)) == CHUNK

    state = replay([purchase_requested("pur-2", CHUNK)], state)
    second = fail(state, "pur-2")
    assert [e.retry_not_before for e in second if isinstance(e, PurchaseFailed)] == [
        T0 + timedelta(hours=4)
    ]
    state = replay(second, state)
    assert auto_purchase_due(state, T0 + timedelta(hours=3, minutes=59)) is None
    assert auto_purchase_due(state, T0 + timedelta(hours=4)) == CHUNK

    state = replay([purchase_requested("pur-3", CHUNK)], state)
    third = fail(state, "pur-3")
    assert third == [
        PurchaseFailed(
            purchase_id="pur-3",
            reason="insufficient funds",
            code="card_declined",
            retryable=True,
            retry_not_before=None,
            consecutive_failures=3,
        ),
        AutoPurchaseSuspended(failures=3, reason="3 consecutive declined payments"),
    ]
    state = replay(third, state)
    assert state.auto_purchase_suspended is True
    assert auto_purchase_due(state, T0 + timedelta(days=30)) is None
    with pytest.raises(AutoPurchaseNotAllowed, match="suspended"):
        request_auto(state, CHUNK, now=timedelta(days=30))


def test_a_hard_decline_suspends_at_once() -> None:
    state = auto(0, purchase_requested("pur-1", CHUNK))
    assert fail(state, "pur-1", retryable=False)[1:] == [
        AutoPurchaseSuspended(
            failures=1, reason="payment declined, not retryable: insufficient funds"
        )
    ]


def test_a_success_ends_the_streak_of_declines() -> None:
    state = auto(0, purchase_requested("pur-1", CHUNK))
    state = replay(fail(state, "pur-1"), state)
    state = replay([purchase_requested("pur-2", CHUNK)], state)
    state = replay(record_purchase_succeeded(state, purchase_id="pur-2"), state)
    assert (state.auto_purchase_failures, state.auto_purchase_retry_not_before) == (0, None)


def test_a_declined_manual_purchase_does_not_count_against_auto_purchase() -> None:
    state = auto(0, purchase_requested("pur-m", CHUNK, reason="manual"))
    events = fail(state, "pur-m")
    assert events == [
        PurchaseFailed(
            purchase_id="pur-m",
            reason="insufficient funds",
            code="card_declined",
            retryable=True,
            retry_not_before=None,
            consecutive_failures=None,
        )
    ]
    assert auto_purchase_due(replay(events, state), T0) == CHUNK


def test_a_succeeded_manual_purchase_resumes_a_suspended_auto_purchase() -> None:
    state = auto(
        -5_000,
        AutoPurchaseSuspended(failures=3, reason="3 consecutive declined payments"),
        purchase_requested("pur-m", 1_000, reason="manual"),
    )
    events = record_purchase_succeeded(state, purchase_id="pur-m")
    assert events == [
        PurchaseSucceeded(purchase_id="pur-m", credits=1_000, amount_minor=1_000),
        AutoPurchaseResumed(reason="a manual purchase succeeded"),
    ]
    state = replay(events, state)
    assert auto_purchase_due(state, T0) == CHUNK


def test_an_automatic_purchase_must_be_in_the_partners_currency() -> None:
    with pytest.raises(InvalidCommand, match="EUR"):
        request_purchase(
            auto(0),
            purchase_id="pur-1",
            credits=CHUNK,
            amount_minor=CHUNK,
            currency="USD",
            price_list_id="credits-usd",
            price_list_version=1,
            reason="auto",
            actor="system",
            now=T0,
        )


def test_a_decline_after_auto_purchase_was_suspended_does_not_count_again() -> None:
    state = auto(
        0,
        purchase_requested("pur-1", CHUNK),
        AutoPurchaseSuspended(failures=1, reason="payment returned: AM04"),
    )
    assert fail(state, "pur-1") == [
        PurchaseFailed(
            purchase_id="pur-1",
            reason="insufficient funds",
            code="card_declined",
            retryable=True,
            retry_not_before=None,
            consecutive_failures=None,
        )
    ]
