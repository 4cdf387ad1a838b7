"""The frozen rows of tests/fixtures/: events as an earlier ledger stored them are read by
today's code (upcast where their version is older) and still replay to the same account.

The fixture files are never regenerated or edited: they are what is in production databases.
A new schema version adds a fixture file (or rows) of its own; see docs/event-versioning.md.
"""

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.adapters.stored_events import EVENT_TYPES, from_row, to_row
from ledger.domain import (
    Contract,
    CustomerBudget,
    MailingDebited,
    PartnerAccount,
    Reservation,
    replay,
)

FIXTURES = Path(__file__).parents[2] / "fixtures"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return document


V1 = load("ledger_events_v1.json")
V3 = load("ledger_events_v3.json")
V4 = load("ledger_events_v4.json")
V5 = load("ledger_events_v5.json")
# Event types that did not exist yet when the v1 fixture was frozen.
ADDED_AFTER_V1 = {
    "ContractChanged",
    "StatementIssued",
    "BalanceThresholdCrossed",
    "BalanceRecovered",
    "CustomerBudgetSet",
    "CustomerBudgetAlert",
    "ReminderArmed",
    "BalanceThresholdArmed",
}


def test_the_fixtures_together_hold_every_event_type() -> None:
    assert {row["type"] for f in (V1, V3, V4, V5) for row in f["rows"]} == set(EVENT_TYPES)


def test_the_v1_fixture_holds_every_event_type_of_its_day_as_version_1() -> None:
    rows = V1["rows"]
    assert {row["type"] for row in rows} == set(EVENT_TYPES) - ADDED_AFTER_V1
    assert {row["schema_version"] for row in rows} == {1}
    assert [row["version"] for row in rows] == list(range(1, len(rows) + 1))
    # What version 2 of MailingDebited left out: v1 debits carry the whole quote.
    assert all("quote" in row["payload"] for row in rows if row["type"] == "MailingDebited")


def test_the_v1_stream_replays_to_the_account_it_described() -> None:
    events = [from_row(r["type"], r["schema_version"], r["payload"]) for r in V1["rows"]]
    assert replay(events) == PartnerAccount(
        partner_id="partner-fixture",
        name="Agentur Nord",
        locale="de",
        billing_mode="on_demand",
        currency="EUR",
        credit_price_list_id="credits-eur",
        mailing_price_list_id="mailings-standard",
        customers={"c1": "Bäckerei Müller"},
        balance=500,
        holds={
            "r-4": Reservation(
                credits=30, expires_at=datetime(2026, 11, 3, 9, 0, tzinfo=UTC), mailing_id=None
            )
        },
        held=30,
        debt_credits=63,
        debt_minor=63,
        uncharged_credits=10,
        uncharged_minor=11,
        uncharged_mailing_ids=("m-6",),
        payment_method={"type": "sepa_debit", "gateway_ref": "pm_sepa_1", "last4": "3000"},
        version=38,
    )


@pytest.mark.parametrize("row", V1["rows"], ids=lambda r: f"{r['version']}-{r['type']}")
def test_an_upcast_row_is_written_again_as_today_s_version(row: dict[str, Any]) -> None:
    event = from_row(row["type"], row["schema_version"], row["payload"])
    type_name, version, payload = to_row(event)
    assert type_name == row["type"]
    assert from_row(type_name, version, payload) == event
    if version == 1:  # a type still at version 1 is written exactly as it was
        assert payload == row["payload"]


def _at(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["recorded_at"])


def test_the_v3_stream_replays_to_the_account_it_described() -> None:
    rows = V3["rows"]
    debits = [r for r in rows if r["type"] == "MailingDebited"]
    assert [r["schema_version"] for r in debits] == [2, 3]
    events = [from_row(r["type"], r["schema_version"], r["payload"], _at(r)) for r in rows]
    # The v2 debit did not record its send time; the v3 one did.
    sent = [e.sent_at for e in events if isinstance(e, MailingDebited)]
    assert sent == [None, datetime(2026, 11, 20, 23, 59, 30, tzinfo=UTC)]
    state = replay(events)
    assert state.balance == 10_000 - 525 - 1_050
    assert state.contracts == {
        "c1": Contract(
            price_list_id="resale-newsletter",
            plan_variant_id="basic_monthly",
            starts_on=date(2026, 11, 10),
            billing_anchor=date(2026, 11, 1),
            billing_period="P1M",
            booked={"seats": "2"},
            first_starts_on=date(2026, 11, 10),
        )
    }
    assert state.statements_through == {"c1": date(2026, 12, 1)}
    assert state.version == len(rows)


@pytest.mark.parametrize("row", V3["rows"], ids=lambda r: f"{r['version']}-{r['type']}")
def test_a_v3_fixture_row_is_written_again_as_today_s_version(row: dict[str, Any]) -> None:
    event = from_row(row["type"], row["schema_version"], row["payload"], _at(row))
    type_name, version, payload = to_row(event, _at(row))
    assert from_row(type_name, version, payload, _at(row)) == event
    if version == row["schema_version"]:
        assert payload == row["payload"]


def test_the_v4_stream_replays_to_the_account_it_described() -> None:
    rows = V4["rows"]
    versions = {r["type"]: r["schema_version"] for r in rows}
    assert (versions["BillingSettingsChanged"], versions["CreditsReserved"]) == (2, 2)
    events = [from_row(r["type"], r["schema_version"], r["payload"], _at(r)) for r in rows]
    state = replay(events)
    assert state.balance == 10_000 - 5_250
    assert (state.reminder_thresholds, state.thresholds_below) == ((5_000, 1_000), (5_000,))
    assert state.budgets == {
        "c1": CustomerBudget(
            monthly_credits=6_000,
            alert_percents=(50, 100),
            month="2026-12",
            used=5_250,
            alerted=(50,),
        )
    }
    assert (dict(state.holds), state.held, state.version) == ({}, 0, len(rows))


@pytest.mark.parametrize("row", V4["rows"], ids=lambda r: f"{r['version']}-{r['type']}")
def test_a_v4_fixture_row_is_written_again_as_it_was(row: dict[str, Any]) -> None:
    event = from_row(row["type"], row["schema_version"], row["payload"], _at(row))
    assert to_row(event, _at(row)) == (row["type"], row["schema_version"], row["payload"])


def test_the_v5_stream_replays_to_the_account_it_described() -> None:
    rows = V5["rows"]
    events = [from_row(r["type"], r["schema_version"], r["payload"], _at(r)) for r in rows]
    state = replay(events)
    assert state.balance == 6_000 - 5_500 + 2_000
    # The reminder and the level 2,000 fired and recovered; 5,000 fired and is still below.
    assert (state.reminder_threshold, state.reminder_armed, state.reminder_fired) == (
        1_000,
        True,
        False,
    )
    assert (state.reminder_thresholds, state.thresholds_below, state.thresholds_fired) == (
        (5_000, 2_000),
        (5_000,),
        (5_000,),
    )
    assert state.version == len(rows)


@pytest.mark.parametrize("row", V5["rows"], ids=lambda r: f"{r['version']}-{r['type']}")
def test_a_v5_fixture_row_is_written_again_as_it_was(row: dict[str, Any]) -> None:
    event = from_row(row["type"], row["schema_version"], row["payload"], _at(row))
    assert to_row(event, _at(row)) == (row["type"], row["schema_version"], row["payload"])
