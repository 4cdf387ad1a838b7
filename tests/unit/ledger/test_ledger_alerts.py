"""Balance alert levels and customer budgets: edge-triggered alerts, the budget check of a
reservation, and the budget state through replay.

Properties (hypothesis): each alert level fires exactly once per downward crossing of the
balance and recovers once per climb back; each budget percent fires once per month.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TypeVar

import pytest
from hypothesis import given as for_all
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ledger.domain import (
    BalanceRecovered,
    BalanceThresholdArmed,
    BalanceThresholdCrossed,
    BudgetExceeded,
    CreditsGranted,
    CustomerBudget,
    CustomerBudgetAlert,
    CustomerBudgetSet,
    Event,
    InvalidCommand,
    LowBalanceReached,
    PartnerAccount,
    UnknownCustomer,
    adjust_credits,
    change_billing,
    grant_credits,
    release,
    replay,
    reserve,
    set_customer_budget,
)

from .scenarios import ATTACHED, CARD, CUSTOMER, REGISTERED, T0, debit, given, settings

Step = tuple[str, int]


def levels(state: PartnerAccount, *thresholds: int, reminder: int | None = None) -> list[Event]:
    """When the partner saves these alert levels (and the single reminder threshold)."""
    return change_billing(
        state,
        billing_mode="prepaid",
        reminder_threshold=reminder,
        auto_purchase_credits=None,
        auto_purchase_trigger=None,
        payment_method=CARD,
        reminder_thresholds=thresholds,
    )


def budget(
    state: PartnerAccount,
    monthly: int | None,
    percents: tuple[int, ...] = (80, 100),
    *,
    used: int = 0,
    now: datetime = T0,
) -> list[Event]:
    """When the partner gives ``CUSTOMER`` a budget (``used``: its usage this month so far)."""
    return set_customer_budget(
        state,
        customer_id=CUSTOMER,
        monthly_credits=monthly,
        alert_percents=percents,
        now=now,
        used_this_month=used,
    )


def hold(state: PartnerAccount, rid: str, credits: int, *, now: datetime = T0) -> list[Event]:
    return reserve(
        state, reservation_id=rid, credits=credits, ttl_seconds=3600, now=now, customer_id=CUSTOMER
    )


_E = TypeVar("_E")


def of(events: list[Event], kind: type[_E]) -> list[_E]:
    return [e for e in events if isinstance(e, kind)]


# --- balance alert levels --------------------------------------------------------------------


def test_each_level_fires_once_on_the_way_down_and_recovers_on_the_way_up() -> None:
    state = given(CreditsGranted(credits=6_000, reason="welcome", actor="ops"))
    saved = levels(state, 1_000, 5_000)
    assert saved == [settings(reminder_thresholds=(5_000, 1_000))]
    state = replay(saved, state)

    first = debit(state, "m-1", 5_500)  # 6,000 -> 500: passes both, highest first
    assert of(first, BalanceThresholdCrossed) == [
        BalanceThresholdCrossed(threshold=5_000, balance=500),
        BalanceThresholdCrossed(threshold=1_000, balance=500),
    ]
    state = replay(first, state)
    assert of(debit(state, "m-2", 100), BalanceThresholdCrossed) == []  # no second alert

    top_up = grant_credits(state, credits=2_000, reason="top-up", actor="ops")  # 500 -> 2,500
    assert top_up[1:] == [BalanceRecovered(threshold=1_000, balance=2_500)]
    state = replay(top_up, state)
    again = debit(state, "m-3", 2_000)  # 2,500 -> 500: 1,000 fires again, 5,000 stays quiet
    assert of(again, BalanceThresholdCrossed) == [
        BalanceThresholdCrossed(threshold=1_000, balance=500)
    ]


def test_a_level_set_above_the_balance_is_no_crossing() -> None:
    state = given(CreditsGranted(credits=500, reason="welcome", actor="ops"))
    saved = levels(state, 1_000)
    assert of(saved, BalanceThresholdCrossed) == []
    state = replay(saved, state)
    assert state.thresholds_below == (1_000,)
    assert of(debit(state, "m-1", 100), BalanceThresholdCrossed) == []


def test_the_single_reminder_threshold_keeps_its_own_events_beside_the_levels() -> None:
    state = given(CreditsGranted(credits=3_000, reason="welcome", actor="ops"))
    state = replay(levels(state, 2_000, reminder=1_000), state)
    events = debit(state, "m-1", 2_500)
    assert [type(e) for e in events[1:]] == [LowBalanceReached, BalanceThresholdCrossed]
    assert state.reminder_threshold == 1_000


def test_negative_levels_are_refused_and_repeats_are_kept_once() -> None:
    with pytest.raises(InvalidCommand, match="reminder_thresholds"):
        levels(given(), 100, -1)
    assert levels(given(), 100, 100, 50) == [settings(reminder_thresholds=(100, 50))]
    state = given()
    state = replay(levels(state, 100, 50), state)
    assert levels(state, 50, 100) == []  # unchanged settings record nothing


steps = st.lists(
    st.one_of(
        st.tuples(st.just("debit"), st.integers(0, 3_000)),
        st.tuples(st.just("grant"), st.integers(1, 3_000)),
        st.tuples(st.just("adjust"), st.integers(-3_000, 3_000).filter(bool)),
    ),
    max_size=40,
)


def run(state: PartnerAccount, step: Step, number: int) -> list[Event]:
    kind, amount = step
    if kind == "debit":
        return debit(state, f"m-{number}", amount)
    if kind == "grant":
        return grant_credits(state, credits=amount, reason="top-up", actor="ops")
    return adjust_credits(state, delta=amount, reason="correction", actor="ops")


@hypothesis_settings(max_examples=150, deadline=None)
@for_all(steps=steps, thresholds=st.lists(st.integers(-500, 4_000), min_size=1, max_size=4))
def test_each_level_fires_exactly_once_per_downward_crossing_and_recovers_once_per_climb(
    steps: list[Step], thresholds: list[int]
) -> None:
    thresholds = [abs(t) for t in thresholds]
    state = given()
    history: list[Event] = [REGISTERED, ATTACHED, *levels(state, *thresholds)]
    state = replay(history)
    for number, step in enumerate(steps):
        events = run(state, step, number)
        history += events
        state = replay(events, state)
        assert set(state.thresholds_below) == {t for t in thresholds if state.balance < t}

    trajectory = [0]
    for kind, amount in steps:
        trajectory.append(trajectory[-1] + (-amount if kind == "debit" else amount))
    crossed = Counter(e.threshold for e in of(history, BalanceThresholdCrossed))
    recovered = Counter(e.threshold for e in of(history, BalanceRecovered))
    armed = Counter(e.threshold for e in of(history, BalanceThresholdArmed))
    for level in set(thresholds):
        pairs = list(pairwise(trajectory))
        climbs = sum(1 for a, b in pairs if a < level <= b)
        # Set above the balance (0), a level is first reached silently; every later climb
        # follows a fall, which fired.
        first = 1 if level > 0 and climbs else 0
        assert crossed[level] == sum(1 for a, b in pairs if a >= level > b)
        assert (recovered[level], armed[level]) == (climbs - first, first)
    assert replay(history) == state


# --- customer budgets ------------------------------------------------------------------------


def test_a_budget_counts_the_month_from_its_start_and_survives_replay() -> None:
    state = given()
    events = budget(state, 10_000, used=2_500)
    assert events == [
        CustomerBudgetSet(
            customer_id=CUSTOMER,
            monthly_credits=10_000,
            alert_percents=(80, 100),
            month="2025-03",
            used=2_500,
        )
    ]
    state = replay(events, state)
    assert state.budgets[CUSTOMER] == CustomerBudget(
        monthly_credits=10_000, alert_percents=(80, 100), month="2025-03", used=2_500
    )
    state = replay(debit(state, "m-1", 1_000), state)
    assert state.budgets[CUSTOMER].used == 3_500
    assert budget(state, 10_000) == []  # the same budget again changes nothing
    removed = budget(state, None)
    assert replay(removed, state).budgets == {}


def test_a_reservation_past_the_remaining_budget_is_refused_with_used_held_and_remaining() -> None:
    state = given(CreditsGranted(credits=100_000, reason="welcome", actor="ops"))
    state = replay(budget(state, 10_000, used=6_000), state)
    state = replay(hold(state, "r-1", 3_000), state)
    assert hold(state, "r-2", 1_000)  # exactly the rest: allowed
    with pytest.raises(BudgetExceeded) as refused:
        hold(state, "r-2", 1_001)
    assert refused.value.code == "budget-exceeded"
    assert refused.value.extensions == {
        "customer_id": CUSTOMER,
        "month": "2025-03",
        "monthly_credits": 10_000,
        "used": 6_000,
        "held": 3_000,
        "remaining": 1_000,
        "requested": 1_001,
    }
    # Releasing a hold gives its credits back to the budget.
    state = replay(release(state, reservation_id="r-1"), state)
    assert hold(state, "r-2", 4_000)


def test_next_month_starts_the_budget_afresh() -> None:
    state = given(CreditsGranted(credits=100_000, reason="welcome", actor="ops"))
    state = replay(budget(state, 1_000, used=1_000), state)
    with pytest.raises(BudgetExceeded):
        hold(state, "r-1", 1)
    april = datetime(2025, 4, 1, 0, 0, 1, tzinfo=UTC)
    assert hold(state, "r-1", 1_000, now=april)
    state = replay(debit(state, "m-1", 300, now=april), state)
    assert state.budgets[CUSTOMER].month == "2025-04"
    assert state.budgets[CUSTOMER].used == 300
    # A late debit of March does not count in April.
    state = replay(debit(state, "m-0", 50, now=T0), state)
    assert state.budgets[CUSTOMER].used == 300


def test_a_debit_past_the_budget_is_recorded_and_each_percent_alerts_once() -> None:
    state = given(CreditsGranted(credits=100_000, reason="welcome", actor="ops"))
    state = replay(budget(state, 1_000, (50, 80, 100)), state)
    first = debit(state, "m-1", 1_200)  # a fact: past the budget, still recorded
    assert [e.percent for e in of(first, CustomerBudgetAlert)] == [50, 80, 100]
    assert of(first, CustomerBudgetAlert)[-1] == CustomerBudgetAlert(
        customer_id=CUSTOMER, percent=100, used=1_200, monthly_credits=1_000, month="2025-03"
    )
    state = replay(first, state)
    assert state.balance == 100_000 - 1_200
    assert of(debit(state, "m-2", 10), CustomerBudgetAlert) == []
    # Raising the budget re-arms the percents it no longer reaches; they fire on crossing.
    state = replay(budget(state, 2_000, (50, 80, 100)), state)
    assert state.budgets[CUSTOMER].alerted == (50,)
    state = replay(debit(state, "m-3", 400), state)  # 1,600 of 2,000: 80 % again
    assert state.budgets[CUSTOMER].alerted == (50, 80)


def test_percents_already_reached_when_the_budget_is_set_do_not_fire() -> None:
    state = given()
    state = replay(budget(state, 1_000, (50, 100), used=600), state)
    assert state.budgets[CUSTOMER].alerted == (50,)
    assert [e.percent for e in of(debit(state, "m-1", 400), CustomerBudgetAlert)] == [100]


@pytest.mark.parametrize(
    ("monthly", "percents", "message"),
    [
        (-1, (80,), "monthly_credits"),
        (100, (0,), "alert_percents"),
        (100, (1_001,), "alert_percents"),
        (100, (80, 80), "alert_percents"),
    ],
)
def test_malformed_budgets_are_refused(
    monthly: int, percents: tuple[int, ...], message: str
) -> None:
    with pytest.raises(InvalidCommand, match=message):
        budget(given(), monthly, percents)


def test_budgets_and_holds_name_attached_customers_only() -> None:
    state = given(CreditsGranted(credits=100, reason="welcome", actor="ops"))
    with pytest.raises(UnknownCustomer):
        set_customer_budget(
            state,
            customer_id="nobody",
            monthly_credits=1,
            alert_percents=(),
            now=T0,
            used_this_month=0,
        )
    with pytest.raises(UnknownCustomer):
        reserve(state, reservation_id="r", credits=1, ttl_seconds=60, now=T0, customer_id="nobody")


@hypothesis_settings(max_examples=100, deadline=None)
@for_all(
    credits=st.lists(st.integers(0, 400), max_size=30),
    monthly=st.integers(0, 3_000),
    percents=st.lists(st.integers(1, 200), max_size=4, unique=True),
    month_breaks=st.sets(st.integers(0, 29), max_size=3),
)
def test_each_percent_fires_once_per_month_when_usage_reaches_it(
    credits: list[int], monthly: int, percents: list[int], month_breaks: set[int]
) -> None:
    state = given()
    state = replay(budget(state, monthly, tuple(sorted(percents))), state)
    alerts: list[CustomerBudgetAlert] = []
    month, used = 0, 0
    expected: list[tuple[int, int]] = []
    for number, amount in enumerate(credits):
        if number in month_breaks:
            month, used = month + 1, 0
        now = T0 + timedelta(days=31 * month)
        before = used
        used += amount
        expected += [
            (month, p)
            for p in sorted(percents)
            if not (before > 0 and before * 100 >= p * monthly)
            and used > 0
            and used * 100 >= p * monthly
        ]
        events = debit(state, f"m-{number}", amount, now=now)
        alerts += of(events, CustomerBudgetAlert)
        state = replay(events, state)
    months = {f"2025-{3 + m:02d}": m for m in range(4)}
    assert [(months[e.month], e.percent) for e in alerts] == expected
