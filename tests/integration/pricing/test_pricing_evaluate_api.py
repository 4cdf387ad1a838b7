"""POST /v1/evaluate: every price model with exact amounts, and every kind of bad input."""

from typing import Any

import httpx
import pytest

from tests.support.price_lists import EXAMPLE_TIERS

DISCOUNTS = [
    {"up_to": "1000", "discount_percent": "0"},
    {"up_to": "10000", "discount_percent": "10"},
    {"up_to": None, "discount_percent": "25"},
]
BUCKETS = [
    {"up_to": "1000", "bucket_price": "10"},
    {"up_to": "5000", "bucket_price": "15", "bucket_size": "1000"},
    {"up_to": None, "unit_price": "0.004"},
]


async def evaluate(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/v1/evaluate", json=body)


def lines(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Lines as (tier, from, to, quantity, unit_price, flat_fee, amount)."""
    keys = ("tier", "from", "to", "quantity", "unit_price", "flat_fee", "amount")
    return [tuple(line[key] for key in keys) for line in body["lines"]]


@pytest.mark.parametrize(
    ("price", "quantity", "exact", "amount", "expected_lines"),
    [
        (
            {"model": "flat", "unit_price": "0.0125"},
            "12000",
            "150.0000",
            "150.00",
            [(1, "0", None, "12000", "0.0125", "0", "150.0000")],
        ),
        (
            {"model": "volume", "tiers": EXAMPLE_TIERS},
            "2500",
            "42.500",
            "42.50",
            [(2, "1000", "10000", "2500", "0.015", "5", "42.500")],
        ),
        (
            {"model": "volume", "tiers": EXAMPLE_TIERS},
            "0",
            "0.00",
            "0.00",
            [(1, "0", "1000", "0", "0.02", "0", "0.00")],
        ),
        (
            {"model": "graduated", "tiers": EXAMPLE_TIERS},
            "2500",
            "47.500",
            "47.50",
            [
                (1, "0", "1000", "1000", "0.02", "0", "20.00"),
                (2, "1000", "10000", "1500", "0.015", "5", "27.500"),
            ],
        ),
        (
            {"model": "graduated", "tiers": EXAMPLE_TIERS},
            "10000.5",
            "180.005",
            "180.01",
            [
                (1, "0", "1000", "1000", "0.02", "0", "20.00"),
                (2, "1000", "10000", "9000", "0.015", "5", "140.000"),
                (3, "10000", None, "0.5", "0.01", "20", "20.005"),
            ],
        ),
        (
            {"model": "bucket", "tiers": BUCKETS},
            "6500",
            "76.000",
            "76.00",
            [
                (1, "0", "1000", "1000", None, "0", "10"),
                (2, "1000", "5000", "4000", None, "0", "60"),
                (3, "5000", None, "1500", "0.004", "0", "6.000"),
            ],
        ),
        (
            {"model": "bucket", "tiers": BUCKETS},
            "1001",
            "25",
            "25.00",
            [
                (1, "0", "1000", "1000", None, "0", "10"),
                (2, "1000", "5000", "1", None, "0", "15"),
            ],
        ),
        (
            {"model": "discount", "base_unit_price": "0.02", "tiers": DISCOUNTS},
            "2500",
            "45.0000",
            "45.00",
            [(2, "1000", "10000", "2500", "0.0180", "0", "45.0000")],
        ),
        (
            {
                "model": "discount",
                "base_unit_price": "0.02",
                "mode": "graduated",
                "tiers": DISCOUNTS,
            },
            "2500",
            "47.0000",
            "47.00",
            [
                (1, "0", "1000", "1000", "0.0200", "0", "20.0000"),
                (2, "1000", "10000", "1500", "0.0180", "0", "27.0000"),
            ],
        ),
        (
            {"model": "package", "package_size": "1000", "package_price": "9.90"},
            "2500",
            "29.70",
            "29.70",
            [(1, "0", None, "2500", None, "0", "29.70")],
        ),
        (
            {"model": "free"},
            "500",
            "0",
            "0.00",
            [(1, "0", None, "500", "0", "0", "0")],
        ),
    ],
    ids=[
        "flat",
        "volume",
        "volume-at-zero-takes-the-first-tier",
        "graduated",
        "graduated-fraction-in-third-tier",
        "bucket",
        "bucket-one-unit-opens-a-bucket",
        "discount-volume",
        "discount-graduated",
        "package",
        "free",
    ],
)
async def test_every_model_prices_exactly(
    client: httpx.AsyncClient,
    price: dict[str, Any],
    quantity: str,
    exact: str,
    amount: str,
    expected_lines: list[tuple[Any, ...]],
) -> None:
    response = await evaluate(client, {"price": price, "quantity": quantity, "currency": "EUR"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["currency"], body["quantity"], body["billable_quantity"]) == (
        "EUR",
        quantity,
        quantity,
    )
    assert (body["exact_amount"], body["amount"]) == (exact, amount)
    assert lines(body) == expected_lines


async def test_bucket_and_package_lines_show_their_buckets(client: httpx.AsyncClient) -> None:
    bucket = await evaluate(
        client,
        {"price": {"model": "bucket", "tiers": BUCKETS}, "quantity": "1001", "currency": "EUR"},
    )
    package = await evaluate(
        client,
        {
            "price": {"model": "package", "package_size": "1000", "package_price": "9.90"},
            "quantity": "2500",
            "currency": "EUR",
        },
    )

    assert [
        (line["bucket_price"], line["bucket_size"], line["buckets"])
        for line in bucket.json()["lines"]
    ] == [("10", "1000", "1"), ("15", "1000", "1")]
    [line] = package.json()["lines"]
    assert (line["bucket_price"], line["bucket_size"], line["buckets"]) == ("9.90", "1000", "3")


async def test_a_free_quota_reduces_the_billable_quantity(client: httpx.AsyncClient) -> None:
    response = await evaluate(
        client,
        {
            "price": {"model": "graduated", "tiers": EXAMPLE_TIERS},
            "quantity": "2500",
            "currency": "EUR",
            "included_quantity": "1000",
        },
    )

    body = response.json()
    assert (body["quantity"], body["billable_quantity"], body["amount"]) == (
        "2500",
        "1500",
        "32.50",
    )


async def test_a_free_quota_covering_everything_still_bills_the_first_volume_fee(
    client: httpx.AsyncClient,
) -> None:
    tiers = [
        {"up_to": "100", "unit_price": "1", "flat_fee": "3"},
        {"up_to": None, "unit_price": "0.5"},
    ]
    response = await evaluate(
        client,
        {
            "price": {"model": "volume", "tiers": tiers},
            "quantity": "80",
            "currency": "EUR",
            "included_quantity": "100",
        },
    )

    assert (response.json()["billable_quantity"], response.json()["amount"]) == ("0", "3.00")


async def test_bucket_ignores_the_free_quota(client: httpx.AsyncClient) -> None:
    response = await evaluate(
        client,
        {
            "price": {"model": "bucket", "tiers": BUCKETS},
            "quantity": "1001",
            "currency": "EUR",
            "included_quantity": "5000",
        },
    )

    assert (response.json()["billable_quantity"], response.json()["amount"]) == ("1001", "25.00")


@pytest.mark.parametrize(
    ("currency", "amount"),
    [("EUR", "1.01"), ("JPY", "1"), ("BHD", "1.005"), ("CREDITS", "1")],
)
async def test_the_total_is_rounded_once_half_up_to_the_currencys_minor_unit(
    client: httpx.AsyncClient, currency: str, amount: str
) -> None:
    # 3 x 0.3350 = 1.0050 exactly: half a cent in EUR rounds up, BHD has three decimals.
    response = await evaluate(
        client,
        {"price": {"model": "flat", "unit_price": "0.3350"}, "quantity": "3", "currency": currency},
    )

    assert (response.json()["exact_amount"], response.json()["amount"]) == ("1.0050", amount)


async def test_json_numbers_are_read_as_exact_decimals(client: httpx.AsyncClient) -> None:
    # As floats, 0.1 x 3 would be 0.30000000000000004 and 0.1 + 0.2 would not be 0.3.
    body = b'{"price": {"model": "graduated", "tiers": [{"up_to": 1, "unit_price": 0.1, '
    body += b'"flat_fee": 0.2}, {"up_to": null, "unit_price": 0.1}]}, "quantity": 3, '
    body += b'"currency": "EUR"}'
    response = await client.post("/v1/evaluate", content=body)

    assert response.status_code == 200, response.text
    assert response.json()["exact_amount"] == "0.5"
    assert lines(response.json()) == [
        (1, "0", "1", "1", "0.1", "0.2", "0.3"),
        (2, "1", None, "2", "0.1", "0", "0.2"),
    ]


FLAT = {"model": "flat", "unit_price": "1"}


def with_quantity(quantity: str) -> bytes:
    """A body whose quantity is raw JSON text (so NaN, 1e30 and friends arrive as sent)."""
    return b'{"price": {"model": "flat", "unit_price": "1"}, "currency": "EUR", "quantity": ' + (
        quantity.encode() + b"}"
    )


@pytest.mark.parametrize(
    "quantity",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        '"NaN"',
        '"Infinity"',
        '"ten"',
        '"1e999999"',
        "1e999999",
        "1e30",
        '"1e30"',
        "1000000000000000000000000000000",
        "-1",
        '"-0.5"',
        '"0.0000000000000000001"',
        '"1_000"',
        '" 1"',
        "true",
        "null",
        "[]",
        "{}",
    ],
)
async def test_a_bad_quantity_is_refused_at_its_path(
    client: httpx.AsyncClient, quantity: str
) -> None:
    response = await client.post("/v1/evaluate", content=with_quantity(quantity))

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["$.quantity"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"price": FLAT, "quantity": "1", "currency": "XYZ"}, "$.currency"),
        ({"price": FLAT, "quantity": "1", "currency": "eur"}, "$.currency"),
        ({"price": FLAT, "quantity": "1", "currency": 978}, "$.currency"),
        ({"price": FLAT, "quantity": "1"}, "$.currency"),
        ({"price": FLAT, "currency": "EUR"}, "$.quantity"),
        ({"price": FLAT, "quantity": "1", "currency": "EUR", "extra": 1}, "$.extra"),
        (
            {"price": FLAT, "quantity": "1", "currency": "EUR", "included_quantity": "-1"},
            "$.included_quantity",
        ),
        ({"price": {"model": "tiered"}, "quantity": "1", "currency": "EUR"}, "$.price.model"),
        ({"price": {"unit_price": "1"}, "quantity": "1", "currency": "EUR"}, "$.price.model"),
        ({"price": [], "quantity": "1", "currency": "EUR"}, "$.price"),
        (
            {"price": {"model": "flat", "unit_price": "-1"}, "quantity": "1", "currency": "EUR"},
            "$.price.unit_price",
        ),
        (
            {
                "price": {"model": "flat", "unit_price": "1", "up_to": "5"},
                "quantity": "1",
                "currency": "EUR",
            },
            "$.price.up_to",
        ),
        (
            {"price": {"model": "volume", "tiers": []}, "quantity": "1", "currency": "EUR"},
            "$.price.tiers",
        ),
        (
            {
                "price": {
                    "model": "graduated",
                    "tiers": [
                        {"up_to": "10", "unit_price": "1"},
                        {"up_to": "10", "unit_price": "1"},
                        {"up_to": None, "unit_price": "1"},
                    ],
                },
                "quantity": "1",
                "currency": "EUR",
            },
            "$.price.tiers[1].up_to",
        ),
        (
            {
                "price": {
                    "model": "graduated",
                    "tiers": [
                        {"up_to": None, "unit_price": "1"},
                        {"up_to": "10", "unit_price": "1"},
                    ],
                },
                "quantity": "1",
                "currency": "EUR",
            },
            "$.price.tiers[0].up_to",
        ),
        (
            {
                "price": {"model": "volume", "tiers": [{"up_to": "10", "unit_price": "1"}]},
                "quantity": "1",
                "currency": "EUR",
            },
            "$.price.tiers[0].up_to",
        ),
        (
            {
                "price": {
                    "model": "volume",
                    "tiers": [{"up_to": None, "unit_price": "1", "flat_amount": "2"}],
                },
                "quantity": "1",
                "currency": "EUR",
            },
            "$.price.tiers[0].flat_amount",
        ),
        (
            {
                "price": {"model": "volume", "tiers": [{"up_to": None, "unit_price": "ten"}]},
                "quantity": "1",
                "currency": "EUR",
            },
            "$.price.tiers[0].unit_price",
        ),
        (
            {
                "price": {
                    "model": "discount",
                    "base_unit_price": "1",
                    "mode": "stepped",
                    "tiers": DISCOUNTS,
                },
                "quantity": "1",
                "currency": "EUR",
            },
            "$.price.mode",
        ),
        (
            {
                "price": {
                    "model": "discount",
                    "base_unit_price": "1",
                    "tiers": [{"up_to": None, "discount_percent": "100.5"}],
                },
                "quantity": "1",
                "currency": "EUR",
            },
            "$.price.tiers[0].discount_percent",
        ),
        (
            {
                "price": {"model": "package", "package_size": "0", "package_price": "1"},
                "quantity": "1",
                "currency": "EUR",
            },
            "$.price.package_size",
        ),
        (
            {
                "price": {"model": "bucket", "tiers": [{"up_to": None, "bucket_price": "1"}]},
                "quantity": "1",
                "currency": "EUR",
            },
            "$.price.tiers[0].bucket_size",
        ),
        (
            {
                "price": {
                    "model": "bucket",
                    "tiers": [
                        {"up_to": "5", "unit_price": "1"},
                        {"up_to": None, "unit_price": "1"},
                    ],
                },
                "quantity": "1",
                "currency": "EUR",
            },
            "$.price.tiers[0].unit_price",
        ),
        (["not", "an", "object"], "$"),
    ],
)
async def test_bad_input_is_refused_at_its_path(
    client: httpx.AsyncClient, body: Any, field: str
) -> None:
    response = await evaluate(client, body)

    assert response.status_code == 422, response.text
    problem = response.json()
    assert [error["field"] for error in problem["errors"]] == [field]
    assert problem["status"] == 422
    assert problem["detail"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            b'{"price": {"model": "flat", "unit_price": "1", "unit_price": "2"}, '
            b'"quantity": "1", "currency": "EUR"}',
            "$.price.unit_price",
        ),
        (
            b'{"quantity": "1", "price": {"model": "flat", "unit_price": "1"}, '
            b'"currency": "EUR", "quantity": "2"}',
            "$.quantity",
        ),
        (
            b'{"price": {"model": "graduated", "tiers": [{"up_to": null, "unit_price": "1", '
            b'"up_to": "5"}]}, "quantity": "1", "currency": "EUR"}',
            "$.price.tiers[0].up_to",
        ),
        (b'{"price": ', "$"),
        (b"", "$"),
        (b"\xff\xfe", "$"),
        (b'{"price": {}} trailing', "$"),
        (b"[" * 100_000 + b"]" * 100_000, "$"),
        (b'{"quantity": 1' + b"0" * 5000 + b"}", "$"),
    ],
    ids=[
        "duplicate-nested",
        "duplicate-top-level",
        "duplicate-in-array",
        "truncated",
        "empty",
        "not-utf8",
        "trailing-garbage",
        "too-deep",
        "too-many-digits",
    ],
)
async def test_unreadable_json_and_duplicate_keys_are_refused(
    client: httpx.AsyncClient, raw: bytes, field: str
) -> None:
    response = await client.post("/v1/evaluate", content=raw)

    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]
