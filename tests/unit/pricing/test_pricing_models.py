"""Price models: every boundary of every model, against hand-computed amounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pricing.domain import (
    BucketPrice,
    BucketTier,
    Evaluation,
    FlatPrice,
    GraduatedPrice,
    InvalidDefinition,
    InvalidInput,
    PriceModel,
    Tier,
    evaluate,
    evaluation_to_json,
    parse_price_model,
    price_model_to_json,
)

D = Decimal

# Tiers up to 10 at 1 (+5 flat), up to 20 at 0.5 (+2 flat), above at 0.25.
TIERS: list[dict[str, Any]] = [
    {"up_to": "10", "unit_price": "1", "flat_fee": "5"},
    {"up_to": "20", "unit_price": "0.5", "flat_fee": "2"},
    {"up_to": None, "unit_price": "0.25"},
]
GRADUATED = parse_price_model({"model": "graduated", "tiers": TIERS})
VOLUME = parse_price_model({"model": "volume", "tiers": TIERS})
# Buckets of 250 at 50 up to 1000, one bucket of 4000 at 100 up to 5000, then 0.01 each.
BUCKET = parse_price_model(
    {
        "model": "bucket",
        "tiers": [
            {"up_to": "1000", "bucket_price": "50", "bucket_size": "250"},
            {"up_to": "5000", "bucket_price": "100"},
            {"up_to": None, "unit_price": "0.01"},
        ],
    }
)
DISCOUNT_TIERS = [
    {"up_to": "1000", "discount_percent": "0"},
    {"up_to": "10000", "discount_percent": "10"},
    {"up_to": None, "discount_percent": "25"},
]
DISCOUNT_VOLUME = parse_price_model(
    {"model": "discount", "base_unit_price": "0.10", "tiers": DISCOUNT_TIERS}
)
DISCOUNT_GRADUATED = parse_price_model(
    {"model": "discount", "base_unit_price": "0.10", "mode": "graduated", "tiers": DISCOUNT_TIERS}
)
PACKAGE = parse_price_model({"model": "package", "package_size": "1000", "package_price": "9"})
FLAT = parse_price_model({"model": "flat", "unit_price": "0.0125"})
FREE = parse_price_model({"model": "free"})


def price(model: PriceModel, quantity: str, included: str = "0") -> Evaluation:
    return evaluate(model, D(quantity), "EUR", D(included))


def test_a_quantity_of_10_5_lies_in_the_second_tier() -> None:
    lines = price(GRADUATED, "10.5").lines
    assert [(line.tier, line.quantity) for line in lines] == [(1, D(10)), (2, D("0.5"))]
    assert price(VOLUME, "10.5").lines[0].tier == 2


@pytest.mark.parametrize(
    ("quantity", "exact", "amount"),
    [
        ("0", "5", "5.00"),  # the first tier counts as reached: its flat fee
        ("1", "6", "6.00"),
        ("9", "14", "14.00"),
        ("9.99", "14.99", "14.99"),
        ("10", "15", "15.00"),  # up_to is inclusive: tier 2 is not reached
        ("10.5", "17.25", "17.25"),
        ("11", "17.5", "17.50"),
        ("19", "21.5", "21.50"),
        ("20", "22", "22.00"),
        ("20.5", "22.125", "22.13"),
        ("21", "22.25", "22.25"),
        ("1000", "267", "267.00"),
    ],
)
def test_graduated(quantity: str, exact: str, amount: str) -> None:
    evaluation = price(GRADUATED, quantity)
    assert evaluation.exact_amount == D(exact)
    assert str(evaluation.amount) == amount


def test_graduated_lines_show_each_tier_touched_with_its_flat_fee() -> None:
    lines = price(GRADUATED, "21").lines
    assert [(ln.tier, ln.from_, ln.to, ln.quantity, ln.flat_fee, ln.amount) for ln in lines] == [
        (1, D(0), D(10), D(10), D(5), D(15)),
        (2, D(10), D(20), D(10), D(2), D(7)),
        (3, D(20), None, D(1), D(0), D("0.25")),
    ]


@pytest.mark.parametrize(
    ("quantity", "tier", "exact"),
    [
        ("0", 1, "5"),  # the first tier's flat fee at q = 0
        ("9", 1, "14"),
        ("10", 1, "15"),
        ("10.5", 2, "7.25"),  # cheaper than 10: volume pricing is not monotonic
        ("11", 2, "7.5"),
        ("19", 2, "11.5"),
        ("20", 2, "12"),
        ("20.5", 3, "5.125"),
        ("21", 3, "5.25"),
    ],
)
def test_volume(quantity: str, tier: int, exact: str) -> None:
    evaluation = price(VOLUME, quantity)
    assert evaluation.exact_amount == D(exact)
    (line,) = evaluation.lines
    assert (line.tier, line.quantity, line.amount) == (tier, D(quantity), D(exact))


@pytest.mark.parametrize(
    ("quantity", "exact", "buckets"),
    [
        ("0", "0", []),  # the first interval is "more than 0"
        ("0.5", "50", [1]),
        ("1", "50", [1]),
        ("249", "50", [1]),
        ("250", "50", [1]),
        ("250.5", "100", [2]),
        ("251", "100", [2]),
        ("999", "200", [4]),
        ("1000", "200", [4]),
        ("1000.5", "300", [4, 1]),
        ("1001", "300", [4, 1]),
        ("4999", "300", [4, 1]),
        ("5000", "300", [4, 1]),
        ("5000.5", "300.005", [4, 1, None]),
        ("5001", "300.01", [4, 1, None]),
        ("6000", "310", [4, 1, None]),
    ],
)
def test_bucket(quantity: str, exact: str, buckets: list[int | None]) -> None:
    evaluation = price(BUCKET, quantity)
    assert evaluation.exact_amount == D(exact)
    assert [line.buckets for line in evaluation.lines] == [
        None if count is None else D(count) for count in buckets
    ]


def test_bucket_lines_show_price_size_and_count() -> None:
    lines = price(BUCKET, "5001").lines
    assert lines[0][:7] == (1, D(0), D(1000), D(1000), None, D(0), D(200))
    assert (lines[0].bucket_price, lines[0].bucket_size, lines[0].buckets) == (D(50), D(250), D(4))
    # Without bucket_size the tier is one bucket as wide as the tier.
    assert (lines[1].bucket_price, lines[1].bucket_size, lines[1].buckets) == (
        D(100),
        D(4000),
        D(1),
    )
    assert (lines[2].unit_price, lines[2].quantity, lines[2].amount) == (D("0.01"), D(1), D("0.01"))


def test_a_bucket_last_tier_bills_whole_buckets() -> None:
    model = BucketPrice(
        (BucketTier(D(100), D(10)), BucketTier(None, bucket_price=D(5), bucket_size=D(50)))
    )
    amounts = {q: price(model, q).exact_amount for q in ("100", "101", "150", "151")}
    assert amounts == {"100": D(10), "101": D(15), "150": D(15), "151": D(20)}


@pytest.mark.parametrize(
    ("quantity", "volume", "graduated"),
    [
        ("0", "0", "0"),
        ("999", "99.9", "99.9"),
        ("1000", "100", "100"),
        ("1000.5", "90.045", "100.045"),
        ("1001", "90.09", "100.09"),
        ("10000", "900", "910"),
        ("10001", "750.075", "910.075"),
    ],
)
def test_discount_volume_and_graduated(quantity: str, volume: str, graduated: str) -> None:
    assert price(DISCOUNT_VOLUME, quantity).exact_amount == D(volume)
    assert price(DISCOUNT_GRADUATED, quantity).exact_amount == D(graduated)


def test_discount_lines_show_the_discounted_unit_price() -> None:
    lines = price(DISCOUNT_GRADUATED, "10001").lines
    assert [line.unit_price for line in lines] == [D("0.1"), D("0.09"), D("0.075")]
    assert str(price(DISCOUNT_VOLUME, "10001").amount) == "750.08"


def test_a_full_discount_makes_units_free() -> None:
    model = parse_price_model(
        {
            "model": "discount",
            "base_unit_price": "3",
            "tiers": [{"up_to": None, "discount_percent": "100"}],
        }
    )
    assert price(model, "7").exact_amount == 0


@pytest.mark.parametrize(
    ("quantity", "packages"),
    [("0", 0), ("1", 1), ("999", 1), ("1000", 1), ("1000.5", 2), ("1001", 2), ("2000", 2)],
)
def test_package(quantity: str, packages: int) -> None:
    evaluation = price(PACKAGE, quantity)
    assert evaluation.exact_amount == 9 * packages
    (line,) = evaluation.lines
    assert (line.quantity, line.buckets, line.bucket_size) == (D(quantity), D(packages), D(1000))


def test_flat_is_quantity_times_unit_price() -> None:
    evaluation = price(FLAT, "121")
    assert (evaluation.exact_amount, str(evaluation.amount)) == (D("1.5125"), "1.51")
    assert evaluate(FLAT, D(121), "BHD").amount == D("1.513")
    assert evaluate(FLAT, D(121), "JPY").amount == D(2)
    assert price(FLAT, "0").exact_amount == 0


def test_free_costs_nothing_but_reports_the_quantity() -> None:
    evaluation = price(FREE, "500")
    assert (evaluation.quantity, evaluation.exact_amount, evaluation.amount) == (
        D(500),
        D(0),
        D("0.00"),
    )
    (line,) = evaluation.lines
    assert (line.quantity, line.unit_price, line.amount) == (D(500), D(0), D(0))


def test_lines_are_exact_and_only_the_total_is_rounded_once() -> None:
    # Three lines of 0.005: rounded per line they would make 0.03, rounded once 0.02.
    model = parse_price_model(
        {
            "model": "graduated",
            "tiers": [
                {"up_to": "1", "unit_price": "0.005"},
                {"up_to": "2", "unit_price": "0.005"},
                {"up_to": None, "unit_price": "0.005"},
            ],
        }
    )
    evaluation = price(model, "3")
    assert [line.amount for line in evaluation.lines] == [D("0.005")] * 3
    assert (evaluation.exact_amount, str(evaluation.amount)) == (D("0.015"), "0.02")


# --- free quota --------------------------------------------------------------------------


def test_the_free_quota_is_deducted_before_pricing() -> None:
    evaluation = price(GRADUATED, "25", included="10")
    assert (evaluation.quantity, evaluation.billable_quantity) == (D(25), D(15))
    assert evaluation.exact_amount == D(15 + 2.5 + 2)


def test_a_quota_covering_everything_still_bills_the_first_tiers_flat_fee() -> None:
    for model in (GRADUATED, VOLUME):
        evaluation = price(model, "8", included="10")
        assert (evaluation.billable_quantity, evaluation.exact_amount) == (D(0), D(5))


def test_the_bucket_model_ignores_the_free_quota() -> None:
    evaluation = price(BUCKET, "1001", included="5000")
    assert (evaluation.billable_quantity, evaluation.exact_amount) == (D(1001), D(300))


def test_a_quota_applies_to_the_other_models() -> None:
    assert price(FLAT, "121", included="21").exact_amount == D("1.25")
    assert price(PACKAGE, "1500", included="600").exact_amount == D(9)
    assert price(DISCOUNT_VOLUME, "1500", included="500").exact_amount == D(100)
    assert price(FREE, "10", included="3").billable_quantity == D(7)


# --- input errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "included", "path"),
    [
        (D(-1), D(0), "$.quantity"),
        (D("NaN"), D(0), "$.quantity"),
        (D("1E+30"), D(0), "$.quantity"),
        (D(1), D(-1), "$.included_quantity"),
    ],
)
def test_invalid_quantities_are_refused(quantity: Decimal, included: Decimal, path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate(FLAT, quantity, "EUR", included)
    assert caught.value.path == path


def test_an_unknown_currency_is_refused_when_evaluating() -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate(FLAT, D(1), "XYZ")
    assert caught.value.path == "$.currency"


def test_the_evaluation_json_has_the_documented_shape() -> None:
    body = evaluation_to_json(price(GRADUATED, "10.5", included="0"))
    assert body == {
        "currency": "EUR",
        "quantity": "10.5",
        "billable_quantity": "10.5",
        "exact_amount": "17.25",
        "amount": "17.25",
        "lines": [
            {"tier": 1, "from": "0", "to": "10", "quantity": "10", "unit_price": "1",
             "flat_fee": "5", "amount": "15"},
            {"tier": 2, "from": "10", "to": "20", "quantity": "0.5", "unit_price": "0.5",
             "flat_fee": "2", "amount": "2.25"},
        ],
    }  # fmt: skip
    bucket_line = evaluation_to_json(price(BUCKET, "300"))["lines"][0]
    assert (bucket_line["unit_price"], bucket_line["bucket_price"], bucket_line["buckets"]) == (
        None,
        "50",
        "2",
    )


# --- invalid definitions: each with the JSON path of the fault ---------------------------


def graduated(*tiers: dict[str, Any]) -> dict[str, Any]:
    return {"model": "graduated", "tiers": list(tiers)}


def bucket(*tiers: dict[str, Any]) -> dict[str, Any]:
    return {"model": "bucket", "tiers": list(tiers)}


LAST = {"up_to": None, "unit_price": "1"}


@pytest.mark.parametrize(
    ("definition", "path", "message"),
    [
        ([], "$.price", "must be an object"),
        ({}, "$.price.model", "is required"),
        ({"model": "tiered"}, "$.price.model", "unknown model"),
        ({"model": 3}, "$.price.model", "unknown model"),
        ({"model": "flat"}, "$.price.unit_price", "is required"),
        (
            {"model": "flat", "unit_price": "1", "currency": "EUR"},
            "$.price.currency",
            "unknown field",
        ),
        ({"model": "flat", "unit_price": "-1"}, "$.price.unit_price", ">= 0"),
        ({"model": "flat", "unit_price": True}, "$.price.unit_price", "must be a number"),
        ({"model": "flat", "unit_price": 0.1}, "$.price.unit_price", "floats"),
        ({"model": "flat", "unit_price": "1e999999"}, "$.price.unit_price", "1E"),
        ({"model": "free", "unit_price": "0"}, "$.price.unit_price", "unknown field"),
        (graduated(), "$.price.tiers", "at least one tier"),
        ({"model": "graduated", "tiers": "x"}, "$.price.tiers", "must be an array"),
        ({"model": "graduated", "tiers": {}}, "$.price.tiers", "must be an array"),
        ({"model": "graduated", "tiers": ["x"]}, "$.price.tiers[0]", "must be an object"),
        (
            graduated({"up_to": "0", "unit_price": "1"}, LAST),
            "$.price.tiers[0].up_to",
            "greater than 0",
        ),
        (
            graduated({"up_to": "-5", "unit_price": "1"}, LAST),
            "$.price.tiers[0].up_to",
            "greater than 0",
        ),
        (
            graduated({"up_to": "20", "unit_price": "1"}, {"up_to": "10", "unit_price": "1"}, LAST),
            "$.price.tiers[1].up_to",
            "greater than the previous",
        ),
        (
            graduated({"up_to": "10", "unit_price": "1"}, {"up_to": "10", "unit_price": "1"}, LAST),
            "$.price.tiers[1].up_to",
            "greater than the previous",
        ),
        (graduated(LAST, LAST), "$.price.tiers[0].up_to", "only the last tier"),
        (
            graduated({"up_to": "10", "unit_price": "1"}, {"up_to": "20", "unit_price": "1"}),
            "$.price.tiers[1].up_to",
            "must have up_to null",
        ),
        (graduated({"unit_price": "1"}), "$.price.tiers[0].up_to", "is required"),
        (graduated({"up_to": None}), "$.price.tiers[0].unit_price", "is required"),
        (graduated({"up_to": None, "unit_price": "-0.01"}), "$.price.tiers[0].unit_price", ">= 0"),
        (
            graduated(
                {"up_to": "5", "unit_price": "1"},
                {"up_to": None, "unit_price": "1", "flat_fee": "-1"},
            ),
            "$.price.tiers[1].flat_fee",
            ">= 0",
        ),
        (
            graduated({"up_to": None, "unit_price": "1", "flat_amount": "1"}),
            "$.price.tiers[0].flat_amount",
            "unknown field",
        ),
        (
            {"model": "volume", "tiers": [{"up_to": "ten", "unit_price": "1"}]},
            "$.price.tiers[0].up_to",
            "decimal",
        ),
        (
            {
                "model": "discount",
                "base_unit_price": "1",
                "tiers": [{"up_to": None, "discount_percent": "101"}],
            },
            "$.price.tiers[0].discount_percent",
            "between 0 and 100",
        ),
        (
            {
                "model": "discount",
                "base_unit_price": "1",
                "tiers": [{"up_to": None, "discount_percent": "-1"}],
            },
            "$.price.tiers[0].discount_percent",
            ">= 0",
        ),
        (
            {
                "model": "discount",
                "base_unit_price": "1",
                "mode": "stepped",
                "tiers": [{"up_to": None, "discount_percent": "1"}],
            },
            "$.price.mode",
            "unknown mode",
        ),
        (
            {"model": "discount", "tiers": [{"up_to": None, "discount_percent": "1"}]},
            "$.price.base_unit_price",
            "is required",
        ),
        (
            {"model": "package", "package_size": "0", "package_price": "9"},
            "$.price.package_size",
            "greater than 0",
        ),
        (
            {"model": "package", "package_size": "-1", "package_price": "9"},
            "$.price.package_size",
            ">= 0",
        ),
        ({"model": "package", "package_size": "10"}, "$.price.package_price", "is required"),
        (
            bucket({"up_to": "10", "bucket_price": "1", "bucket_size": "0"}, LAST),
            "$.price.tiers[0].bucket_size",
            "greater than 0",
        ),
        (
            bucket({"up_to": "10", "unit_price": "1"}, LAST),
            "$.price.tiers[0].unit_price",
            "only the last tier",
        ),
        (bucket({"up_to": "10"}, LAST), "$.price.tiers[0].bucket_price", "is required"),
        (
            bucket({"up_to": "10", "bucket_price": "1"}, {"up_to": None, "bucket_price": "1"}),
            "$.price.tiers[1].bucket_size",
            "required in the last tier",
        ),
        (
            bucket({"up_to": None, "bucket_price": "1", "bucket_size": "5", "unit_price": "1"}),
            "$.price.tiers[0]",
            "not both",
        ),
        (
            bucket({"up_to": None, "bucket_price": "-1", "bucket_size": "5"}),
            "$.price.tiers[0].bucket_price",
            ">= 0",
        ),
        (
            bucket({"up_to": "10", "bucket_price": "1", "unit_price": "1"}, LAST),
            "$.price.tiers[0].unit_price",
            "only the last",
        ),
    ],
)
def test_invalid_definitions_are_refused_with_the_path_of_the_fault(
    definition: object, path: str, message: str
) -> None:
    with pytest.raises(InvalidDefinition, match=message) as caught:
        parse_price_model(definition, "$.price")
    assert caught.value.path == path


def test_models_built_in_python_are_validated_too() -> None:
    with pytest.raises(InvalidDefinition) as caught:
        GraduatedPrice((Tier(D(10), D(1)), Tier(D(5), D(1)), Tier(None, D(1))))
    assert caught.value.path == "$.tiers[1].up_to"
    with pytest.raises(InvalidDefinition, match=">= 0"):
        FlatPrice(D(-1))


def test_a_model_reads_back_from_its_canonical_json() -> None:
    for model in (
        GRADUATED,
        VOLUME,
        BUCKET,
        DISCOUNT_VOLUME,
        DISCOUNT_GRADUATED,
        PACKAGE,
        FLAT,
        FREE,
    ):
        assert parse_price_model(price_model_to_json(model)) == model
    assert price_model_to_json(DISCOUNT_VOLUME)["mode"] == "volume"
    assert price_model_to_json(VOLUME)["tiers"][2] == {"up_to": None, "unit_price": "0.25"}
