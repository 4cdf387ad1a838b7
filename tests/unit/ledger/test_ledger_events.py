"""Every event type survives event_to_dict -> JSON -> event_from_dict unchanged (the event store
adapter's mapping), and rows of older schema versions are upcast on load."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from ledger.adapters.stored_events import (
    EVENT_TYPES,
    event_from_dict,
    event_to_dict,
    from_row,
    to_row,
)
from ledger.domain import (
    AutoPurchaseResumed,
    AutoPurchaseSuspended,
    BalanceRecovered,
    BalanceThresholdArmed,
    BalanceThresholdCrossed,
    ChargeFailed,
    ChargeRequested,
    ChargeReturned,
    ChargeSucceeded,
    ContractChanged,
    CreditsAdjusted,
    CreditsGranted,
    CreditsReserved,
    CustomerBudgetAlert,
    CustomerBudgetSet,
    DebtRecorded,
    DebtSettled,
    Event,
    LowBalanceReached,
    PurchaseFailed,
    PurchaseReturned,
    PurchaseSucceeded,
    ReminderArmed,
    ReminderRearmed,
    ReservationExpired,
    ReservationReleased,
    StatementIssued,
)

from .scenarios import ATTACHED, CARD, REGISTERED, T0, debited, purchase_requested, settings

CHARGE_REQUESTED = ChargeRequested(
    charge_id="c-1",
    credits=125,
    amount_minor=50,
    currency="EUR",
    mailing_ids=("m-1", "m-2"),
    payment_method=CARD,
)
SAMPLES: list[Event] = [
    REGISTERED,
    ATTACHED,
    settings(reminder_threshold=1_000, reminder_armed=True, auto_purchase_credits=10_000),
    settings(payment_method=None),
    debited("m-1", 5_250, reservation_id="r-1", captured=5_000, released=0),
    debited("m-2", 75, charge_minor=30),
    CreditsReserved(reservation_id="r-1", credits=5_000, expires_at=T0, mailing_id="m-1"),
    CreditsReserved(reservation_id="r-2", credits=1, expires_at=T0, mailing_id=None),
    ReservationReleased(reservation_id="r-1", credits=5_000),
    ReservationExpired(reservation_id="r-2", credits=1),
    LowBalanceReached(balance=-200, threshold=1_000),
    ReminderRearmed(balance=1_000, threshold=1_000),
    ReminderArmed(balance=1_500, threshold=1_000),
    purchase_requested("pur-1", 10_000),
    PurchaseSucceeded(purchase_id="pur-1", credits=10_000, amount_minor=8_900),
    PurchaseFailed(
        purchase_id="pur-2",
        reason="insufficient funds",
        code="card_declined",
        retryable=True,
        retry_not_before=T0 + timedelta(hours=1),
        consecutive_failures=1,
    ),
    PurchaseFailed(
        purchase_id="pur-3",
        reason=None,
        code=None,
        retryable=False,
        retry_not_before=None,
        consecutive_failures=None,
    ),
    PurchaseReturned(
        purchase_id="pur-1", credits=10_000, amount_minor=8_900, reason="AM04", code="AM04"
    ),
    AutoPurchaseSuspended(failures=3, reason="3 consecutive declined payments"),
    AutoPurchaseResumed(reason="a manual purchase succeeded"),
    CreditsGranted(credits=500, reason="welcome", actor="ops:bob"),
    CreditsAdjusted(delta=-20, reason="correction", actor="ops:bob"),
    CHARGE_REQUESTED,
    ChargeSucceeded(charge_id="c-1", credits=125, amount_minor=50),
    ChargeFailed(charge_id="c-2", reason="expired card", code="expired_card"),
    ChargeReturned(charge_id="c-1", credits=125, amount_minor=50, reason="MD01", code=None),
    DebtRecorded(charge_id="c-2", credits=125, amount_minor=50),
    DebtSettled(credits=125, amount_minor=50, by="payment", actor="ops:bob", reference=None),
    ContractChanged(
        customer_id="c1",
        price_list_id="resale-basic",
        plan_variant_id="basic_monthly",
        starts_on=date(2026, 11, 10),
        billing_anchor=date(2026, 11, 1),
        billing_period="P1M",
        booked={"seats": "3"},
    ),
    StatementIssued(
        customer_id="c1",
        period_start=date(2026, 11, 10),
        period_end=date(2026, 12, 1),
        price_list_id="resale-basic",
        price_list_version=1,
        plan_variant_id="basic_monthly",
        currency="EUR",
        total="12.34",
        total_minor=1234,
        mailings=2,
        recipients=700,
        credits=735,
        quote={"total": "12.34", "lines": [{"kind": "recurring_fee", "exact_amount": "12.34"}]},
    ),
    settings(reminder_thresholds=(5_000, 1_000)),
    CreditsReserved(
        reservation_id="r-3", credits=7, expires_at=T0, mailing_id=None, customer_id="c1"
    ),
    BalanceThresholdCrossed(threshold=1_000, balance=-20),
    BalanceRecovered(threshold=1_000, balance=1_200),
    BalanceThresholdArmed(threshold=5_000, balance=5_000),
    CustomerBudgetSet(
        customer_id="c1", monthly_credits=10_000, alert_percents=(80, 100), month="2026-12", used=0
    ),
    CustomerBudgetSet(
        customer_id="c1", monthly_credits=None, alert_percents=(), month="2026-12", used=250
    ),
    CustomerBudgetAlert(
        customer_id="c1", percent=80, used=8_100, monthly_credits=10_000, month="2026-12"
    ),
]


def test_the_samples_cover_every_event_type() -> None:
    assert {type(e).__name__ for e in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_an_event_round_trips_through_json(event: Event) -> None:
    type_name, payload = event_to_dict(event)
    assert type_name == type(event).__name__
    stored = json.loads(json.dumps(payload))
    assert stored == payload
    assert event_from_dict(type_name, stored) == event


def test_times_travel_as_iso_strings_and_tuples_as_lists() -> None:
    _, reserved = event_to_dict(
        CreditsReserved(reservation_id="r", credits=1, expires_at=T0, mailing_id=None)
    )
    assert reserved["expires_at"] == "2025-03-03T09:00:00+00:00"
    _, requested = event_to_dict(CHARGE_REQUESTED)
    assert requested["mailing_ids"] == ["m-1", "m-2"]


def test_an_unknown_type_or_a_payload_that_does_not_fit_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        event_from_dict("CreditsStolen", {})
    with pytest.raises(ValueError, match="missing"):
        event_from_dict("CreditsGranted", {"credits": 1, "reason": "r"})
    with pytest.raises(ValueError, match="unexpected"):
        event_from_dict("CreditsGranted", {"credits": 1, "reason": "r", "actor": "a", "x": 1})


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_a_row_reads_back_as_the_event_it_was_written_from(event: Event) -> None:
    type_name, version, payload = to_row(event, T0)
    assert from_row(type_name, version, json.loads(json.dumps(payload)), T0) == event


def test_a_debit_is_written_as_version_3_without_its_usual_values() -> None:
    prepaid = debited("m-2", 75)
    assert to_row(prepaid, T0 + timedelta(seconds=2, microseconds=500)) == (
        "MailingDebited",
        3,
        {
            "mailing_id": "m-2",
            "customer_id": "customer-1",
            "recipients": 75,
            "credits": 75,
            "price_list_id": "mailings-eur",
            "price_list_version": 3,
            "sent_at": "2",  # seconds before the row was recorded
        },
    )
    _, _, held = to_row(debited("m-1", 5_250, reservation_id="r-1", captured=5_000), T0)
    assert (held["reservation_id"], held["captured_credits"]) == ("r-1", 5_000)
    assert "released_credits" not in held
    assert "charge_minor" not in held
    assert to_row(CreditsGranted(credits=1, reason="r", actor="a"))[1] == 1


def test_a_version_1_debit_is_upcast_without_its_quote() -> None:
    v1 = {
        "mailing_id": "m-2",
        "customer_id": "customer-1",
        "recipients": 75,
        "credits": 75,
        "price_list_id": "mailings-eur",
        "price_list_version": 3,
        "quote": {"amount_minor": 75, "lines": []},
        "reservation_id": None,
        "captured_credits": 0,
        "released_credits": 0,
        "charge_minor": 30,
    }
    assert from_row("MailingDebited", 1, v1) == debited("m-2", 75, charge_minor=30, sent_at=None)
    with pytest.raises(ValueError, match="unexpected \\['quote'\\]"):
        from_row("MailingDebited", 2, v1)


def test_a_version_2_debit_is_upcast_with_its_send_time_not_recorded() -> None:
    v2 = {
        "mailing_id": "m-2",
        "customer_id": "customer-1",
        "recipients": 75,
        "credits": 75,
        "price_list_id": "mailings-eur",
        "price_list_version": 3,
    }
    # Readers then count the mailing on the day its event was recorded.
    assert from_row("MailingDebited", 2, v2) == debited("m-2", 75, sent_at=None)
    with pytest.raises(ValueError, match="missing \\['sent_at'\\]"):
        from_row("MailingDebited", 3, v2, T0)


def test_a_debit_s_send_time_is_stored_relative_to_its_recording() -> None:
    late = debited("m-3", 75, sent_at=T0 - timedelta(days=2))
    recorded = T0 + timedelta(microseconds=999_999)
    _, _, payload = to_row(late, recorded)
    assert payload["sent_at"] == "172800"
    assert from_row("MailingDebited", 3, payload, recorded) == late
    with pytest.raises(ValueError, match="needs its recorded_at"):
        to_row(late)


def test_a_version_newer_than_the_code_is_refused() -> None:
    with pytest.raises(ValueError, match="newer than this code"):
        from_row("CreditsGranted", 2, {"credits": 1, "reason": "r", "actor": "a"})


def test_settings_and_holds_of_version_1_are_upcast_to_no_alert_levels_and_no_customer() -> None:
    _, v1_settings = event_to_dict(settings(reminder_threshold=1_000, reminder_armed=True))
    del v1_settings["reminder_thresholds"]
    assert from_row("BillingSettingsChanged", 1, v1_settings) == settings(
        reminder_threshold=1_000, reminder_armed=True, reminder_thresholds=()
    )
    v1_hold = {
        "reservation_id": "r",
        "credits": 1,
        "expires_at": T0.isoformat(),
        "mailing_id": None,
    }
    assert from_row("CreditsReserved", 1, v1_hold) == CreditsReserved(
        reservation_id="r", credits=1, expires_at=T0, mailing_id=None, customer_id=None
    )
    assert to_row(settings())[1] == 2
    assert (
        to_row(CreditsReserved(reservation_id="r", credits=1, expires_at=T0, mailing_id=None))[1]
        == 2
    )
