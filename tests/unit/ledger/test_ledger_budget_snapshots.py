"""A snapshot of an account with alert levels, customer budgets and customer holds reads back
as the very state (the snapshot is only a cache of the replay)."""

from datetime import timedelta

import orjson

from ledger.adapters.snapshots import state_from_json, state_to_json
from ledger.domain import (
    CreditsGranted,
    PartnerAccount,
    change_billing,
    replay,
    reserve,
    set_customer_budget,
)

from .scenarios import CARD, CUSTOMER, T0, debit, given


def with_alerts(*levels: int) -> PartnerAccount:
    """10,000 credits, the reminder at 500 and these alert levels."""
    state = given(CreditsGranted(credits=10_000, reason="welcome", actor="ops"))
    return replay(
        change_billing(
            state,
            billing_mode="prepaid",
            reminder_threshold=500,
            auto_purchase_credits=None,
            auto_purchase_trigger=None,
            payment_method=CARD,
            reminder_thresholds=levels,
        ),
        state,
    )


def test_budgets_alert_levels_and_customer_holds_survive_a_snapshot() -> None:
    state = with_alerts(9_000, 2_000)
    state = replay(
        set_customer_budget(
            state,
            customer_id=CUSTOMER,
            monthly_credits=5_000,
            alert_percents=(10, 90),
            now=T0,
            used_this_month=0,
        ),
        state,
    )
    state = replay(debit(state, "m-1", 1_500), state)
    state = replay(
        reserve(
            state,
            reservation_id="r-1",
            credits=700,
            ttl_seconds=600,
            now=T0 + timedelta(minutes=1),
            customer_id=CUSTOMER,
        ),
        state,
    )
    assert state.thresholds_below == (9_000,)
    assert state.budgets[CUSTOMER].alerted == (10,)
    assert state.holds["r-1"].customer_id == CUSTOMER

    stored = orjson.loads(orjson.dumps(state_to_json(state)))
    assert state_from_json(stored) == state


def test_which_alerts_fired_survives_a_snapshot() -> None:
    state = with_alerts(20_000, 9_000, 2_000)
    state = replay(debit(state, "m-1", 9_700), state)  # 10,000 -> 300
    # 20,000 was set above the balance (below, never fired); the reminder and 9,000 and
    # 2,000 fired.
    assert (state.reminder_armed, state.reminder_fired) == (False, True)
    assert state.thresholds_below == (20_000, 9_000, 2_000)
    assert state.thresholds_fired == (9_000, 2_000)

    stored = orjson.loads(orjson.dumps(state_to_json(state)))
    assert state_from_json(stored) == state
