"""Quotes of a plan variant with its components, and the credit prices of the ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.domain import (
    FlatPrice,
    InvalidInput,
    PriceListVersion,
    Proration,
    evaluate,
    evaluate_component,
    parse_price_list_version,
    parse_price_model,
    quote,
    quote_to_json,
    to_minor_units,
)

D = Decimal

VERSION = parse_price_list_version(
    {
        "version": 3,
        "effective_from": "2025-01-01T00:00:00Z",
        "currency": "EUR",
        "plan_variants": {
            "pro_yearly": {
                "name": "Pro",
                "setup_fee": "99",
                "recurring_fee": "100",
                "fee_period": "P1M",
                "billing_period": "P1Y",
                "included_quantities": {"recipients": "10000", "sms": "1000"},
            },
            "monthly": {"recurring_fee": "100", "fee_period": "P1M"},
        },
        "recurring_components": {
            "seats": {
                "name": "Seats",
                "fee_period": "P1M",
                "price": {"model": "flat", "unit_price": "5"},
            },
            "support": {
                "name": "Support",
                "fee_period": "P1Y",
                "price": {"model": "flat", "unit_price": "240"},
            },
        },
        "metered_components": {
            "recipients": {
                "name": "Recipients",
                "price": {
                    "model": "graduated",
                    "tiers": [
                        {"up_to": "10000", "unit_price": "0.01"},
                        {"up_to": None, "unit_price": "0.005"},
                    ],
                },
            },
            "sms": {
                "name": "SMS",
                "price": {
                    "model": "bucket",
                    "tiers": [{"up_to": None, "bucket_price": "20", "bucket_size": "500"}],
                },
            },
        },
    }
)
YEAR = (date(2025, 1, 1), date(2026, 1, 1))


def kinds_and_amounts(result: Any) -> list[tuple[str, str, Decimal]]:
    return [(line.kind, line.id, line.exact_amount) for line in result.lines]


def test_a_yearly_quote_on_the_first_invoice() -> None:
    result = quote(
        VERSION,
        "pro_yearly",
        *YEAR,
        booked={"seats": D(3)},
        usage={"recipients": [D(4000), D(7000), D(9000)]},
        first_invoice=True,
    )
    assert kinds_and_amounts(result) == [
        ("setup_fee", "pro_yearly", D(99)),
        ("recurring_fee", "pro_yearly", D(1200)),  # 100 per month billed yearly: 12 x 100
        ("recurring_component", "seats", D(180)),  # 3 seats x 5 per month x 12
        ("metered_component", "recipients", D(100)),  # 20000 used - 10000 free, at 0.01
    ]
    assert (result.exact_total, str(result.total), result.proration) == (D(1579), "1579.00", None)
    assert result.price_list_version == 3
    fee = result.lines[1]
    assert (fee.quantity, fee.unit_price, fee.periods) == (D(1), D(100), 12)
    recipients = result.lines[3].evaluation
    assert recipients is not None
    assert (recipients.quantity, recipients.billable_quantity) == (D(20000), D(10000))


def test_the_setup_fee_is_billed_on_the_first_invoice_only() -> None:
    later = quote(VERSION, "pro_yearly", *YEAR, booked={"seats": D(3)})
    assert [line.kind for line in later.lines] == ["recurring_fee", "recurring_component"]
    assert later.exact_total == D(1380)


def test_a_monthly_quote_without_components_is_the_fee() -> None:
    result = quote(VERSION, "monthly", date(2025, 4, 1), date(2025, 5, 1))
    assert kinds_and_amounts(result) == [("recurring_fee", "monthly", D(100))]


def test_a_partial_period_is_prorated_by_actual_days() -> None:
    # 15 of April's 30 days: half the fee and half the seats.
    result = quote(
        VERSION,
        "monthly",
        date(2025, 4, 16),
        date(2025, 5, 1),
        booked={"seats": D(3)},
        full_period=(date(2025, 4, 1), date(2025, 5, 1)),
    )
    assert result.proration == Proration(15, 30)
    assert result.proration.factor == Fraction(1, 2)
    assert kinds_and_amounts(result) == [
        ("recurring_fee", "monthly", D(50)),
        ("recurring_component", "seats", D("7.5")),
    ]
    assert [line.full_amount for line in result.lines] == [D(100), D(15)]
    assert all(line.prorated for line in result.lines)
    assert str(result.total) == "57.50"


def test_fifteen_of_thirty_one_days_is_not_half() -> None:
    result = quote(
        VERSION,
        "monthly",
        date(2025, 3, 17),
        date(2025, 4, 1),
        full_period=(date(2025, 3, 1), date(2025, 4, 1)),
    )
    # 100 x 15 / 31 = 48.387096774193548387..., kept to 2 + 12 decimals, rounded up.
    assert result.lines[0].exact_amount == D("48.38709677419355")
    assert str(result.total) == "48.39"


def test_usage_is_never_prorated_and_the_quota_is_not_either() -> None:
    result = quote(
        VERSION,
        "pro_yearly",
        date(2025, 7, 1),
        date(2026, 1, 1),
        usage={"recipients": [D(10001)]},
        full_period=YEAR,
    )
    metered = result.lines[-1]
    assert (metered.prorated, metered.exact_amount) == (False, D("0.01"))
    # 184 of 365 days of 1200.
    assert result.lines[0].exact_amount == D("604.93150684931507")
    assert str(result.total) == "604.94"


def test_the_free_quota_applies_to_the_summed_usage() -> None:
    result = quote(VERSION, "pro_yearly", *YEAR, usage={"recipients": [D(6000), D(5000)]})
    assert result.lines[-1].exact_amount == D(10)  # 11000 - 10000 free = 1000 x 0.01
    none_billable = quote(VERSION, "pro_yearly", *YEAR, usage={"recipients": [D(6000), D(4000)]})
    assert none_billable.lines[-1].exact_amount == 0


def test_a_bucket_component_ignores_the_free_quota_in_a_quote() -> None:
    result = quote(VERSION, "pro_yearly", *YEAR, usage={"sms": [D(300), D(300)]})
    sms = result.lines[-1]
    assert sms.evaluation is not None
    assert (sms.evaluation.billable_quantity, sms.exact_amount) == (D(600), D(40))


def test_a_component_priced_per_year_does_not_fit_a_monthly_plan() -> None:
    assert quote(VERSION, "pro_yearly", *YEAR, booked={"support": D(1)}).lines[
        -1
    ].exact_amount == D(240)
    with pytest.raises(InvalidInput, match="does not fit") as caught:
        quote(VERSION, "monthly", date(2025, 4, 1), date(2025, 5, 1), booked={"support": D(1)})
    assert caught.value.path == "$.booked.support"


@pytest.mark.parametrize(
    ("arguments", "path"),
    [
        ({"plan_variant_id": "gold"}, "$.plan_variant_id"),
        ({"booked": {"recipients": D(1)}}, "$.booked.recipients"),
        ({"booked": {"seats": D(-1)}}, "$.booked.seats"),
        ({"usage": {"seats": [D(1)]}}, "$.usage.seats"),
        ({"usage": {"recipients": [D(1), D(-1)]}}, "$.usage.recipients[1]"),
        ({"usage": {"recipients": "12"}}, "$.usage.recipients"),
        ({"period_end": date(2025, 1, 1)}, "$.period_end"),
        ({"period_start": datetime(2025, 1, 1, tzinfo=UTC)}, "$.period_start"),
        ({"full_period": (date(2025, 2, 1), date(2026, 1, 1))}, "$.full_period"),
    ],
)
def test_invalid_quote_requests_are_refused_with_their_path(
    arguments: dict[str, Any], path: str
) -> None:
    request: dict[str, Any] = {
        "plan_variant_id": "pro_yearly",
        "period_start": YEAR[0],
        "period_end": YEAR[1],
        **arguments,
    }
    with pytest.raises(InvalidInput) as caught:
        quote(VERSION, **request)
    assert caught.value.path == path


def test_the_quote_json_names_the_version_and_keeps_decimals_as_strings() -> None:
    body = quote_to_json(
        quote(
            VERSION,
            "monthly",
            date(2025, 4, 16),
            date(2025, 5, 1),
            full_period=(date(2025, 4, 1), date(2025, 5, 1)),
        )
    )
    assert body["price_list_version"] == 3
    assert body["proration"] == {"days": 15, "period_days": 30}
    assert (body["exact_total"], body["total"]) == ("50", "50.00")
    assert body["lines"][0]["full_amount"] == "100"


SMALL_MONEY = st.decimals(min_value=0, max_value=10_000, places=4)


@settings(max_examples=150, deadline=None)
@given(
    fee=st.decimals(min_value=0, max_value=10_000, places=2),
    seat_price=SMALL_MONEY,
    seats=st.integers(min_value=0, max_value=50),
    usage=st.lists(SMALL_MONEY, max_size=3),
    period_days=st.sampled_from([28, 29, 30, 31]),
    data=st.data(),
)
def test_a_prorated_total_is_the_exact_fraction_rounded_half_up_once(
    fee: Decimal,
    seat_price: Decimal,
    seats: int,
    usage: list[Decimal],
    period_days: int,
    data: st.DataObject,
) -> None:
    days = data.draw(st.integers(min_value=1, max_value=period_days))
    version = PriceListVersion(
        1,
        datetime(2025, 1, 1, tzinfo=UTC),
        "EUR",
        plan_variants={
            "p": parse_price_list_version(
                {
                    "version": 1,
                    "effective_from": "2025-01-01T00:00:00Z",
                    "currency": "EUR",
                    "plan_variants": {"p": {"recurring_fee": str(fee), "fee_period": "P1M"}},
                }
            ).plan_variants["p"]
        },
        recurring_components={
            "seats": VERSION.recurring_components["seats"].__class__(
                "Seats",
                FlatPrice(seat_price),
                fee_period=VERSION.recurring_components["seats"].fee_period,
            )
        },
        metered_components={"recipients": VERSION.metered_components["recipients"]},
    )
    full_start = date(2025, 1, 1)
    full_end = date.fromordinal(full_start.toordinal() + period_days)
    start = date.fromordinal(full_end.toordinal() - days)
    result = quote(
        version,
        "p",
        start,
        full_end,
        booked={"seats": D(seats)},
        usage={"recipients": usage},
        full_period=(full_start, full_end),
    )
    used = sum((Fraction(u) for u in usage), Fraction(0))
    free, rest = (Fraction(10000), used - 10000) if used > 10000 else (used, Fraction(0))
    metered = free * Fraction("0.01") + rest * Fraction("0.005")
    exact = (Fraction(fee) + Fraction(seat_price) * seats) * Fraction(days, period_days) + metered
    expected = Fraction(int(exact * 100 + Fraction(1, 2)), 100)  # half-up (exact >= 0)
    assert Fraction(result.total) == expected
    assert result.exact_total == sum((line.exact_amount for line in result.lines), D(0))


def test_one_component_is_priced_in_the_versions_currency_without_quota() -> None:
    evaluation = evaluate_component(VERSION, "recipients", D(10001))
    assert (evaluation.currency, evaluation.exact_amount) == ("EUR", D("100.005"))
    assert str(evaluation.amount) == "100.01"
    with pytest.raises(InvalidInput) as caught:
        evaluate_component(VERSION, "letters", D(1))
    assert caught.value.path == "$.component"


# --- credits -----------------------------------------------------------------------------

CREDIT_LISTS = parse_price_list_version(
    {
        "version": 1,
        "effective_from": "2025-01-01T00:00:00Z",
        "currency": "CREDITS",
        "metered_components": {
            "recipients": {"name": "Recipients", "price": {"model": "flat", "unit_price": "1.05"}}
        },
    }
)


@pytest.mark.parametrize(
    ("recipients", "credits"),
    [(5000, 5250), (100, 105), (20, 21), (10, 11), (1, 1), (9, 9), (19, 20), (0, 0)],
)
def test_credits_for_a_mailing_are_the_exact_amount_rounded_once_half_up(
    recipients: int, credits: int
) -> None:
    evaluation = evaluate_component(CREDIT_LISTS, "recipients", D(recipients))
    assert evaluation.exact_amount == D(recipients) * D("1.05")
    assert to_minor_units(evaluation.amount, "CREDITS") == credits


@pytest.mark.parametrize("recipients", ["-1", "ten", "1e30"])
def test_invalid_recipient_counts_are_refused(recipients: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate_component(CREDIT_LISTS, "recipients", recipients)  # type: ignore[arg-type]
    assert caught.value.path == "$.quantity"


def test_the_money_price_of_credits_follows_volume_tiers() -> None:
    packages = parse_price_model(
        {
            "model": "volume",
            "tiers": [
                {"up_to": "1000", "unit_price": "0.05"},
                {"up_to": "10000", "unit_price": "0.04"},
                {"up_to": None, "unit_price": "0.03"},
            ],
        }
    )
    prices = [str(evaluate(packages, D(n), "EUR").amount) for n in (1000, 5000, 10000, 10001)]
    assert prices == ["50.00", "200.00", "400.00", "300.03"]


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.34", "EUR", 1234),
        ("500", "JPY", 500),
        ("1.234", "BHD", 1234),
        ("5250", "CREDITS", 5250),
    ],
)
def test_amounts_in_minor_units(amount: str, currency: str, minor: int) -> None:
    assert to_minor_units(D(amount), currency) == minor


def test_an_unrounded_amount_has_no_minor_units() -> None:
    with pytest.raises(ValueError, match="not rounded"):
        to_minor_units(D("12.345"), "EUR")
