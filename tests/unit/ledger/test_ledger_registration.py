"""Registering a partner, attaching customers, changing billing settings."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.domain import (
    AutoPurchaseResumed,
    AutoPurchaseSuspended,
    CreditsGranted,
    CustomerAlreadyAttached,
    CustomerAttached,
    Event,
    InvalidCommand,
    LowBalanceReached,
    PartnerAccount,
    PartnerAlreadyRegistered,
    PartnerNotRegistered,
    attach_customer,
    change_billing,
    grant_credits,
    register_partner,
    replay,
)

from .scenarios import CARD, REGISTERED, given, settings


def register(**changes: Any) -> list[Event]:
    values: dict[str, Any] = {
        "partner_id": "partner-1",
        "name": "Agentur Nord",
        "locale": "de",
        "billing_mode": "prepaid",
        "currency": "EUR",
        "credit_price_list_id": "credits-eur",
        "mailing_price_list_id": "mailings-eur",
    }
    values.update(changes)
    return register_partner(None, **values)


def test_registering_a_partner_opens_an_empty_account() -> None:
    assert register() == [REGISTERED]
    state = replay([REGISTERED])
    assert (state.balance, state.held, state.available, state.version) == (0, 0, 0, 1)
    assert (state.partner_id, state.locale, state.currency, state.billing_mode) == (
        "partner-1",
        "de",
        "EUR",
        "prepaid",
    )
    assert state.customers == {}


def test_registering_twice_is_a_conflict() -> None:
    with pytest.raises(PartnerAlreadyRegistered):
        register_partner(
            replay([REGISTERED]),
            partner_id="partner-1",
            name="Agentur Nord",
            locale="de",
            billing_mode="prepaid",
            currency="EUR",
            credit_price_list_id="credits-eur",
            mailing_price_list_id="mailings-eur",
        )


@pytest.mark.parametrize(
    "change",
    [{"locale": "fr"}, {"billing_mode": "postpaid"}, {"currency": "eur"}, {"name": " "}],
)
def test_registration_rejects_malformed_details(change: dict[str, str]) -> None:
    with pytest.raises(InvalidCommand):
        register(**change)


def test_commands_need_a_registered_partner() -> None:
    with pytest.raises(PartnerNotRegistered):
        grant_credits(None, credits=1, reason="welcome", actor="ops")
    with pytest.raises(PartnerNotRegistered):
        replay([])


def test_attaching_a_customer_records_it_once() -> None:
    state = replay([REGISTERED])
    events = attach_customer(state, customer_id="c-9", name="Blumen Berger")
    assert events == [CustomerAttached(customer_id="c-9", name="Blumen Berger")]
    state = replay(events, state)
    assert state.customers == {"c-9": "Blumen Berger"}
    assert attach_customer(state, customer_id="c-9", name="Blumen Berger") == []
    with pytest.raises(CustomerAlreadyAttached, match="Blumen Berger"):
        attach_customer(state, customer_id="c-9", name="Other Name")


def change(state: PartnerAccount | None = None, **values: Any) -> list[Event]:
    """When the partner saves these billing settings (prepaid, card, nothing else by default)."""
    arguments: dict[str, Any] = {
        "billing_mode": "prepaid",
        "reminder_threshold": None,
        "auto_purchase_credits": None,
        "auto_purchase_trigger": None,
        "payment_method": CARD,
    }
    arguments.update(values)
    return change_billing(state or given(), **arguments)


def test_billing_settings_are_recorded_in_full() -> None:
    state = given(CreditsGranted(credits=5_000, reason="welcome", actor="ops"))
    events = change(
        state=state,
        reminder_threshold=1_000,
        auto_purchase_credits=10_000,
        auto_purchase_trigger=500,
    )
    assert events == [
        settings(
            reminder_threshold=1_000,
            reminder_armed=True,
            auto_purchase_credits=10_000,
            auto_purchase_trigger=500,
        )
    ]
    after = replay(events, state)
    assert (after.reminder_threshold, after.reminder_armed) == (1_000, True)
    assert (after.auto_purchase_credits, after.auto_purchase_trigger) == (10_000, 500)
    assert after.payment_method == CARD


def test_saving_unchanged_settings_records_nothing() -> None:
    state = given(settings(reminder_threshold=100, reminder_armed=False))
    assert change(state=state, reminder_threshold=100) == []


def test_a_threshold_above_the_balance_is_not_a_crossing_and_stays_disarmed() -> None:
    state = given(CreditsGranted(credits=500, reason="welcome", actor="ops"))
    events = change(state=state, reminder_threshold=1_000)
    assert events == [settings(reminder_threshold=1_000, reminder_armed=False)]
    assert not any(isinstance(e, LowBalanceReached) for e in events)


def test_lowering_the_threshold_under_the_balance_arms_the_reminder() -> None:
    state = given(
        CreditsGranted(credits=500, reason="welcome", actor="ops"),
        settings(reminder_threshold=1_000, reminder_armed=False),
    )
    assert change(state=state, reminder_threshold=500) == [
        settings(reminder_threshold=500, reminder_armed=True)
    ]


@pytest.mark.parametrize(
    "values",
    [
        {"billing_mode": "postpaid"},
        {"reminder_threshold": -1},
        {"auto_purchase_credits": 0},
        {"auto_purchase_trigger": 100},
        {"auto_purchase_credits": 100, "auto_purchase_trigger": -1},
        {"payment_method": {"type": "cash"}},
        {"billing_mode": "on_demand", "payment_method": None},
        {"auto_purchase_credits": 100, "payment_method": None},
    ],
)
def test_malformed_billing_settings_are_rejected(values: dict[str, Any]) -> None:
    with pytest.raises(InvalidCommand):
        change(**values)


def test_saving_settings_with_auto_purchase_on_resumes_a_suspended_auto_purchase() -> None:
    state = given(
        settings(auto_purchase_credits=10_000),
        AutoPurchaseSuspended(failures=3, reason="3 consecutive declined payments"),
    )
    new_card = {"type": "card", "gateway_ref": "pm_new", "last4": "1881"}
    events = change(state=state, auto_purchase_credits=10_000, payment_method=new_card)
    assert events == [
        settings(auto_purchase_credits=10_000, payment_method=new_card),
        AutoPurchaseResumed(reason="billing settings saved by the partner"),
    ]
    after = replay(events, state)
    assert (after.auto_purchase_suspended, after.auto_purchase_failures) == (False, 0)


def test_turning_auto_purchase_off_forgets_its_suspension() -> None:
    state = given(
        settings(auto_purchase_credits=10_000),
        AutoPurchaseSuspended(failures=3, reason="3 consecutive declined payments"),
    )
    events = change(state=state)
    assert events == [settings()]
    after = replay(events, state)
    assert (after.auto_purchase_suspended, after.auto_purchase_failures) == (False, 0)
