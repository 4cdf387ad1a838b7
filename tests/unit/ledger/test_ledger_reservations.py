"""Reservations: hold credits for a planned mailing; the debit captures; release; expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.domain import (
    CreditsGranted,
    CreditsReserved,
    Event,
    InsufficientCredits,
    InvalidCommand,
    PartnerAccount,
    ReservationConflict,
    ReservationExpired,
    ReservationNotActive,
    ReservationReleased,
    UnknownReservation,
    expire_reservations,
    release,
    replay,
    reserve,
)

from .records import records_of, reservation_record, status_of
from .scenarios import ON_DEMAND, T0, debit, debited, given

HOUR = timedelta(hours=1)


def held(reservation_id: str, credits: int, *, mailing_id: str | None = None) -> CreditsReserved:
    return CreditsReserved(
        reservation_id=reservation_id, credits=credits, expires_at=T0 + HOUR, mailing_id=mailing_id
    )


def with_balance(balance: int, *events: Event) -> PartnerAccount:
    return given(CreditsGranted(credits=balance, reason="welcome", actor="ops"), *events)


def test_reserving_holds_credits_until_the_time_to_live_ends() -> None:
    state = with_balance(1_000)
    events = reserve(state, reservation_id="r-1", credits=600, ttl_seconds=3_600, now=T0)
    assert events == [held("r-1", 600)]
    state = replay(events, state)
    assert (state.balance, state.held, state.available) == (1_000, 600, 400)
    assert list(state.holds) == ["r-1"]
    assert state.holds["r-1"].status == "active"
    assert status_of(records_of(events), "reservation", "r-1") == "active"


def test_a_reservation_beyond_the_available_credits_is_refused() -> None:
    state = with_balance(1_000, held("r-1", 600))
    with pytest.raises(InsufficientCredits) as refused:
        reserve(state, reservation_id="r-2", credits=401, ttl_seconds=60, now=T0)
    assert (refused.value.requested, refused.value.available) == (401, 400)
    assert [
        type(e) for e in reserve(state, reservation_id="r-2", credits=400, ttl_seconds=60, now=T0)
    ] == [CreditsReserved]


def test_reserving_the_same_id_again_changes_nothing_and_another_amount_conflicts() -> None:
    state = with_balance(1_000, held("r-1", 600))
    assert reserve(state, reservation_id="r-1", credits=600, ttl_seconds=3_600, now=T0) == []
    with pytest.raises(ReservationConflict, match="600"):
        reserve(state, reservation_id="r-1", credits=700, ttl_seconds=3_600, now=T0)


@pytest.mark.parametrize("closed_by", ["released", "captured", "expired"])
def test_a_closed_reservation_id_again_changes_nothing_and_other_values_conflict(
    closed_by: str,
) -> None:
    history: list[Event] = [held("r-1", 600, mailing_id="m-1")]
    state = with_balance(1_000, *history)
    if closed_by == "released":
        closing = release(state, reservation_id="r-1")
    elif closed_by == "captured":
        closing = debit(state, "m-1", 600, reservation_id="r-1")
    else:
        closing = expire_reservations(state, T0 + HOUR)
    history += closing
    state = replay(closing, state)
    assert "r-1" not in state.holds
    recorded = reservation_record(records_of(history), "r-1")
    assert recorded is not None
    assert recorded.status == closed_by

    def again(credits: int, mailing_id: str | None) -> list[Event]:
        return reserve(
            state,
            reservation_id="r-1",
            credits=credits,
            ttl_seconds=3_600,
            now=T0,
            mailing_id=mailing_id,
            recorded=recorded,
        )

    assert again(600, "m-1") == []
    with pytest.raises(ReservationConflict, match="600"):
        again(700, "m-1")
    with pytest.raises(ReservationConflict, match="600"):
        again(600, "m-2")


@pytest.mark.parametrize(("credits", "ttl"), [(0, 60), (-1, 60), (10, 0)])
def test_a_reservation_needs_positive_credits_and_time(credits: int, ttl: int) -> None:
    with pytest.raises(InvalidCommand):
        reserve(with_balance(100), reservation_id="r", credits=credits, ttl_seconds=ttl, now=T0)


def test_a_debit_below_the_hold_captures_it_and_releases_the_rest() -> None:
    history: list[Event] = [held("r-1", 500)]
    state = with_balance(1_000, *history)
    sent_at = T0 + timedelta(minutes=30)
    events = debit(state, "m-1", 300, reservation_id="r-1", now=sent_at)
    assert events == [
        debited("m-1", 300, reservation_id="r-1", captured=300, released=200, sent_at=sent_at)
    ]
    state = replay(events, state)
    assert (state.balance, state.held, state.available) == (700, 0, 700)
    assert "r-1" not in state.holds
    assert status_of(records_of([*history, *events]), "reservation", "r-1") == "captured"


def test_a_debit_above_the_hold_takes_the_rest_from_the_balance() -> None:
    state = with_balance(1_000, held("r-1", 500))
    events = debit(state, "m-1", 800, reservation_id="r-1")
    assert events == [debited("m-1", 800, reservation_id="r-1", captured=500, released=0)]
    state = replay(events, state)
    assert (state.balance, state.held, state.available) == (200, 0, 200)


def test_a_debit_naming_an_unknown_reservation_is_a_plain_debit() -> None:
    state = with_balance(1_000)
    assert debit(state, "m-1", 300, reservation_id="r-x") == [
        debited("m-1", 300, reservation_id="r-x")
    ]


def test_a_debit_after_the_hold_expired_expires_it_and_debits_plainly() -> None:
    history: list[Event] = [held("r-1", 500)]
    state = with_balance(1_000, *history)
    events = debit(state, "m-1", 300, reservation_id="r-1", now=T0 + HOUR)
    assert events == [
        ReservationExpired(reservation_id="r-1", credits=500),
        debited("m-1", 300, reservation_id="r-1", sent_at=T0 + HOUR),
    ]
    state = replay(events, state)
    status = status_of(records_of([*history, *events]), "reservation", "r-1")
    assert (state.balance, state.held, status) == (700, 0, "expired")
    assert "r-1" not in state.holds


def test_a_debit_of_a_captured_hold_is_a_plain_debit() -> None:
    state = with_balance(
        1_000, held("r-1", 500), debited("m-1", 500, reservation_id="r-1", captured=500)
    )
    assert debit(state, "m-2", 100, reservation_id="r-1") == [
        debited("m-2", 100, reservation_id="r-1")
    ]


def test_releasing_gives_the_credits_back_once() -> None:
    history: list[Event] = [held("r-1", 500)]
    state = with_balance(1_000, *history)
    events = release(state, reservation_id="r-1")
    assert events == [ReservationReleased(reservation_id="r-1", credits=500)]
    state = replay(events, state)
    history += events
    recorded = reservation_record(records_of(history), "r-1")
    assert recorded is not None
    assert (state.held, state.available, recorded.status) == (0, 1_000, "released")
    assert "r-1" not in state.holds
    assert release(state, reservation_id="r-1", recorded=recorded) == []


def test_releasing_an_expired_hold_changes_nothing() -> None:
    history: list[Event] = [held("r-1", 500)]
    state = with_balance(1_000, *history)
    events = expire_reservations(state, T0 + HOUR)
    state = replay(events, state)
    recorded = reservation_record(records_of([*history, *events]), "r-1")
    assert recorded is not None
    assert recorded.status == "expired"
    assert release(state, reservation_id="r-1", recorded=recorded) == []


def test_a_captured_or_unknown_hold_cannot_be_released() -> None:
    history: list[Event] = [
        held("r-1", 500),
        debited("m-1", 500, reservation_id="r-1", captured=500),
    ]
    state = with_balance(1_000, *history)
    records = records_of(history)
    with pytest.raises(ReservationNotActive, match="captured"):
        release(state, reservation_id="r-1", recorded=reservation_record(records, "r-1"))
    with pytest.raises(UnknownReservation):
        release(state, reservation_id="r-x", recorded=reservation_record(records, "r-x"))


def test_holds_expire_at_the_end_of_their_time_to_live() -> None:
    state = with_balance(1_000, held("r-1", 500))
    assert expire_reservations(state, T0 + HOUR - timedelta(seconds=1)) == []
    events = expire_reservations(state, T0 + HOUR)
    assert events == [ReservationExpired(reservation_id="r-1", credits=500)]
    state = replay(events, state)
    assert (state.held, state.available) == (0, 1_000)
    assert expire_reservations(state, T0 + 2 * HOUR) == []


def test_a_new_reservation_first_expires_holds_whose_time_is_up() -> None:
    state = with_balance(1_000, held("r-1", 800))
    events = reserve(state, reservation_id="r-2", credits=900, ttl_seconds=60, now=T0 + HOUR)
    assert events == [
        ReservationExpired(reservation_id="r-1", credits=800),
        CreditsReserved(
            reservation_id="r-2",
            credits=900,
            expires_at=T0 + HOUR + timedelta(seconds=60),
            mailing_id=None,
        ),
    ]


def test_an_on_demand_partner_reserves_without_a_balance() -> None:
    state = given(ON_DEMAND)
    events = reserve(
        state, reservation_id="r-1", credits=5_250, ttl_seconds=3_600, now=T0, mailing_id="m-1"
    )
    assert events == [held("r-1", 5_250, mailing_id="m-1")]
