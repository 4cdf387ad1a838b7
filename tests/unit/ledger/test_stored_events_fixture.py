"""The frozen rows of tests/fixtures/: events as an earlier ledger stored them are read by
today's code (upcast where their version is older) and still replay to the same account.

The fixture files are never regenerated or edited: they are what is in production databases.
A new schema version adds a fixture file (or rows) of its own; see docs/event-versioning.md.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.adapters.stored_events import EVENT_TYPES, from_row, to_row
from ledger.domain import PartnerAccount, Reservation, replay

FIXTURES = Path(__file__).parents[2] / "fixtures"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return document


V1 = load("ledger_events_v1.json")


def test_the_v1_fixture_holds_every_event_type_as_version_1() -> None:
    rows = V1["rows"]
    assert {row["type"] for row in rows} == set(EVENT_TYPES)
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
