"""Replay: folding the stored events gives exactly the state the commands were decided on.
Properties: the balance is the sum of its changes; one reminder per downward crossing."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from hypothesis import given as for_all
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ledger.domain import (
    CorruptStream,
    CreditsGranted,
    Event,
    LowBalanceReached,
    PartnerAccount,
    ReminderArmed,
    ReminderRearmed,
    ReservationReleased,
    adjust_credits,
    apply,
    auto_purchase_due,
    auto_purchase_id,
    change_billing,
    expire_reservations,
    grant_credits,
    record_purchase_failed,
    record_purchase_succeeded,
    release,
    replay,
    request_purchase,
    reserve,
)

from .records import keep_records, records_of, reservation_record, status_of
from .scenarios import ATTACHED, CARD, REGISTERED, T0, debit, given

Step = tuple[str, int]


def run(state: PartnerAccount, step: Step, number: int) -> list[Event]:
    """When the step's command runs: a debit, a grant or an adjustment of ``amount``."""
    kind, amount = step
    if kind == "debit":
        return debit(state, f"m-{number}", amount)
    if kind == "grant":
        return grant_credits(state, credits=amount, reason="top-up", actor="ops")
    return adjust_credits(state, delta=amount, reason="correction", actor="ops")


steps = st.lists(
    st.one_of(
        st.tuples(st.just("debit"), st.integers(0, 3_000)),
        st.tuples(st.just("grant"), st.integers(1, 3_000)),
        st.tuples(st.just("adjust"), st.integers(-3_000, 3_000).filter(bool)),
    ),
    max_size=40,
)


def delta(step: Step) -> int:
    kind, amount = step
    return -amount if kind == "debit" else amount


@hypothesis_settings(max_examples=150, deadline=None)
@for_all(steps=steps, threshold=st.integers(0, 4_000))
def test_balance_is_the_sum_and_reminders_match_crossings(
    steps: list[Step], threshold: int
) -> None:
    state = given()
    history: list[Event] = [REGISTERED, ATTACHED]
    settings_events = change_billing(
        state,
        billing_mode="prepaid",
        reminder_threshold=threshold,
        auto_purchase_credits=None,
        auto_purchase_trigger=None,
        payment_method=CARD,
    )
    state = replay(settings_events, state)
    history += settings_events
    for number, step in enumerate(steps):
        events = run(state, step, number)
        history += events
        state = replay(events, state)
        assert state.reminder_armed == (state.balance >= threshold)

    trajectory = [0]
    for step in steps:
        trajectory.append(trajectory[-1] + delta(step))
    pairs = list(pairwise(trajectory))
    downward = sum(1 for before, after in pairs if before >= threshold > after)
    upward = sum(1 for before, after in pairs if before < threshold <= after)

    assert state.balance == sum(delta(s) for s in steps)
    assert sum(isinstance(e, LowBalanceReached) for e in history) == downward
    # Set above the balance (0), the threshold is first reached silently; every later climb
    # follows a fall, which fired.
    armed = 1 if threshold > 0 and upward else 0
    assert sum(isinstance(e, ReminderRearmed) for e in history) == upward - armed
    assert sum(isinstance(e, ReminderArmed) for e in history) == armed
    assert replay(history) == state
    assert state.version == len(history)


holds = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), st.integers(1, 2_000)),
        st.tuples(st.just("release"), st.integers(0, 9)),
        st.tuples(st.just("capture"), st.integers(0, 9)),
        st.tuples(st.just("wait"), st.integers(1, 90)),
    ),
    max_size=40,
)


@hypothesis_settings(max_examples=150, deadline=None)
@for_all(actions=holds)
def test_held_is_the_sum_of_active_holds_and_never_over_promised(
    actions: list[tuple[str, int]],
) -> None:
    state = given(CreditsGranted(credits=5_000, reason="top-up", actor="ops"))
    history: list[Event] = []
    records = records_of([])
    now = T0
    debits = 0
    for number, (kind, value) in enumerate(actions):
        # Every reservation made so far, open or closed, oldest first: the ledger's records.
        ids = [rid for (what, rid) in records if what == "reservation"]
        events: list[Event] = []
        if kind == "reserve" and state.available >= value:
            events = reserve(
                state, reservation_id=f"r-{number}", credits=value, ttl_seconds=1_800, now=now
            )
        elif kind == "release" and ids:
            rid = ids[value % len(ids)]
            recorded = reservation_record(records, rid)
            assert recorded is not None
            if recorded.status != "captured":
                events = release(state, reservation_id=rid, recorded=recorded)
        elif kind == "capture" and ids:
            events = debit(state, f"m-{number}", 300, reservation_id=ids[value % len(ids)], now=now)
            debits += 300
        elif kind == "wait":
            now += timedelta(minutes=value)
            events = expire_reservations(state, now)
        history += events
        state = replay(events, state)
        keep_records(records, events)
        active = {
            rid: record
            for (what, rid), record in records.items()
            if what == "reservation" and record.status == "active"
        }
        assert dict(state.holds) == active
        assert state.held == sum(r.credits for r in active.values())
        assert state.available == state.balance - state.held
    assert state.balance == 5_000 - debits
    assert replay(history, given(CreditsGranted(credits=5_000, reason="top-up", actor="ops"))) == (
        state
    )


def test_a_day_of_business_replays_to_the_same_state() -> None:
    """Given a partner with auto-purchase, reminders and reservations, every command's events
    folded one by one give the same state as replaying the whole stream."""
    state: PartnerAccount | None = None
    stream: list[Event] = []

    def record(events: list[Event]) -> None:
        nonlocal state
        stream.extend(events)
        for event in events:
            state = apply(state, event)

    record([REGISTERED, ATTACHED])
    assert state is not None
    record(
        change_billing(
            state,
            billing_mode="prepaid",
            reminder_threshold=2_000,
            auto_purchase_credits=10_000,
            auto_purchase_trigger=None,
            payment_method=CARD,
        )
    )
    record(grant_credits(state, credits=6_000, reason="welcome", actor="ops"))
    record(reserve(state, reservation_id="r-1", credits=5_000, ttl_seconds=3_600, now=T0))
    record(debit(state, "m-1", 5_250, reservation_id="r-1", now=T0 + timedelta(minutes=5)))
    record(debit(state, "m-2", 900, now=T0 + timedelta(minutes=6)))
    due = auto_purchase_due(state, T0 + timedelta(minutes=6))
    assert due == 10_000
    purchase_id = auto_purchase_id(state)
    record(
        request_purchase(
            state,
            purchase_id=purchase_id,
            credits=due,
            amount_minor=8_900,
            currency="EUR",
            price_list_id="credits-eur",
            price_list_version=2,
            reason="auto",
            actor="system",
            now=T0 + timedelta(minutes=6),
        )
    )
    record(
        record_purchase_failed(
            state,
            purchase_id=purchase_id,
            reason="insufficient funds",
            code="card_declined",
            retryable=True,
            now=T0 + timedelta(minutes=7),
        )
    )
    retry_at = T0 + timedelta(minutes=7, hours=1)
    assert auto_purchase_due(state, retry_at) == 10_000
    second = auto_purchase_id(state)
    record(
        request_purchase(
            state,
            purchase_id=second,
            credits=10_000,
            amount_minor=8_900,
            currency="EUR",
            price_list_id="credits-eur",
            price_list_version=2,
            reason="auto",
            actor="system",
            now=retry_at,
        )
    )
    record(record_purchase_succeeded(state, purchase_id=second))

    assert [type(e).__name__ for e in stream] == [
        "PartnerRegistered",
        "CustomerAttached",
        "BillingSettingsChanged",
        "CreditsGranted",
        "ReminderArmed",
        "CreditsReserved",
        "MailingDebited",
        "LowBalanceReached",
        "MailingDebited",
        "PurchaseRequested",
        "PurchaseFailed",
        "PurchaseRequested",
        "PurchaseSucceeded",
        "ReminderRearmed",
    ]
    assert replay(stream) == state
    assert (state.balance, state.held, state.version) == (9_850, 0, len(stream))
    assert (state.auto_purchase_failures, dict(state.purchases_in_flight)) == (0, {})
    records = records_of(stream)
    assert status_of(records, "reservation", "r-1") == "captured"
    assert status_of(records, "purchase", purchase_id) == "failed"
    assert status_of(records, "purchase", second) == "succeeded"


def test_a_stream_must_start_with_the_registration() -> None:
    with pytest.raises(CorruptStream):
        replay([ATTACHED])
    with pytest.raises(CorruptStream):
        replay([REGISTERED, REGISTERED])


def test_an_event_naming_an_unknown_reservation_does_not_fold() -> None:
    with pytest.raises(CorruptStream, match="r-x"):
        replay([REGISTERED, ReservationReleased(reservation_id="r-x", credits=1)])
