"""`run_command` on in-memory fakes: reservations made, repeated, released, and raced."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.domain import (
    CreditsGranted,
    CreditsReserved,
    Event,
    PartnerAccount,
    Record,
    Reservation,
    ReservationConflict,
    ReservationReleased,
    release,
    replay,
    reserve,
)
from ledger.service_layer.commands import (
    MAX_ATTEMPTS,
    AccountBusy,
    Command,
    Idempotency,
    IdempotencyConflict,
    run_command,
)

from .fakes import FakeStore, given_stream
from .scenarios import ATTACHED, PARTNER, REGISTERED, T0, minutes

NOW = T0 + minutes(1)
GRANTED = CreditsGranted(credits=10_000, reason="welcome", actor="ops:bob")


async def a_partner_with_credits(store: FakeStore) -> None:
    """Given partner-1 (prepaid) holding 10,000 credits."""
    await given_stream(store, PARTNER, [REGISTERED, ATTACHED, GRANTED], T0)


def _answer(
    state: PartnerAccount | None, _: list[Event], recorded: Record | None
) -> tuple[int, dict[str, Any]]:
    """What the API answers: the reservation as recorded, and the balance."""
    assert state is not None
    assert isinstance(recorded, Reservation)
    return 201, {
        "credits": recorded.credits,
        "status": recorded.status,
        "mailing_id": recorded.mailing_id,
        "balance": state.balance,
        "available": state.available,
    }


def reserving(
    reservation_id: str,
    credits: int,
    mailing_id: str | None = "m-1",
    idempotency: Idempotency | None = None,
) -> Command:
    """POST /partners/partner-1/reservations, as the route builds the command."""

    def decide(state: PartnerAccount | None, recorded: Record | None) -> list[Event]:
        return reserve(
            state,
            reservation_id=reservation_id,
            credits=credits,
            ttl_seconds=3_600,
            now=NOW,
            mailing_id=mailing_id,
            recorded=recorded if isinstance(recorded, Reservation) else None,
        )

    return Command(
        PARTNER,
        decide,
        {"actor": "partner:alice"},
        _answer,
        idempotency=idempotency,
        record=("reservation", reservation_id),
    )


def releasing(reservation_id: str) -> Command:
    def decide(state: PartnerAccount | None, recorded: Record | None) -> list[Event]:
        return release(
            state,
            reservation_id=reservation_id,
            recorded=recorded if isinstance(recorded, Reservation) else None,
        )

    return Command(
        PARTNER, decide, {"actor": "partner:alice"}, _answer, record=("reservation", reservation_id)
    )


async def test_a_reservation_holds_credits() -> None:
    store = FakeStore()
    await a_partner_with_credits(store)
    answer = await run_command(store.unit_of_work, reserving("res-1", 2_000), NOW)
    assert answer == (
        201,
        {
            "credits": 2_000,
            "status": "active",
            "mailing_id": "m-1",
            "balance": 10_000,
            "available": 8_000,
        },
    )
    assert store.events(PARTNER)[-1] == CreditsReserved(
        reservation_id="res-1", credits=2_000, expires_at=NOW + minutes(60), mailing_id="m-1"
    )
    assert store.record("reservation", PARTNER, "res-1").status == "active"


async def test_the_same_reservation_again_gives_the_same_answer_and_appends_nothing() -> None:
    store = FakeStore()
    await a_partner_with_credits(store)
    first = await run_command(store.unit_of_work, reserving("res-1", 2_000), NOW)
    before = store.stored(PARTNER)
    again = await run_command(store.unit_of_work, reserving("res-1", 2_000), NOW)
    assert again == first
    assert store.stored(PARTNER) == before
    assert replay(store.events(PARTNER)).held == 2_000


@pytest.mark.parametrize(("credits", "mailing_id"), [(3_000, "m-1"), (2_000, "m-2"), (2_000, None)])
async def test_the_same_reservation_id_with_other_values_is_a_conflict(
    credits: int, mailing_id: str | None
) -> None:
    store = FakeStore()
    await a_partner_with_credits(store)
    await run_command(store.unit_of_work, reserving("res-1", 2_000), NOW)
    before = store.stored(PARTNER)
    with pytest.raises(ReservationConflict, match="res-1"):
        await run_command(store.unit_of_work, reserving("res-1", credits, mailing_id), NOW)
    assert store.stored(PARTNER) == before


async def test_after_release_the_same_reservation_again_changes_nothing() -> None:
    store = FakeStore()
    await a_partner_with_credits(store)
    await run_command(store.unit_of_work, reserving("res-1", 2_000), NOW)
    released = await run_command(store.unit_of_work, releasing("res-1"), NOW)
    assert released[1]["status"] == "released"
    assert store.events(PARTNER)[-1] == ReservationReleased(reservation_id="res-1", credits=2_000)
    before = store.stored(PARTNER)
    # The hold left the account's state; only the record remembers the id.
    assert "res-1" not in replay(store.events(PARTNER)).holds
    again = await run_command(store.unit_of_work, reserving("res-1", 2_000), NOW)
    assert again == released
    assert again[1] == {
        "credits": 2_000,
        "status": "released",
        "mailing_id": "m-1",
        "balance": 10_000,
        "available": 10_000,
    }
    assert store.stored(PARTNER) == before
    # And with other values it is still a conflict, though the hold is gone.
    with pytest.raises(ReservationConflict):
        await run_command(store.unit_of_work, reserving("res-1", 500), NOW)


async def test_a_concurrent_append_makes_the_command_decide_again_on_the_new_state() -> None:
    store = FakeStore()
    await a_partner_with_credits(store)
    bonus = CreditsGranted(credits=500, reason="goodwill", actor="ops:eve")
    store.race_next_append(PARTNER, bonus)  # another writer takes version 4 first
    answer = await run_command(store.unit_of_work, reserving("res-1", 2_000), NOW)
    assert store.units_opened == 1 + 2  # the given stream, then two attempts
    assert [(s.originator_version, type(s.event)) for s in store.stored(PARTNER)[3:]] == [
        (4, CreditsGranted),
        (5, CreditsReserved),
    ]
    assert answer[1]["available"] == 10_500 - 2_000  # decided on the state with the bonus
    assert store.record("reservation", PARTNER, "res-1").status == "active"


async def test_a_command_that_keeps_losing_the_race_gives_up_after_the_last_attempt() -> None:
    store = FakeStore()
    await a_partner_with_credits(store)
    for _ in range(MAX_ATTEMPTS):
        store.race_next_append(PARTNER, CreditsGranted(credits=1, reason="race", actor="ops"))
    with pytest.raises(AccountBusy):  # the API answers 503 with Retry-After
        await run_command(store.unit_of_work, reserving("res-1", 2_000), NOW)
    assert not any(isinstance(e, CreditsReserved) for e in store.events(PARTNER))


async def test_an_idempotency_key_replays_the_stored_answer_or_refuses_another_request() -> None:
    store = FakeStore()
    await a_partner_with_credits(store)
    key = Idempotency("partner-1", "key-1", request_hash="hash-a")
    first = await run_command(store.unit_of_work, reserving("res-1", 2_000, idempotency=key), NOW)
    await run_command(store.unit_of_work, releasing("res-1"), NOW)
    # The stored answer, not the reservation as it stands now (released).
    again = await run_command(store.unit_of_work, reserving("res-1", 2_000, idempotency=key), NOW)
    assert again == first
    other = Idempotency("partner-1", "key-1", request_hash="hash-b")
    with pytest.raises(IdempotencyConflict):
        await run_command(store.unit_of_work, reserving("res-2", 100, idempotency=other), NOW)
