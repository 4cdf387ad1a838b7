"""Numbers and currencies: what counts as a number, and rounding to money once."""

from __future__ import annotations

import json
import time
from decimal import Decimal, localcontext

import babel.numbers
import pytest

from pricing.domain import (
    CREDITS,
    InvalidDefinition,
    InvalidInput,
    check_currency,
    decimal_to_json,
    evaluate,
    minor_units,
    parse_decimal,
    parse_price_model,
    round_money,
)
from pricing.domain.currencies import MINOR_UNITS

D = Decimal


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.0125", D("0.0125")),
        ("121", D(121)),
        (121, D(121)),
        (D("0.1"), D("0.1")),
        ("1E+3", D(1000)),
        ("1.5e2", D(150)),
        ("0e999999", D(0)),
        ("-0", D(0)),
        ("999999999999999999999999999999", D("999999999999999999999999999999")),
        ("0.000000000000000001", D("1E-18")),
        ("0.1000000000000000000000000", D("0.1")),  # trailing zeros do not count
    ],
)
def test_numbers_are_read_exactly(raw: object, expected: Decimal) -> None:
    parsed = parse_decimal(raw, "$.quantity")
    assert parsed == expected
    assert type(parsed) is Decimal


def test_a_json_number_read_as_decimal_stays_exact() -> None:
    body = json.loads('{"quantity": 0.1}', parse_float=Decimal)
    assert parse_decimal(body["quantity"], "$.quantity") == D("0.1")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("-Infinity", "finite"),
        (D("NaN"), "finite"),
        (D("sNaN"), "finite"),
        (D("Infinity"), "finite"),
        ("ten", "decimal number"),
        ("", "decimal number"),
        (" 1", "decimal number"),
        ("1_000", "decimal number"),
        ("0x10", "decimal number"),
        (None, "number, got null"),
        (True, "number, got true"),
        (1.5, "floats are not accepted"),
        ([1], "must be a number"),
        ("1e999999", r"less than 1E\+30"),
        ("1e99999999999999999999", "out of range"),
        ("1e30", r"less than 1E\+30"),
        (10**30, r"less than 1E\+30"),
        (-(10**30), r"less than 1E\+30"),
        (D("1E+30"), r"less than 1E\+30"),
        ("-1", ">= 0"),
        (-1, ">= 0"),
        ("-0.0001", ">= 0"),
        ("0.0000000000000000001", "at most 18 digits"),
        ("1e-999999", "at most 18 digits"),
        ("-1e-999999", "at most 18 digits"),
        ("1" * 101, "decimal number"),
    ],
)
def test_what_is_not_a_bounded_finite_number_is_refused_with_its_path(
    raw: object, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_decimal(raw, "$.price.tiers[2].up_to")
    assert caught.value.path == "$.price.tiers[2].up_to"


def test_a_huge_exponent_is_refused_without_expanding_it() -> None:
    started = time.perf_counter()
    for _ in range(1000):
        with pytest.raises(InvalidInput):
            parse_decimal("1e999999", "$.quantity")
    assert time.perf_counter() - started < 1


def test_negatives_are_allowed_only_without_a_minimum() -> None:
    assert parse_decimal("-5", "$.x", minimum=None) == D(-5)
    with pytest.raises(InvalidInput, match=">= 1"):
        parse_decimal("0.5", "$.x", minimum=1)


def test_the_error_class_is_chosen_by_the_caller() -> None:
    with pytest.raises(InvalidDefinition):
        parse_decimal("ten", "$.unit_price", error=InvalidDefinition)


def test_the_callers_decimal_context_is_neither_used_nor_changed() -> None:
    model = parse_price_model({"model": "flat", "unit_price": "1.000000000000000001"})
    with localcontext() as context:
        context.prec = 3
        evaluation = evaluate(model, D("123456789"), "EUR")
        assert context.prec == 3
    assert evaluation.exact_amount == D("123456789.000000000123456789")


def test_decimals_are_written_without_exponents() -> None:
    assert decimal_to_json(D("1E+3")) == "1000"
    assert decimal_to_json(D("1E-18")) == "0.000000000000000001"
    assert decimal_to_json(D("12.50")) == "12.50"


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("IQD", 3), ("CLF", 4)],
)
def test_minor_units_follow_iso_4217(code: str, exponent: int) -> None:
    assert minor_units(code) == exponent


def test_credits_are_a_currency_with_whole_units() -> None:
    assert minor_units(CREDITS) == 0
    assert round_money(D("5250.5"), CREDITS) == D(5251)


@pytest.mark.parametrize("code", ["XYZ", "EURO", "", "XAU", "DEM", "HRK"])
def test_an_unknown_currency_is_refused(code: str) -> None:
    with pytest.raises(InvalidInput, match="unknown currency") as caught:
        minor_units(code)
    assert caught.value.path == "$.currency"


def test_a_lower_case_code_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidInput, match="use 'EUR'"):
        check_currency("eur", "$.currency")


def test_the_iso_table_differs_from_babel_only_where_cldr_deviates_from_iso() -> None:
    cldr_deviations = {
        "AFN", "ALL", "IQD", "IRR", "KPW", "LAK", "LBP", "MGA", "MMK", "RSD", "SOS", "SYP", "YER",
    }  # fmt: skip
    differing = {
        code
        for code, exponent in MINOR_UNITS.items()
        if code != CREDITS and babel.numbers.get_currency_precision(code) != exponent
    }
    assert differing == cldr_deviations


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.005", "EUR", "0.01"),  # half-up, not half-even
        ("0.015", "EUR", "0.02"),
        ("0.025", "EUR", "0.03"),  # half-even would give 0.02
        ("0.0049999", "EUR", "0.00"),
        ("12.3", "EUR", "12.30"),
        ("4.5", "JPY", "5"),
        ("1.5125", "BHD", "1.513"),
        ("1.51249", "BHD", "1.512"),
        ("1E+3", "EUR", "1000.00"),
    ],
)
def test_round_money_is_half_up_to_the_minor_unit(
    amount: str, currency: str, expected: str
) -> None:
    rounded = round_money(D(amount), currency)
    assert str(rounded) == expected
