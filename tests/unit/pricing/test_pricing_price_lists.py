"""Price lists: versions, plan variants, components, periods; parsing and version lookup."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from pricing.domain import (
    FlatPrice,
    InvalidDefinition,
    Period,
    PriceList,
    PriceListVersion,
    VersionNotFound,
    billing_cycle,
    parse_period,
    parse_price_list,
    parse_price_list_version,
    price_list_to_json,
    price_list_version_to_json,
)

D = Decimal
JAN = datetime(2025, 1, 1, tzinfo=UTC)


def version_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "effective_from": "2025-01-01T00:00:00+00:00",
        "currency": "EUR",
        "plan_variants": {
            "pro_yearly": {
                "name": "Pro",
                "setup_fee": "99",
                "recurring_fee": "100",
                "fee_period": "P1M",
                "billing_period": "P1Y",
                "included_quantities": {"recipients": "10000"},
            },
            "basic": {"recurring_fee": "10", "fee_period": "P1M"},
        },
        "recurring_components": {
            "seats": {
                "name": "Seats",
                "unit": "seat",
                "fee_period": "P1M",
                "price": {"model": "flat", "unit_price": "5"},
            }
        },
        "metered_components": {
            "recipients": {
                "name": "Recipients",
                "unit": "recipient",
                "price": {
                    "model": "graduated",
                    "tiers": [
                        {"up_to": "10000", "unit_price": "0.01"},
                        {"up_to": None, "unit_price": "0.005"},
                    ],
                },
            }
        },
    }
    data.update(overrides)
    return data


def test_a_version_is_read_with_its_defaults() -> None:
    version = parse_price_list_version(version_json())
    assert (version.version, version.effective_from, version.currency) == (1, JAN, "EUR")
    pro = version.plan_variants["pro_yearly"]
    assert (pro.setup_fee, pro.recurring_fee, pro.fee_periods_per_billing_period) == (
        D(99),
        D(100),
        12,
    )
    assert pro.included_quantities == {"recipients": D(10000)}
    basic = version.plan_variants["basic"]
    assert (basic.setup_fee, basic.billing_period, basic.name) == (D(0), Period(months=1), None)
    assert version.recurring_components["seats"].price == FlatPrice(D(5))
    assert version.metered_components["recipients"].fee_period is None


def test_a_version_survives_its_canonical_json_and_a_json_text_round_trip() -> None:
    version = parse_price_list_version(version_json())
    assert parse_price_list_version(price_list_version_to_json(version)) == version
    text = json.dumps(price_list_version_to_json(version))
    assert parse_price_list_version(json.loads(text, parse_float=Decimal)) == version


def test_json_numbers_are_accepted_as_decimals() -> None:
    text = json.dumps(version_json()).replace('"100"', "100").replace('"0.005"', "0.005")
    version = parse_price_list_version(json.loads(text, parse_float=Decimal))
    assert version.plan_variants["pro_yearly"].recurring_fee == D(100)


def broken(path: list[str | int], value: Any, delete: bool = False) -> dict[str, Any]:
    data = copy.deepcopy(version_json())
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


MP = ["metered_components", "recipients"]
SEATS = version_json()["recurring_components"]["seats"]
PV = ["plan_variants", "pro_yearly"]


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        (broken(["version"], 0), "$.version", ">= 1"),
        (broken(["version"], True), "$.version", ">= 1"),
        (broken(["version"], None, delete=True), "$.version", "is required"),
        (broken(["effective_from"], "2025-01-01T00:00:00"), "$.effective_from", "UTC offset"),
        (broken(["effective_from"], "soon"), "$.effective_from", "ISO 8601"),
        (broken(["currency"], "EURO"), "$.currency", "unknown currency"),
        (broken(["comment"], "x"), "$.comment", "unknown field"),
        (broken([*PV, "billing_period"], "P1W"), "$.plan_variants.pro_yearly.billing_period",
         "whole multiple"),
        (broken(["plan_variants", "basic"], {"recurring_fee": "1", "fee_period": "P1Y",
                                             "billing_period": "P1M"}),
         "$.plan_variants.basic.billing_period", "never divided"),
        (broken([*PV, "fee_period"], "1M"), "$.plan_variants.pro_yearly.fee_period", "ISO 8601"),
        (broken([*PV, "fee_period"], "P1M15D"), "$.plan_variants.pro_yearly.fee_period",
         "mixes months and days"),
        (broken([*PV, "fee_period"], "P0M"), "$.plan_variants.pro_yearly.fee_period",
         "longer than zero"),
        (broken([*PV, "recurring_fee"], "-1"), "$.plan_variants.pro_yearly.recurring_fee", ">= 0"),
        (broken([*PV, "included_quantities", "seats"], "5"),
         "$.plan_variants.pro_yearly.included_quantities.seats", "recurring component"),
        (broken([*PV, "included_quantities", "nothing"], "5"),
         "$.plan_variants.pro_yearly.included_quantities.nothing", "not a metered component"),
        (broken([*PV, "included_quantities", "recipients"], "-5"),
         "$.plan_variants.pro_yearly.included_quantities.recipients", ">= 0"),
        (broken(["plan_variants", "bad id"], {"recurring_fee": "1", "fee_period": "P1M"}),
         '$.plan_variants["bad id"]', "ids are"),
        (broken([*MP, "price", "tiers", 1, "up_to"], "20000"),
         "$.metered_components.recipients.price.tiers[1].up_to", "up_to null"),
        (broken([*MP, "fee_period"], "P1M"), "$.metered_components.recipients.fee_period",
         "unknown field"),
        (broken([*MP, "name"], ""), "$.metered_components.recipients.name", "must not be empty"),
        (broken(["recurring_components", "seats", "fee_period"], None, delete=True),
         "$.recurring_components.seats.fee_period", "is required"),
        (broken(["recurring_components", "recipients"], SEATS),
         "$.metered_components.recipients", "already a recurring component"),
        (broken(["plan_variants"], []), "$.plan_variants", "keyed by id"),
    ],
)  # fmt: skip
def test_invalid_versions_are_refused_with_the_path_of_the_fault(
    document: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(InvalidDefinition, match=message) as caught:
        parse_price_list_version(document)
    assert caught.value.path == path


def test_credits_are_an_allowed_currency_and_a_version_may_hold_only_components() -> None:
    document = {
        "version": 1,
        "effective_from": "2025-01-01T00:00:00Z",
        "currency": "CREDITS",
        "metered_components": {
            "recipients": {"name": "Recipients", "price": {"model": "flat", "unit_price": "1.05"}}
        },
    }
    version = parse_price_list_version(document)
    assert version.currency == "CREDITS"
    assert version.plan_variants == {}


# --- price lists and their versions ------------------------------------------------------


def version(number: int, effective_from: datetime, currency: str = "EUR") -> PriceListVersion:
    return PriceListVersion(number, effective_from, currency)


def test_version_at_is_the_latest_version_in_effect() -> None:
    feb, mar = JAN + timedelta(days=31), JAN + timedelta(days=59)
    price_list = (
        PriceList("std", "Standard", "EUR")
        .add_version(version(1, JAN))
        .add_version(version(2, feb))
        .add_version(version(3, mar))
    )
    assert price_list.version_at(JAN).version == 1
    assert price_list.version_at(feb - timedelta(microseconds=1)).version == 1
    assert price_list.version_at(feb).version == 2
    assert price_list.version_at(mar + timedelta(days=1000)).version == 3
    # The same instant in another time zone is the same instant.
    assert price_list.version_at(feb.astimezone(timezone(timedelta(hours=-5)))).version == 2
    with pytest.raises(VersionNotFound):
        price_list.version_at(JAN - timedelta(seconds=1))
    with pytest.raises(VersionNotFound, match="UTC offset"):
        price_list.version_at(datetime(2025, 6, 1))
    assert price_list.get_version(2).effective_from == feb


def test_adding_a_version_leaves_the_old_list_unchanged() -> None:
    first = PriceList("std", "Standard", "EUR").add_version(version(1, JAN))
    second = first.add_version(version(2, JAN + timedelta(days=1)))
    assert [v.version for v in first.versions] == [1]
    assert [v.version for v in second.versions] == [1, 2]
    assert second.next_version == 3


@pytest.mark.parametrize(
    ("new", "now", "path", "message"),
    [
        (version(3, JAN + timedelta(days=1)), None, "$.version", "must be 2"),
        (version(2, JAN), None, "$.effective_from", "later than version 1"),
        (version(2, JAN - timedelta(days=1)), None, "$.effective_from", "later than version 1"),
        (version(2, JAN + timedelta(days=1)), JAN + timedelta(days=2), "$.effective_from", "past"),
        (version(2, JAN + timedelta(days=1), "USD"), None, "$.currency", "price list's currency"),
    ],
)
def test_a_new_version_must_follow_the_last_one(
    new: PriceListVersion, now: datetime | None, path: str, message: str
) -> None:
    price_list = PriceList("std", "Standard", "EUR").add_version(version(1, JAN))
    with pytest.raises(InvalidDefinition, match=message) as caught:
        price_list.add_version(new, now=now)
    assert caught.value.path == path


def test_a_price_list_survives_a_json_round_trip() -> None:
    second = parse_price_list_version(
        version_json(version=2, effective_from="2025-03-01T00:00:00+01:00")
    )
    price_list = PriceList(
        "std", "Standard", "EUR", (parse_price_list_version(version_json()), second)
    )
    text = json.dumps(price_list_to_json(price_list))
    assert parse_price_list(json.loads(text)) == price_list


def test_a_price_list_with_versions_out_of_order_is_refused() -> None:
    document = {
        "id": "std",
        "name": "Standard",
        "currency": "EUR",
        "versions": [version_json(), version_json()],
    }
    with pytest.raises(InvalidDefinition) as caught:
        parse_price_list(document)
    assert caught.value.path == "$.versions[1].version"


# --- periods -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "period", "canonical"),
    [
        ("P1M", Period(months=1), "P1M"),
        ("P3M", Period(months=3), "P3M"),
        ("P12M", Period(months=12), "P1Y"),
        ("P1Y", Period(months=12), "P1Y"),
        ("P1Y6M", Period(months=18), "P18M"),
        ("P1W", Period(days=7), "P1W"),
        ("P14D", Period(days=14), "P2W"),
        ("P1D", Period(days=1), "P1D"),
    ],
)
def test_iso_8601_periods(text: str, period: Period, canonical: str) -> None:
    assert parse_period(text, "$.p") == period
    assert str(period) == canonical


@pytest.mark.parametrize("text", ["", "P", "1M", "PT1H", "P1.5M", "p1m", "P-1M", "P1M1D", "P101Y"])
def test_unsupported_periods_are_refused(text: str) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        parse_period(text, "$.fee_period")
    assert caught.value.path == "$.fee_period"


def test_how_many_fee_periods_fit_a_billing_period() -> None:
    month, quarter, year, week = (
        Period(months=1),
        Period(months=3),
        Period(months=12),
        Period(days=7),
    )
    assert (year.multiple_of(month), year.multiple_of(quarter), quarter.multiple_of(month)) == (
        12,
        4,
        3,
    )
    assert (Period(days=14).multiple_of(week), week.multiple_of(Period(days=1))) == (2, 7)
    assert month.multiple_of(year) is None  # never divided
    assert Period(months=5).multiple_of(quarter) is None
    assert month.multiple_of(week) is None  # months and days do not compare


def test_months_are_added_from_the_anchor_with_month_ends_clamped() -> None:
    month = Period(months=1)
    anchor = date(2024, 1, 31)
    assert [month.add_to(anchor, n) for n in range(4)] == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]
    assert Period(days=7).add_to(date(2025, 4, 1), 2) == date(2025, 4, 15)


M, Y, W = Period(months=1), Period(months=12), Period(days=7)


@pytest.mark.parametrize(
    ("anchor", "period", "day", "start", "end"),
    [
        (date(2025, 1, 15), M, date(2025, 4, 20), date(2025, 4, 15), date(2025, 5, 15)),
        (date(2025, 1, 15), M, date(2025, 4, 10), date(2025, 3, 15), date(2025, 4, 15)),
        (date(2025, 1, 15), M, date(2025, 4, 15), date(2025, 4, 15), date(2025, 5, 15)),
        (date(2025, 1, 31), M, date(2025, 2, 28), date(2025, 2, 28), date(2025, 3, 31)),
        (date(2025, 1, 1), Y, date(2026, 7, 1), date(2026, 1, 1), date(2027, 1, 1)),
        (date(2025, 1, 1), W, date(2025, 1, 20), date(2025, 1, 15), date(2025, 1, 22)),
        (date(2025, 6, 1), M, date(2025, 5, 20), date(2025, 5, 1), date(2025, 6, 1)),
    ],
)
def test_the_billing_cycle_containing_a_day(
    anchor: date, period: Period, day: date, start: date, end: date
) -> None:
    assert billing_cycle(anchor, period, day) == (start, end)
