"""The `mailing.sent` batch handler, run on in-memory fakes: no Kafka, PostgreSQL or pricing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ledger.domain import (
    ChargeRequested,
    CreditsGranted,
    CreditsReserved,
    Event,
    MailingDebited,
    PartnerRegistered,
    PurchaseRequested,
    charge_id_for,
    replay,
)
from ledger.service_layer.accounts import AccountCache
from ledger.service_layer.mailing_sent import MailingSentHandler
from ledger.service_layer.ports import MailingDebitedBefore, PricingUnavailable
from shared.messaging.consumer import BatchResult
from shared.messaging.inbox import IncomingRecord

from .fakes import FakePricing, FakeStore, given_stream
from .messages import record, sent, sent_with
from .scenarios import (
    ATTACHED,
    CUSTOMER,
    MAILING_PRICES,
    ON_DEMAND,
    PARTNER,
    REGISTERED,
    T0,
    minutes,
    settings,
)

MINIMUM_CHARGE_MINOR = 50


def granted(credits: int) -> CreditsGranted:
    return CreditsGranted(credits=credits, reason="welcome", actor="ops:bob")


async def a_prepaid_partner(store: FakeStore, credits: int, *events: Event) -> None:
    """Given partner-1 (prepaid, one customer) holding ``credits``, then ``events``."""
    await given_stream(store, PARTNER, [REGISTERED, ATTACHED, granted(credits), *events], T0)


async def when_consumed(
    store: FakeStore,
    pricing: FakePricing,
    *records: IncomingRecord,
    cache: AccountCache | None = None,
    handler: MailingSentHandler | None = None,
) -> BatchResult:
    """The consumer's transaction: handle the batch, commit (or roll back when it raises). A
    batch refused for a mailing debited before is tried again, as the consumer does."""
    handler = handler or MailingSentHandler(pricing, MINIMUM_CHARGE_MINOR)
    cache = cache if cache is not None else AccountCache()
    try:
        async with store.unit_of_work() as uow:
            return await handler.handle(uow, records, cache)
    except MailingDebitedBefore:
        # What `AccountConsumer` forgets before the batch is tried again: its partners' states.
        cache.discard(r.key.decode() for r in records if r.key)
        async with store.unit_of_work() as uow:
            return await handler.handle(uow, records, cache)


def debits(store: FakeStore, partner_id: str = PARTNER) -> list[MailingDebited]:
    return [e for e in store.events(partner_id) if isinstance(e, MailingDebited)]


def balance(store: FakeStore, partner_id: str = PARTNER) -> int:
    return replay(store.events(partner_id)).balance


def reasons(result: BatchResult) -> list[str]:
    return [letter.reason for letter in result.dead_letters]


# --- one debit per mailing -----------------------------------------------------------------


async def test_a_mailing_is_debited_at_the_price_in_credits() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    result = await when_consumed(store, pricing, sent("m-1", 5_000), sent("m-2", 1))
    assert (result.applied, result.duplicates, result.dead_letters) == (2, 0, [])
    assert [(d.mailing_id, d.recipients, d.credits) for d in debits(store)] == [
        ("m-1", 5_000, 5_250),
        ("m-2", 1, 1),
    ]
    assert balance(store) == 10_000 - 5_251


async def test_a_count_of_recipients_written_as_1200_0_is_debited_as_the_integer_1200() -> None:
    # JSON Schema counts 1200.0 as an integer, so the schema lets it through; the ledger
    # keeps integers only (a float in an event would not even hash exactly).
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    result = await when_consumed(store, pricing, sent_with({"recipients": 1200.0}))
    assert (result.applied, result.dead_letters) == (1, [])
    [debit] = debits(store)
    assert (type(debit.recipients), debit.recipients, debit.credits) == (int, 1200, 1260)


async def test_the_quote_behind_each_debit_is_kept_once_per_price_and_quantity() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    await when_consumed(store, pricing, sent("m-1", 10), sent("m-2", 10), sent("m-3", 20))
    assert [(d.price_list_id, d.price_list_version) for d in debits(store)] == [
        (MAILING_PRICES, 3)
    ] * 3
    kept = {key: quote.quote["amount_minor"] for key, quote in store.data.quotes.items()}
    assert kept == {
        (MAILING_PRICES, 3, "recipients", 10): 11,  # 10.5 rounds half-up to 11
        (MAILING_PRICES, 3, "recipients", 20): 21,
    }


async def test_the_same_event_twice_in_one_batch_is_debited_once() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    result = await when_consumed(store, pricing, sent("m-1", 100), sent("m-1", 100))
    assert (result.applied, result.duplicates, result.dead_letters) == (1, 1, [])
    assert [d.mailing_id for d in debits(store)] == ["m-1"]
    assert balance(store) == 10_000 - 105


async def test_an_event_delivered_again_in_a_later_batch_changes_nothing() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    await when_consumed(store, pricing, sent("m-1", 100))
    before = store.stored(PARTNER)
    result = await when_consumed(store, pricing, sent("m-1", 100))
    assert (result.applied, result.duplicates, result.dead_letters) == (0, 1, [])
    assert store.stored(PARTNER) == before


async def test_the_same_mailing_under_two_event_ids_in_one_batch_is_debited_once() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    first = sent("m-1", 100, event_id="ev-a")
    second = sent("m-1", 100, event_id="ev-b")
    result = await when_consumed(store, pricing, first, second)
    assert result.applied == 1
    assert [(d.offset, d.reason) for d in result.dead_letters] == [
        (second.offset, "mailing 'm-1' was debited already")
    ]
    assert [d.mailing_id for d in debits(store)] == ["m-1"]


async def test_a_refused_first_copy_of_a_mailing_leaves_the_second_copy_to_be_debited() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    wrong = sent("m-1", 100, event_id="ev-a", customer_id="customer-9")
    right = sent("m-1", 100, event_id="ev-b")
    result = await when_consumed(store, pricing, wrong, right)
    assert result.applied == 1
    assert [(d.offset, d.reason) for d in result.dead_letters] == [
        (wrong.offset, "customer 'customer-9' is not attached to this partner")
    ]
    assert [d.mailing_id for d in debits(store)] == ["m-1"]
    assert balance(store) == 10_000 - 105


async def test_the_same_mailing_under_a_new_event_id_in_a_later_batch_is_dead_lettered() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    await when_consumed(store, pricing, sent("m-1", 100, event_id="ev-a"))
    result = await when_consumed(store, pricing, sent("m-1", 100, event_id="ev-b"))
    assert (result.applied, reasons(result)) == (0, ["mailing 'm-1' was debited already"])
    assert [d.mailing_id for d in debits(store)] == ["m-1"]
    assert balance(store) == 10_000 - 105


async def test_a_mailing_debited_before_fails_the_batch_and_the_next_try_sets_it_aside() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    handler = MailingSentHandler(pricing, MINIMUM_CHARGE_MINOR)
    await when_consumed(store, pricing, sent("m-1", 100, event_id="ev-a"), handler=handler)
    again = sent("m-1", 100, event_id="ev-b")
    with pytest.raises(MailingDebitedBefore):
        async with store.unit_of_work() as uow:
            await handler.handle(uow, [again, sent("m-2", 100)], AccountCache())
    assert [d.mailing_id for d in debits(store)] == ["m-1"]  # nothing of the batch was kept

    result = await when_consumed(store, pricing, again, sent("m-2", 100), handler=handler)
    assert (result.applied, reasons(result)) == (1, ["mailing 'm-1' was debited already"])
    assert [d.mailing_id for d in debits(store)] == ["m-1", "m-2"]
    assert balance(store) == 10_000 - 2 * 105


async def test_mailings_are_looked_up_only_for_a_while_after_one_was_debited_before() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 1_000_000)
    handler = MailingSentHandler(pricing, MINIMUM_CHARGE_MINOR)
    handler.lookup_batches_after_a_repeat = 2
    for n in range(3):
        await when_consumed(store, pricing, sent(f"m-{n}", 10), handler=handler)
    assert store.mailing_lookups == []

    await when_consumed(store, pricing, sent("m-0", 10, event_id="copy"), handler=handler)
    await when_consumed(store, pricing, sent("m-3", 10), handler=handler)
    await when_consumed(store, pricing, sent("m-4", 10), handler=handler)
    # The refused try looked nothing up; its second try and one more batch did.
    assert store.mailing_lookups == [[(PARTNER, "m-0")], [(PARTNER, "m-3")]]
    assert [d.mailing_id for d in debits(store)] == [f"m-{n}" for n in range(5)]


# --- what cannot be recorded becomes a dead letter, and the batch goes on -------------------


async def test_a_mailing_of_an_unknown_partner_is_dead_lettered_with_the_reason() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    stranger = sent("m-1", 100, partner_id="nobody")
    result = await when_consumed(store, pricing, stranger, sent("m-2", 100))
    assert result.applied == 1
    [letter] = result.dead_letters
    assert (letter.offset, letter.reason) == (stranger.offset, "unknown partner 'nobody'")
    assert letter.message == stranger.value  # kept byte for byte
    assert [d.mailing_id for d in debits(store)] == ["m-2"]
    assert store.events("nobody") == []


async def test_a_mailing_of_an_unknown_customer_is_dead_lettered_with_the_reason() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    result = await when_consumed(
        store, pricing, sent("m-1", 100, customer_id="customer-9"), sent("m-2", 100)
    )
    assert result.applied == 1
    assert reasons(result) == ["customer 'customer-9' is not attached to this partner"]
    assert [d.mailing_id for d in debits(store)] == ["m-2"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not JSON"),
        (None, "message has no value (tombstone)"),
    ],
)
async def test_bytes_that_are_no_event_are_dead_lettered(value: bytes | None, reason: str) -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    bad = record("mailing.sent", value)
    result = await when_consumed(store, pricing, bad, sent("m-2", 100))
    assert result.applied == 1
    [letter] = result.dead_letters
    assert letter.offset == bad.offset
    assert letter.reason.startswith(reason)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recipients": -1}, "$.data.recipients"),
        ({"recipients": "many"}, "$.data.recipients"),
        ({"customer_id": None}, "$.data"),
        ({"sent_at": "yesterday"}, "$.data.sent_at"),
    ],
)
async def test_an_event_that_breaks_the_schema_is_dead_lettered_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    result = await when_consumed(store, pricing, sent_with(changes), sent("m-2", 100))
    assert result.applied == 1
    [reason] = reasons(result)
    assert reason.startswith(field + ":")
    assert [d.mailing_id for d in debits(store)] == ["m-2"]


async def test_a_refused_price_list_dead_letters_its_mailings_and_the_batch_goes_on() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    other = replace(REGISTERED, partner_id="partner-2", mailing_price_list_id="retired")
    await given_stream(store, "partner-2", [other, ATTACHED, granted(1_000)], T0)
    pricing.refuse("retired", "price list 'retired' does not exist")
    result = await when_consumed(
        store,
        pricing,
        sent("m-1", 100),
        sent("m-2", 100, partner_id="partner-2"),
        sent("m-3", 100),
    )
    assert result.applied == 2
    assert reasons(result) == ["pricing refused the mailing: price list 'retired' does not exist"]
    assert [d.mailing_id for d in debits(store)] == ["m-1", "m-3"]
    assert debits(store, "partner-2") == []


async def test_pricing_down_fails_the_whole_batch_and_nothing_is_written() -> None:
    store, pricing = FakeStore(), FakePricing()
    await a_prepaid_partner(store, 10_000)
    before = store.data.copy()
    pricing.unavailable = True
    with pytest.raises(PricingUnavailable):
        await when_consumed(store, pricing, sent("m-1", 100))
    assert store.data == before  # not even the inbox claim: the batch will be read again
    pricing.unavailable = False
    result = await when_consumed(store, pricing, sent("m-1", 100))
    assert (result.applied, result.duplicates) == (1, 0)


# --- auto-purchase ---------------------------------------------------------------------------


async def test_auto_purchase_is_requested_right_after_the_debit_that_reaches_the_trigger() -> None:
    store, pricing = FakeStore(), FakePricing()
    auto = settings(auto_purchase_credits=10_000, auto_purchase_trigger=2_000)
    await a_prepaid_partner(store, 5_000, auto)  # versions 1-4
    # 1,050 credits each: 3,950, 2,900, 1,850 (at or below 2,000), 800, -250
    result = await when_consumed(store, pricing, *(sent(f"m-{n}", 1_000) for n in range(1, 6)))
    assert result.applied == 5
    tail = [
        (s.originator_version, type(s.event).__name__, getattr(s.event, "mailing_id", None))
        for s in store.stored(PARTNER)[4:]
    ]
    assert tail == [
        (5, "MailingDebited", "m-1"),
        (6, "MailingDebited", "m-2"),
        (7, "MailingDebited", "m-3"),
        (8, "PurchaseRequested", None),
        (9, "MailingDebited", "m-4"),
        (10, "MailingDebited", "m-5"),
    ]
    [purchase] = [e for e in store.events(PARTNER) if isinstance(e, PurchaseRequested)]
    assert (purchase.purchase_id, purchase.reason) == (f"{PARTNER}:auto-purchase:7", "auto")
    # The smallest number of 10,000-credit chunks lifting 1,850 above 2,000, at EUR 0.01 each.
    assert (purchase.credits, purchase.amount_minor, purchase.currency) == (10_000, 10_000, "EUR")
    assert store.message_types() == ["ledger.purchase_requested"]
    assert store.record("purchase", PARTNER, purchase.purchase_id).status == "requested"


async def test_no_second_auto_purchase_while_the_first_is_in_flight() -> None:
    store, pricing = FakeStore(), FakePricing()
    auto = settings(auto_purchase_credits=10_000, auto_purchase_trigger=2_000)
    await a_prepaid_partner(store, 5_000, auto)
    await when_consumed(store, pricing, *(sent(f"m-{n}", 1_000) for n in range(1, 4)))
    await when_consumed(store, pricing, *(sent(f"m-{n}", 1_000) for n in range(4, 8)))
    purchases = [e for e in store.events(PARTNER) if isinstance(e, PurchaseRequested)]
    assert len(purchases) == 1
    assert balance(store) == 5_000 - 7 * 1_050


# --- holds ---------------------------------------------------------------------------------


async def test_a_mailing_naming_its_hold_captures_up_to_the_hold_and_releases_the_rest() -> None:
    store, pricing = FakeStore(), FakePricing()
    hold = CreditsReserved(
        reservation_id="res-1", credits=2_000, expires_at=T0 + timedelta(hours=1), mailing_id="m-1"
    )
    await a_prepaid_partner(store, 10_000, hold)
    assert store.record("reservation", PARTNER, "res-1").status == "active"
    await when_consumed(store, pricing, sent("m-1", 1_000, reservation_id="res-1"))
    [debit] = debits(store)
    assert (debit.credits, debit.captured_credits, debit.released_credits) == (1_050, 1_050, 950)
    account = replay(store.events(PARTNER))
    assert (account.balance, account.held, account.available) == (8_950, 0, 8_950)
    assert store.record("reservation", PARTNER, "res-1").status == "captured"


async def test_a_mailing_sent_after_its_hold_expired_is_a_plain_debit() -> None:
    store, pricing = FakeStore(), FakePricing()
    hold = CreditsReserved(
        reservation_id="res-1", credits=2_000, expires_at=T0 + minutes(5), mailing_id="m-1"
    )
    await a_prepaid_partner(store, 10_000, hold)
    await when_consumed(
        store, pricing, sent("m-1", 1_000, reservation_id="res-1", sent_at=T0 + minutes(6))
    )
    [debit] = debits(store)
    assert (debit.captured_credits, debit.released_credits) == (0, 0)
    assert store.record("reservation", PARTNER, "res-1").status == "expired"
    assert balance(store) == 10_000 - 1_050


# --- on demand -----------------------------------------------------------------------------


async def test_small_on_demand_debits_wait_until_one_charge_takes_them_all() -> None:
    store, pricing = FakeStore(), FakePricing()
    await given_stream(store, PARTNER, [REGISTERED, ATTACHED, ON_DEMAND], T0)
    # 10 recipients -> 11 credits -> EUR 0.11 each; the gateway's minimum is EUR 0.50.
    await when_consumed(store, pricing, *(sent(f"m-{n}", 10) for n in range(1, 5)))
    assert [d.charge_minor for d in debits(store)] == [11, 11, 11, 11]
    assert not any(isinstance(e, ChargeRequested) for e in store.events(PARTNER))
    assert store.message_types() == []
    # A fresh cache: what waits is read back from the store, not from memory.
    await when_consumed(store, pricing, sent("m-5", 10), cache=AccountCache())
    charges = [e for e in store.events(PARTNER) if isinstance(e, ChargeRequested)]
    assert [(c.charge_id, c.credits, c.amount_minor, c.mailing_ids) for c in charges] == [
        (charge_id_for(PARTNER, "m-5"), 55, 55, ("m-1", "m-2", "m-3", "m-4", "m-5"))
    ]
    assert store.message_types() == ["ledger.charge_requested"]
    account = replay(store.events(PARTNER))
    assert (account.uncharged_minor, account.balance) == (0, 0)


async def test_on_demand_credits_are_priced_in_money_by_the_credit_price_list() -> None:
    store, pricing = FakeStore(), FakePricing()
    await given_stream(store, PARTNER, [REGISTERED, ATTACHED, ON_DEMAND], T0)
    # 20,000 recipients -> 21,000 credits, above 10,000 at EUR 0.008: EUR 168.00.
    await when_consumed(store, pricing, sent("m-1", 20_000))
    [debit] = debits(store)
    assert (debit.credits, debit.charge_minor) == (21_000, 16_800)
    [charge] = [e for e in store.events(PARTNER) if isinstance(e, ChargeRequested)]
    assert (charge.credits, charge.amount_minor) == (21_000, 16_800)


# --- snapshots -----------------------------------------------------------------------------


async def test_snapshots_are_kept_every_interval_and_a_cold_load_starts_at_the_latest() -> None:
    store, pricing = FakeStore(snapshot_interval=5), FakePricing()
    await a_prepaid_partner(store, 100_000)  # versions 1-3
    cache = AccountCache()
    await when_consumed(store, pricing, *(sent(f"m-{n}", 100) for n in range(1, 9)), cache=cache)
    assert store.snapshot_versions(PARTNER) == [5, 10]
    await when_consumed(store, pricing, *(sent(f"m-{n}", 100) for n in range(9, 14)), cache=cache)
    assert store.snapshot_versions(PARTNER) == [5, 10, 15]  # the stream is at version 16
    for version in (5, 10, 15):  # a snapshot is the replay of the stream up to it
        snapshot = store.data.snapshots[PARTNER][version].state
        assert snapshot == replay(store.events(PARTNER)[:version])

    store.event_loads.clear()
    await when_consumed(store, pricing, sent("m-14", 100), cache=AccountCache())
    assert store.event_loads == [{PARTNER: 15}]  # only the events after the snapshot
    assert isinstance(store.events(PARTNER)[0], PartnerRegistered)
    assert balance(store) == 100_000 - 14 * 105


async def test_a_warm_cache_asks_only_for_events_after_the_state_it_holds() -> None:
    store, pricing = FakeStore(snapshot_interval=5), FakePricing()
    await a_prepaid_partner(store, 100_000)
    cache = AccountCache()
    await when_consumed(store, pricing, *(sent(f"m-{n}", 100) for n in range(1, 4)), cache=cache)
    store.event_loads.clear()
    store.snapshot_loads.clear()
    await when_consumed(store, pricing, sent("m-4", 100), cache=cache)
    assert store.snapshot_loads == [{PARTNER: 6}]
    assert store.event_loads == [{PARTNER: 6}]
    assert balance(store) == 100_000 - 4 * 105
    assert CUSTOMER in replay(store.events(PARTNER)).customers
