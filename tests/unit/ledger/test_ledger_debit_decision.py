"""A debit hands on the states its events leave the account in, so the batch does not fold them
again: those states must be exactly what folding the events gives."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import (
    CreditsGranted,
    CreditsReserved,
    Decision,
    Event,
    PartnerAccount,
    apply,
    debit_mailing,
)
from ledger.service_layer.accounts import ChangeSet

from .scenarios import MAILING_PRICES, ON_DEMAND, PARTNER, T0, settings
from .scenarios import given as given_state

HOUR = timedelta(hours=1)
GRANTED = CreditsGranted(credits=1_000, reason="welcome", actor="ops")
HELD = CreditsReserved(reservation_id="r-1", credits=500, expires_at=T0 + HOUR, mailing_id=None)


def _debit(
    state: PartnerAccount | None, credits: int, now: datetime, mailing_id: str = "m-1", **extra: Any
) -> Decision:
    return debit_mailing(
        state,
        mailing_id=mailing_id,
        customer_id="customer-1",
        recipients=credits,
        credits=credits,
        price_list_id=MAILING_PRICES,
        price_list_version=3,
        now=now,
        **extra,
    )


def _folded(state: PartnerAccount, events: list[Event]) -> list[PartnerAccount]:
    states = []
    for event in events:
        state = apply(state, event)
        states.append(state)
    return states


@pytest.mark.parametrize(
    ("history", "credits", "now", "extra", "count"),
    [
        pytest.param((GRANTED,), 300, T0, {}, 1, id="plain"),
        # the hold expired before the mailing went out: expiry, then the debit
        pytest.param(
            (GRANTED, HELD), 300, T0 + 2 * HOUR, {"reservation_id": "r-1"}, 2, id="expiry"
        ),
        # below the reminder's threshold: the debit, then the reminder
        pytest.param(
            (GRANTED, settings(reminder_threshold=900, reminder_armed=True)),
            300,
            T0,
            {},
            2,
            id="reminder",
        ),
        # on demand past the minimum charge: the debit, then the charge
        pytest.param(
            (ON_DEMAND,),
            300,
            T0,
            {"charge_minor": 5_000, "minimum_charge_minor": 100},
            2,
            id="charge",
        ),
    ],
)
def test_the_states_a_debit_hands_on_are_its_events_folded(
    history: tuple[Event, ...], credits: int, now: datetime, extra: dict[str, Any], count: int
) -> None:
    state = given_state(*history)
    decision = _debit(state, credits, now, **extra)
    assert len(decision.events) == count
    assert decision.states == _folded(state, decision.events)


def test_a_change_set_takes_the_states_as_they_are_and_folds_what_comes_without() -> None:
    state = given_state(GRANTED, settings(reminder_threshold=900, reminder_armed=True))
    decision = _debit(state, 300, T0)
    handed_on = ChangeSet({PARTNER: state}, T0)
    handed_on.decide(PARTNER, decision.events, {}, decision.states)
    folded_here = ChangeSet({PARTNER: state}, T0)
    folded_here.decide(PARTNER, decision.events, {})
    assert handed_on.state(PARTNER) == folded_here.state(PARTNER) == decision.states[-1]
    assert handed_on.stored_events() == folded_here.stored_events()
    assert handed_on.account_changes() == folded_here.account_changes()


def test_states_that_do_not_follow_the_account_are_refused() -> None:
    state = given_state(GRANTED)
    stale = _debit(state, 300, T0)
    changes = ChangeSet({PARTNER: state}, T0)
    changes.decide(PARTNER, stale.events, {}, stale.states)
    with pytest.raises(ValueError, match="do not follow"):
        changes.decide(PARTNER, stale.events, {}, stale.states)


@given(
    history=st.integers(0, 30),
    batch=st.lists(st.integers(0, 5), min_size=0, max_size=40),
    interval=st.integers(1, 12),
)
def test_a_change_set_snapshots_every_version_that_is_a_multiple_of_the_interval(
    history: int, batch: list[int], interval: int
) -> None:
    state = given_state(*[GRANTED] * history)
    changes = ChangeSet({PARTNER: state}, T0)
    for n, credits in enumerate(batch):
        decision = _debit(changes.state(PARTNER), credits, T0, mailing_id=f"m-{n}")
        changes.decide(PARTNER, decision.events, {}, decision.states)
    versions = range(state.version + 1, state.version + len(batch) + 1)
    assert [s.state.version for s in changes.snapshots(interval)] == [
        v for v in versions if v % interval == 0
    ]
