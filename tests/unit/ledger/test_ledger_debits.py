"""Mailing debits (prepaid), grants and adjustments."""

from __future__ import annotations

from datetime import datetime

import pytest

from ledger.domain import (
    CreditsAdjusted,
    CreditsGranted,
    InvalidCommand,
    UnknownCustomer,
    adjust_credits,
    grant_credits,
    replay,
)

from .scenarios import debit, debited, given


def test_a_sent_mailing_is_debited_even_below_zero() -> None:
    state = given(CreditsGranted(credits=100, reason="welcome", actor="ops"))
    events = debit(state, "m-1", 250)
    assert events == [debited("m-1", 250)]
    after = replay(events, state)
    assert (after.balance, after.available, after.version) == (-150, -150, 4)


def test_a_mailing_of_an_unknown_customer_is_refused() -> None:
    with pytest.raises(UnknownCustomer, match="stranger"):
        debit(given(), "m-1", 10, customer_id="stranger")


def test_a_prepaid_debit_takes_no_charge_amount() -> None:
    with pytest.raises(InvalidCommand, match="charge_minor"):
        debit(given(), "m-1", 10, charge_minor=10)


def test_a_debit_needs_an_aware_time() -> None:
    with pytest.raises(InvalidCommand, match="timezone"):
        debit(given(), "m-1", 10, now=datetime(2025, 3, 3, 9, 0))


def test_a_mailing_to_nobody_costs_nothing_but_is_recorded() -> None:
    state = given()
    events = debit(state, "m-0", 0)
    assert events == [debited("m-0", 0)]
    assert replay(events, state).balance == 0


def test_granted_credits_raise_the_balance() -> None:
    state = given()
    events = grant_credits(state, credits=2_000, reason="welcome bonus", actor="ops:bob")
    assert events == [CreditsGranted(credits=2_000, reason="welcome bonus", actor="ops:bob")]
    assert replay(events, state).balance == 2_000


def test_an_adjustment_may_take_the_balance_below_zero() -> None:
    state = given(CreditsGranted(credits=100, reason="welcome", actor="ops"))
    events = adjust_credits(state, delta=-300, reason="double grant reverted", actor="ops:bob")
    assert events == [CreditsAdjusted(delta=-300, reason="double grant reverted", actor="ops:bob")]
    assert replay(events, state).balance == -200


@pytest.mark.parametrize(
    ("credits", "reason", "actor"),
    [(0, "r", "a"), (-5, "r", "a"), (5, "", "a"), (5, "r", " ")],
)
def test_a_grant_needs_positive_credits_a_reason_and_an_actor(
    credits: int, reason: str, actor: str
) -> None:
    with pytest.raises(InvalidCommand):
        grant_credits(given(), credits=credits, reason=reason, actor=actor)


def test_an_adjustment_must_change_something() -> None:
    with pytest.raises(InvalidCommand):
        adjust_credits(given(), delta=0, reason="nothing", actor="ops")
