"""The `payments.results` batch handler, run on in-memory fakes: each result takes effect once."""

from __future__ import annotations

from ledger.domain import (
    ChargeRequested,
    ChargeSucceeded,
    DebtRecorded,
    PurchaseReturned,
    PurchaseSucceeded,
    replay,
)
from ledger.service_layer.accounts import AccountCache
from ledger.service_layer.payment_results import PaymentResultHandler
from shared.messaging.consumer import BatchResult
from shared.messaging.inbox import IncomingRecord

from .fakes import FakeStore, given_stream
from .messages import payment_result
from .scenarios import ATTACHED, CARD, PARTNER, REGISTERED, T0, purchase_requested, settings


async def a_partner_with_a_purchase_in_flight(store: FakeStore) -> None:
    """Given partner-1 (prepaid, a card) who asked to buy 5,000 credits as purchase pur-1."""
    await given_stream(
        store,
        PARTNER,
        [REGISTERED, ATTACHED, settings(), purchase_requested("pur-1", 5_000, reason="manual")],
        T0,
    )


async def when_consumed(
    store: FakeStore, *records: IncomingRecord, cache: AccountCache | None = None
) -> BatchResult:
    async with store.unit_of_work() as uow:
        return await PaymentResultHandler().handle(
            uow, records, cache if cache is not None else AccountCache()
        )


def balance(store: FakeStore) -> int:
    return replay(store.events(PARTNER)).balance


async def test_a_succeeded_purchase_adds_its_credits() -> None:
    store = FakeStore()
    await a_partner_with_a_purchase_in_flight(store)
    result = await when_consumed(store, payment_result("pur-1", "succeeded"))
    assert (result.applied, result.dead_letters) == (1, [])
    assert store.events(PARTNER)[-1] == PurchaseSucceeded(
        purchase_id="pur-1", credits=5_000, amount_minor=5_000
    )
    assert balance(store) == 5_000
    assert store.record("purchase", PARTNER, "pur-1").status == "succeeded"
    assert replay(store.events(PARTNER)).purchases_in_flight == {}


async def test_a_result_delivered_again_changes_nothing() -> None:
    store = FakeStore()
    await a_partner_with_a_purchase_in_flight(store)
    await when_consumed(store, payment_result("pur-1", "succeeded"))
    before = store.stored(PARTNER)
    # The same message again (inbox), and the same outcome sent anew (the purchase's record).
    again = await when_consumed(store, payment_result("pur-1", "succeeded"))
    anew = await when_consumed(store, payment_result("pur-1", "succeeded", event_id="resent"))
    assert (again.applied, again.duplicates, again.dead_letters) == (0, 1, [])
    assert (anew.duplicates, anew.dead_letters) == (0, [])
    assert store.stored(PARTNER) == before
    assert balance(store) == 5_000


async def test_a_return_after_success_takes_the_credits_back_from_the_closed_purchase() -> None:
    store = FakeStore()
    await a_partner_with_a_purchase_in_flight(store)
    await when_consumed(store, payment_result("pur-1", "succeeded"))
    # The purchase left the account's state when it succeeded: only its record knows it.
    assert "pur-1" not in replay(store.events(PARTNER)).purchases_in_flight
    result = await when_consumed(
        store, payment_result("pur-1", "returned", reason="MD06"), cache=AccountCache()
    )
    assert (result.applied, result.dead_letters) == (1, [])
    assert store.events(PARTNER)[-1] == PurchaseReturned(
        purchase_id="pur-1", credits=5_000, amount_minor=5_000, reason="MD06", code=None
    )
    assert balance(store) == 0
    assert store.record("purchase", PARTNER, "pur-1").status == "returned"


async def test_success_and_return_of_one_purchase_in_one_batch_both_take_effect() -> None:
    store = FakeStore()
    await a_partner_with_a_purchase_in_flight(store)
    result = await when_consumed(
        store, payment_result("pur-1", "succeeded"), payment_result("pur-1", "returned")
    )
    assert (result.applied, result.dead_letters) == (2, [])
    assert [type(e) for e in store.events(PARTNER)[-2:]] == [PurchaseSucceeded, PurchaseReturned]
    assert balance(store) == 0
    assert store.record("purchase", PARTNER, "pur-1").status == "returned"


async def test_a_result_for_an_unknown_purchase_is_dead_lettered() -> None:
    store = FakeStore()
    await a_partner_with_a_purchase_in_flight(store)
    before = store.stored(PARTNER)
    unknown = payment_result("pur-9", "succeeded")
    result = await when_consumed(store, unknown)
    assert result.applied == 0
    assert [(d.offset, d.reason) for d in result.dead_letters] == [
        (unknown.offset, "purchase 'pur-9' does not exist")
    ]
    assert store.stored(PARTNER) == before


async def test_a_result_for_an_unknown_partner_is_dead_lettered() -> None:
    store = FakeStore()
    result = await when_consumed(store, payment_result("pur-1", "succeeded", partner_id="nobody"))
    assert (result.applied, [d.reason for d in result.dead_letters]) == (
        0,
        ["unknown partner 'nobody'"],
    )
    assert store.events("nobody") == []


async def test_a_failed_on_demand_charge_becomes_debt_and_a_late_success_is_a_conflict() -> None:
    store = FakeStore()
    on_demand = settings(billing_mode="on_demand", payment_method=dict(CARD))
    await given_stream(store, PARTNER, [REGISTERED, ATTACHED, on_demand], T0)
    # A charge as the mailing handler requests it.
    charge = ChargeRequested(
        charge_id="ch-1",
        credits=55,
        amount_minor=55,
        currency="EUR",
        mailing_ids=("m-1",),
        payment_method=dict(CARD),
    )
    await given_stream(store, PARTNER, [charge], T0)
    await when_consumed(store, payment_result("ch-1", "failed", kind="charge", amount_minor=55))
    assert store.events(PARTNER)[-1] == DebtRecorded(charge_id="ch-1", credits=55, amount_minor=55)
    late = await when_consumed(
        store, payment_result("ch-1", "succeeded", kind="charge", amount_minor=55)
    )
    assert late.applied == 0
    [letter] = late.dead_letters
    assert "ch-1" in letter.reason
    assert not any(isinstance(e, ChargeSucceeded) for e in store.events(PARTNER))
    assert replay(store.events(PARTNER)).debt_minor == 55
