"""On demand: mailings are charged (carrying amounts below the gateway minimum); failed
charges become debt, which blocks new reservations until it is settled."""

from __future__ import annotations

import pytest

from ledger.domain import (
    ChargeFailed,
    ChargeRequested,
    ChargeReturned,
    ChargeSucceeded,
    DebtRecorded,
    DebtSettled,
    Event,
    InvalidCommand,
    PartnerAccount,
    PartnerInDebt,
    PaymentResultConflict,
    UnknownCharge,
    charge_id_for,
    record_charge_failed,
    record_charge_returned,
    record_charge_succeeded,
    replay,
    reserve,
    settle_debt,
)

from .records import charge_record, records_of
from .scenarios import CARD, ON_DEMAND, T0, debit, debited, given


def on_demand(*events: Event) -> PartnerAccount:
    return given(ON_DEMAND, *events)


def charge(charge_id: str, credits: int, amount_minor: int, *mailing_ids: str) -> ChargeRequested:
    return ChargeRequested(
        charge_id=charge_id,
        credits=credits,
        amount_minor=amount_minor,
        currency="EUR",
        mailing_ids=mailing_ids,
        payment_method=CARD,
    )


CHARGE = charge_id_for("partner-1", "m-1")


def test_a_mailing_is_charged_at_once_and_leaves_the_balance_alone() -> None:
    state = on_demand()
    events = debit(state, "m-1", 5_250, charge_minor=2_100)
    assert events == [
        debited("m-1", 5_250, charge_minor=2_100),
        charge("partner-1:charge:m-1", 5_250, 2_100, "m-1"),
    ]
    state = replay(events, state)
    assert (state.balance, state.uncharged_credits, state.uncharged_minor) == (0, 0, 0)
    assert list(state.charges_in_flight) == ["partner-1:charge:m-1"]
    in_flight = state.charges_in_flight["partner-1:charge:m-1"]
    assert (in_flight.credits, in_flight.amount_minor, in_flight.status) == (
        5_250,
        2_100,
        "requested",
    )


def test_amounts_below_the_minimum_are_carried_into_the_next_charge() -> None:
    state = on_demand()
    first = debit(state, "m-1", 75, charge_minor=30)
    assert first == [debited("m-1", 75, charge_minor=30)]
    state = replay(first, state)
    assert (state.uncharged_credits, state.uncharged_minor) == (75, 30)
    assert state.uncharged_mailing_ids == ("m-1",)

    second = debit(state, "m-2", 50, charge_minor=20)
    assert second == [
        debited("m-2", 50, charge_minor=20),
        charge(charge_id_for("partner-1", "m-2"), 125, 50, "m-1", "m-2"),
    ]
    state = replay(second, state)
    assert (state.uncharged_credits, state.uncharged_minor, state.uncharged_mailing_ids) == (
        0,
        0,
        (),
    )


def test_the_minimum_is_configurable_and_inclusive() -> None:
    events = debit(on_demand(), "m-1", 100, charge_minor=99, minimum_charge_minor=100)
    assert len(events) == 1
    events = debit(on_demand(), "m-1", 100, charge_minor=100, minimum_charge_minor=100)
    assert events[1:] == [charge(CHARGE, 100, 100, "m-1")]


def test_a_free_mailing_requests_no_charge() -> None:
    assert debit(on_demand(), "m-1", 0, charge_minor=0) == [debited("m-1", 0, charge_minor=0)]


def test_an_on_demand_debit_needs_its_price() -> None:
    with pytest.raises(InvalidCommand, match="charge_minor"):
        debit(on_demand(), "m-1", 10)


def test_a_succeeded_charge_is_recorded_once() -> None:
    history: list[Event] = [charge(CHARGE, 5_250, 2_100, "m-1")]
    state = on_demand(*history)
    events = record_charge_succeeded(state, charge_id=CHARGE)
    assert events == [ChargeSucceeded(charge_id=CHARGE, credits=5_250, amount_minor=2_100)]
    state = replay(events, state)
    history += events
    records = records_of(history)
    recorded = charge_record(records, CHARGE)
    assert recorded is not None
    assert recorded.status == "succeeded"
    assert record_charge_succeeded(state, charge_id=CHARGE, recorded=recorded) == []
    assert dict(state.charges_in_flight) == {}
    with pytest.raises(UnknownCharge):
        record_charge_succeeded(state, charge_id="nope", recorded=charge_record(records, "nope"))


def test_a_failed_charge_becomes_debt_that_blocks_reservations_until_settled() -> None:
    history: list[Event] = [charge(CHARGE, 5_250, 2_100, "m-1")]
    state = on_demand(*history)
    events = record_charge_failed(state, charge_id=CHARGE, reason="expired card", code="expired")
    assert events == [
        ChargeFailed(charge_id=CHARGE, reason="expired card", code="expired"),
        DebtRecorded(charge_id=CHARGE, credits=5_250, amount_minor=2_100),
    ]
    state = replay(events, state)
    history += events
    assert (state.debt_credits, state.debt_minor, state.in_debt) == (5_250, 2_100, True)
    recorded = charge_record(records_of(history), CHARGE)
    assert recorded is not None
    assert recorded.status == "failed"
    assert (
        record_charge_failed(
            state, charge_id=CHARGE, reason="expired card", code=None, recorded=recorded
        )
        == []
    )

    with pytest.raises(PartnerInDebt, match="2100 EUR"):
        reserve(state, reservation_id="r-1", credits=100, ttl_seconds=60, now=T0)

    settled = settle_debt(state, by="payment", actor="ops:bob", reference="bank-transfer-77")
    assert settled == [
        DebtSettled(
            credits=5_250,
            amount_minor=2_100,
            by="payment",
            actor="ops:bob",
            reference="bank-transfer-77",
        )
    ]
    state = replay(settled, state)
    assert (state.debt_credits, state.debt_minor) == (0, 0)
    assert settle_debt(state, by="payment", actor="ops:bob") == []
    assert reserve(state, reservation_id="r-1", credits=100, ttl_seconds=60, now=T0) != []


def test_mailings_are_still_debited_while_in_debt() -> None:
    state = on_demand(
        charge(CHARGE, 5_250, 2_100, "m-1"),
        ChargeFailed(charge_id=CHARGE, reason="declined", code=None),
        DebtRecorded(charge_id=CHARGE, credits=5_250, amount_minor=2_100),
    )
    assert [type(e).__name__ for e in debit(state, "m-2", 100, charge_minor=60)] == [
        "MailingDebited",
        "ChargeRequested",
    ]


def test_a_returned_charge_becomes_debt() -> None:
    history: list[Event] = [
        charge(CHARGE, 5_250, 2_100, "m-1"),
        ChargeSucceeded(charge_id=CHARGE, credits=5_250, amount_minor=2_100),
    ]
    state = on_demand(*history)
    with pytest.raises(UnknownCharge):  # closed: only its record knows it
        record_charge_returned(state, charge_id=CHARGE, reason="MD01", code="MD01")
    events = record_charge_returned(
        state,
        charge_id=CHARGE,
        reason="MD01",
        code="MD01",
        recorded=charge_record(records_of(history), CHARGE),
    )
    assert events == [
        ChargeReturned(
            charge_id=CHARGE, credits=5_250, amount_minor=2_100, reason="MD01", code="MD01"
        ),
        DebtRecorded(charge_id=CHARGE, credits=5_250, amount_minor=2_100),
    ]
    state = replay(events, state)
    history += events
    assert state.debt_minor == 2_100
    recorded = charge_record(records_of(history), CHARGE)
    assert recorded is not None
    assert recorded.status == "returned"
    with pytest.raises(PaymentResultConflict):
        record_charge_failed(state, charge_id=CHARGE, reason="late", code=None, recorded=recorded)
    # A repeated return, or a late copy of the success, changes nothing.
    assert (
        record_charge_returned(
            state, charge_id=CHARGE, reason="MD01", code="MD01", recorded=recorded
        )
        == []
    )
    assert record_charge_succeeded(state, charge_id=CHARGE, recorded=recorded) == []
