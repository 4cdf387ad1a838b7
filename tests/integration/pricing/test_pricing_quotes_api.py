"""Quotes, the batch quote the ledger calls, and the credit endpoints, over HTTP."""

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from tests.integration.pricing.conftest import new_id
from tests.support.price_lists import (
    CREDIT_PRICE_LIST,
    EXAMPLE_TIERS,
    MAILING_PRICE_LIST,
    price_minor,
)


def plans(price_list_id: str) -> dict[str, Any]:
    return {
        "id": price_list_id,
        "name": "Newsletter plans",
        "currency": "EUR",
        "first_version": {
            "effective_from": "2025-01-01T00:00:00Z",
            "plan_variants": {
                "pro_yearly": {
                    "name": "Pro",
                    "setup_fee": "99",
                    "recurring_fee": "49",
                    "fee_period": "P1M",
                    "billing_period": "P1Y",
                    "included_quantities": {"recipients": "10000", "sms": "500"},
                },
                "pro_monthly": {
                    "name": "Pro monthly",
                    "setup_fee": "99",
                    "recurring_fee": "30",
                    "fee_period": "P1M",
                },
            },
            "recurring_components": {
                "seats": {
                    "name": "Seats",
                    "fee_period": "P1M",
                    "price": {"model": "flat", "unit_price": "5"},
                }
            },
            "metered_components": {
                "recipients": {
                    "name": "Recipients",
                    "price": {"model": "graduated", "tiers": EXAMPLE_TIERS},
                },
                "sms": {
                    "name": "SMS",
                    "price": {
                        "model": "bucket",
                        "tiers": [
                            {"up_to": "1000", "bucket_price": "10", "bucket_size": "100"},
                            {"up_to": None, "unit_price": "0.05"},
                        ],
                    },
                },
            },
        },
    }


@pytest.fixture
async def plan_list(client: httpx.AsyncClient) -> str:
    price_list_id = new_id("plans")
    response = await client.post("/v1/price-lists", json=plans(price_list_id))
    assert response.status_code == 201, response.text
    return price_list_id


async def quote(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/quotes", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def amounts(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(line["kind"], line["id"], line["exact_amount"]) for line in result["lines"]]


async def test_the_first_yearly_invoice_has_the_setup_fee_and_twelve_monthly_fees(
    client: httpx.AsyncClient, plan_list: str
) -> None:
    result = await quote(
        client,
        {
            "price_list_id": plan_list,
            "plan_variant_id": "pro_yearly",
            "period_start": "2025-03-01",
            "period_end": "2026-03-01",
            "first_invoice": True,
            "booked": {"seats": "3"},
        },
    )

    assert amounts(result) == [
        ("setup_fee", "pro_yearly", "99"),
        ("recurring_fee", "pro_yearly", "588"),  # 49 per P1M billed P1Y: 12 x 49
        ("recurring_component", "seats", "180"),  # 3 x 5 per P1M: 12 x 15
    ]
    assert (result["price_list_version"], result["proration"]) == (1, None)
    assert (result["exact_total"], result["total"], result["total_minor"]) == (
        "867",
        "867.00",
        86700,
    )


async def test_later_invoices_have_no_setup_fee(client: httpx.AsyncClient, plan_list: str) -> None:
    result = await quote(
        client,
        {
            "price_list_id": plan_list,
            "plan_variant_id": "pro_yearly",
            "period_start": "2026-03-01",
            "period_end": "2027-03-01",
        },
    )

    assert amounts(result) == [("recurring_fee", "pro_yearly", "588")]
    assert result["total"] == "588.00"


async def test_a_partial_period_is_prorated_by_its_actual_days(
    client: httpx.AsyncClient, plan_list: str
) -> None:
    # 15 days of March (31 days) and 15 of April (30 days) cost different shares of 30.
    march = await quote(
        client,
        {
            "price_list_id": plan_list,
            "plan_variant_id": "pro_monthly",
            "period_start": "2025-03-17",
            "period_end": "2025-04-01",
            "billing_anchor": "2025-01-01",
        },
    )
    april = await quote(
        client,
        {
            "price_list_id": plan_list,
            "plan_variant_id": "pro_monthly",
            "period_start": "2025-04-16",
            "period_end": "2025-05-01",
            "billing_anchor": "2025-01-01",
        },
    )

    assert march["proration"] == {"days": 15, "period_days": 31}
    assert march["total"] == "14.52"  # 30 x 15/31 = 14.516...
    assert april["proration"] == {"days": 15, "period_days": 30}
    assert (april["exact_total"], april["total"]) == ("15", "15.00")
    assert [line["prorated"] for line in april["lines"]] == [True]


async def test_a_period_past_its_billing_cycle_is_refused(
    client: httpx.AsyncClient, plan_list: str
) -> None:
    response = await client.post(
        "/v1/quotes",
        json={
            "price_list_id": plan_list,
            "plan_variant_id": "pro_monthly",
            "period_start": "2025-03-17",
            "period_end": "2025-04-02",
            "billing_anchor": "2025-01-01",
        },
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "$.period_end"


async def test_the_free_quota_applies_to_the_summed_usage(
    client: httpx.AsyncClient, plan_list: str
) -> None:
    result = await quote(
        client,
        {
            "price_list_id": plan_list,
            "plan_variant_id": "pro_yearly",
            "period_start": "2025-03-01",
            "period_end": "2026-03-01",
            "usage": {"recipients": ["6000", "5000", "500"]},
        },
    )

    [_, metered] = result["lines"]
    assert (metered["quantity"], metered["evaluation"]["billable_quantity"]) == ("11500", "1500")
    # 1000 x 0.02 + 500 x 0.015 + 5 (tier 2's fee): the quota came off the sum, not each report.
    assert metered["exact_amount"] == "32.500"
    assert result["total"] == "620.50"


async def test_bucket_pricing_ignores_the_free_quota(
    client: httpx.AsyncClient, plan_list: str
) -> None:
    result = await quote(
        client,
        {
            "price_list_id": plan_list,
            "plan_variant_id": "pro_yearly",
            "period_start": "2025-03-01",
            "period_end": "2026-03-01",
            "usage": {"sms": ["250", "100"]},
        },
    )

    [_, metered] = result["lines"]
    # 350 SMS with 500 included: still 4 buckets of 100 at 10.
    assert (metered["quantity"], metered["evaluation"]["billable_quantity"]) == ("350", "350")
    assert metered["exact_amount"] == "40"


async def test_the_version_in_effect_at_the_period_start_prices_the_quote(
    client: httpx.AsyncClient, plan_list: str
) -> None:
    second = plans(plan_list)["first_version"]
    second["effective_from"] = "2031-01-01T00:00:00Z"
    second["plan_variants"]["pro_yearly"]["recurring_fee"] = "59"
    created = await client.post(f"/v1/price-lists/{plan_list}/versions", json=second)
    assert created.status_code == 201, created.text

    def body(start: str, end: str, **extra: Any) -> dict[str, Any]:
        return {
            "price_list_id": plan_list,
            "plan_variant_id": "pro_yearly",
            "period_start": start,
            "period_end": end,
            **extra,
        }

    before = await quote(client, body("2030-01-01", "2031-01-01"))
    after = await quote(client, body("2031-01-01", "2032-01-01"))
    pinned = await quote(client, body("2031-01-01", "2032-01-01", version=1))

    assert (before["price_list_version"], before["total"]) == (1, "588.00")
    assert (after["price_list_version"], after["total"]) == (2, "708.00")
    assert (pinned["price_list_version"], pinned["total"]) == (1, "588.00")


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"price_list_id": "no-such-list"}, 404, "$.price_list_id"),
        ({"version": 9}, 404, "$.version"),
        ({"version": 0}, 422, "$.version"),
        ({"period_start": "2024-06-01"}, 404, "$.period_start"),
        ({"period_start": "March"}, 422, "$.period_start"),
        ({"period_end": "2025-03-01"}, 422, "$.period_end"),
        ({"plan_variant_id": "enterprise"}, 422, "$.plan_variant_id"),
        ({"booked": {"recipients": "1"}}, 422, "$.booked.recipients"),
        ({"booked": {"seats": "-1"}}, 422, "$.booked.seats"),
        ({"booked": ["seats"]}, 422, "$.booked"),
        ({"usage": {"recipients": ["1", "ten"]}}, 422, "$.usage.recipients[1]"),
        ({"usage": {"recipients": "100"}}, 422, "$.usage.recipients"),
        ({"usage": {"seats": ["1"]}}, 422, "$.usage.seats"),
        ({"first_invoice": "yes"}, 422, "$.first_invoice"),
        ({"billing_anchor": "soon"}, 422, "$.billing_anchor"),
        ({"discount": "10"}, 422, "$.discount"),
    ],
)
async def test_a_bad_quote_request_is_refused_at_its_path(
    client: httpx.AsyncClient, plan_list: str, change: dict[str, Any], status: int, field: str
) -> None:
    body = {
        "price_list_id": plan_list,
        "plan_variant_id": "pro_yearly",
        "period_start": "2025-03-01",
        "period_end": "2026-03-01",
        **change,
    }

    response = await client.post("/v1/quotes", json=body)

    assert response.status_code == status, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


# --- the batch quote --------------------------------------------------------------------------


def credit_lists(mailing_id: str, money_id: str) -> list[dict[str, Any]]:
    """The canonical credit lists under this test's own ids."""
    return [{**MAILING_PRICE_LIST, "id": mailing_id}, {**CREDIT_PRICE_LIST, "id": money_id}]


@pytest.fixture
async def credit_ids(client: httpx.AsyncClient) -> tuple[str, str]:
    mailing_id, money_id = new_id("mailing-credits"), new_id("credit-prices")
    for body in credit_lists(mailing_id, money_id):
        response = await client.post("/v1/price-lists", json=body)
        assert response.status_code == 201, response.text
    return mailing_id, money_id


def batch_item(price_list_id: str, component: str, quantity: int, at: str) -> dict[str, str]:
    return {
        "price_list_id": price_list_id,
        "component": component,
        "quantity": str(quantity),
        "at": at,
    }


SWITCH = "2031-01-01T00:00:00Z"
BEFORE = "2030-12-31T23:59:59.999999Z"
SAME_INSTANT_IN_BERLIN = "2031-01-01T01:00:00+01:00"


async def test_a_batch_of_1200_prices_every_item_in_order_with_its_errors_in_place(
    client: httpx.AsyncClient, credit_ids: tuple[str, str]
) -> None:
    mailing_id, money_id = credit_ids
    created = await client.post(
        f"/v1/price-lists/{mailing_id}/versions",
        json={
            "effective_from": SWITCH,
            "metered_components": {
                "recipients": {"name": "Recipients", "price": {"model": "flat", "unit_price": "1"}}
            },
        },
    )
    assert created.status_code == 201, created.text

    items: list[Any] = []
    expected: list[Any] = []
    for index in range(1200):
        quantity = 1 + index * 7
        if index % 3 == 2:
            # Credits from 14 to 109,110: every volume tier, with amounts that need rounding.
            credits = 1 + index * 91
            items.append(batch_item(money_id, "credits", credits, SWITCH))
            expected.append((money_id, 1, "EUR", Decimal(price_minor(credits)).scaleb(-2)))
            continue
        at = BEFORE if index % 3 == 0 else (SWITCH if index % 2 else SAME_INSTANT_IN_BERLIN)
        version, unit = (1, Decimal("1.05")) if at == BEFORE else (2, Decimal("1"))
        items.append(batch_item(mailing_id, "recipients", quantity, at))
        amount = (quantity * unit).quantize(Decimal(1), ROUND_HALF_UP)
        expected.append((mailing_id, version, "CREDITS", amount))
    errors = {
        7: ({**items[7], "price_list_id": "no-such-list"}, 404, "$.items[7].price_list_id"),
        100: ({**items[100], "component": "letters"}, 422, "$.items[100].component"),
        333: ({**items[333], "quantity": "-5"}, 422, "$.items[333].quantity"),
        334: ({**items[334], "quantity": "1e400"}, 422, "$.items[334].quantity"),
        500: ({**items[500], "at": "2024-12-31T23:59:59Z"}, 404, "$.items[500].at"),
        640: ({**items[640], "at": "2031-01-01T00:00:00"}, 422, "$.items[640].at"),
        777: ({k: v for k, v in items[777].items() if k != "at"}, 422, "$.items[777].at"),
        901: ({**items[901], "note": "x"}, 422, "$.items[901].note"),
        999: ("not an item", 422, "$.items[999]"),
        1199: ({**items[1199], "price_list_id": 42}, 422, "$.items[1199].price_list_id"),
    }
    for index, (item, _, _) in errors.items():
        items[index] = item

    response = await client.post("/v1/quotes/batch", json={"items": items})

    assert response.status_code == 200, response.text
    answers = response.json()["items"]
    assert len(answers) == 1200
    for index, answer in enumerate(answers):
        if index in errors:
            _, status, field = errors[index]
            assert answer["error"]["status"] == status, (index, answer)
            assert answer["error"]["field"] == field, (index, answer)
            continue
        price_list_id, version, currency, amount = expected[index]
        assert (
            answer["price_list_id"],
            answer["price_list_version"],
            answer["currency"],
            answer["amount"],
            answer["quantity"],
            answer["component"],
        ) == (
            price_list_id,
            version,
            currency,
            str(amount),
            items[index]["quantity"],
            items[index]["component"],
        ), index
        minor = int(amount.scaleb(2 if currency == "EUR" else 0))
        assert answer["amount_minor"] == minor, index


async def test_a_batch_item_matches_its_hand_computed_breakdown(
    client: httpx.AsyncClient, credit_ids: tuple[str, str]
) -> None:
    mailing_id, money_id = credit_ids
    at = "2025-03-01T10:00:00Z"

    response = await client.post(
        "/v1/quotes/batch",
        json={
            "items": [
                batch_item(mailing_id, "recipients", 5000, at),
                batch_item(money_id, "credits", 25000, at),
            ]
        },
    )

    assert response.json() == {
        "items": [
            {
                "price_list_id": mailing_id,
                "price_list_version": 1,
                "component": "recipients",
                "currency": "CREDITS",
                "quantity": "5000",
                "billable_quantity": "5000",
                "exact_amount": "5250.00",
                "amount": "5250",
                "amount_minor": 5250,
                "lines": [
                    {
                        "tier": 1,
                        "from": "0",
                        "to": None,
                        "quantity": "5000",
                        "unit_price": "1.05",
                        "flat_fee": "0",
                        "amount": "5250.00",
                    }
                ],
            },
            {
                "price_list_id": money_id,
                "price_list_version": 1,
                "component": "credits",
                "currency": "EUR",
                "quantity": "25000",
                "billable_quantity": "25000",
                # 25,000 credits, all at the second tier's 0.008: 200.000
                "exact_amount": "200.000",
                "amount": "200.00",
                "amount_minor": 20000,
                "lines": [
                    {
                        "tier": 2,
                        "from": "10000",
                        "to": "100000",
                        "quantity": "25000",
                        "unit_price": "0.008",
                        "flat_fee": "0",
                        "amount": "200.000",
                    }
                ],
            },
        ]
    }


async def test_the_next_batch_uses_a_version_created_after_the_previous_one(
    client: httpx.AsyncClient, credit_ids: tuple[str, str]
) -> None:
    mailing_id, _ = credit_ids
    body = {"items": [batch_item(mailing_id, "recipients", 100, "2040-01-01T00:00:00Z")]}
    before = (await client.post("/v1/quotes/batch", json=body)).json()["items"][0]

    created = await client.post(
        f"/v1/price-lists/{mailing_id}/versions",
        json={
            "effective_from": "2035-01-01T00:00:00Z",
            "metered_components": {
                "recipients": {"name": "Recipients", "price": {"model": "flat", "unit_price": "2"}}
            },
        },
    )
    assert created.status_code == 201, created.text
    after = (await client.post("/v1/quotes/batch", json=body)).json()["items"][0]

    assert (before["price_list_version"], before["amount"]) == (1, "105")
    assert (after["price_list_version"], after["amount"]) == (2, "200")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "$"),
        ({}, "$.items"),
        ({"items": {}}, "$.items"),
        ({"items": [], "extra": True}, "$.extra"),
        (
            {"items": [batch_item("x", "y", 1, SWITCH)] * 10_001},
            "$.items",
        ),
    ],
)
async def test_a_malformed_batch_as_a_whole_is_a_422_problem(
    client: httpx.AsyncClient, body: Any, field: str
) -> None:
    response = await client.post("/v1/quotes/batch", json=body)

    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_an_empty_batch_is_an_empty_answer(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/quotes/batch", json={"items": []})

    assert (response.status_code, response.json()) == (200, {"items": []})


# --- credits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipients", "credits", "exact"),
    [("5000", 5250, "5250.00"), ("10", 11, "10.50"), ("1", 1, "1.05"), ("0", 0, "0.00")],
)
async def test_the_credits_of_a_mailing_are_its_exact_amount_rounded_once_half_up(
    client: httpx.AsyncClient,
    credit_ids: tuple[str, str],
    recipients: str,
    credits: int,
    exact: str,
) -> None:
    mailing_id, _ = credit_ids

    response = await client.post(
        "/v1/credits/for-recipients",
        json={"price_list_id": mailing_id, "recipients": recipients, "at": SWITCH},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["credits"], body["amount_minor"], body["exact_amount"]) == (
        credits,
        credits,
        exact,
    )
    assert (body["currency"], body["component"]) == ("CREDITS", "recipients")


async def test_the_money_price_of_credits_follows_the_volume_tiers(
    client: httpx.AsyncClient, credit_ids: tuple[str, str]
) -> None:
    _, money_id = credit_ids
    prices = []
    for credits in ("10000", "10001", "25000", "100001"):
        response = await client.post(
            "/v1/credits/price", json={"price_list_id": money_id, "credits": credits}
        )
        assert response.status_code == 200, response.text
        prices.append((response.json()["amount"], response.json()["amount_minor"]))

    # Every credit at the price of the tier the quantity falls in: 10,000 x 0.01,
    # 10,001 x 0.008 = 80.008, 25,000 x 0.008, 100,001 x 0.006 = 600.006 (rounded half-up).
    assert prices == [("100.00", 10000), ("80.01", 8001), ("200.00", 20000), ("600.01", 60001)]
    assert [minor for _, minor in prices] == [price_minor(n) for n in (10000, 10001, 25000, 100001)]


PRICE = "/v1/credits/price"
FOR_RECIPIENTS = "/v1/credits/for-recipients"


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        (PRICE, {"price_list_id": "no-such-list", "credits": "1"}, 404, "$.price_list_id"),
        (PRICE, {"price_list_id": "MAILING", "credits": "1"}, 422, "$.price_list_id"),
        (PRICE, {"price_list_id": "MONEY", "credits": "1.5"}, 422, "$.credits"),
        (PRICE, {"price_list_id": "MONEY", "credits": "-1"}, 422, "$.credits"),
        (
            PRICE,
            {"price_list_id": "MONEY", "credits": "1", "at": "2024-01-01T00:00:00Z"},
            404,
            "$.at",
        ),
        (PRICE, {"price_list_id": "MONEY", "credits": "1", "at": "today"}, 422, "$.at"),
        (FOR_RECIPIENTS, {"price_list_id": "MONEY", "recipients": "1"}, 422, "$.price_list_id"),
        (FOR_RECIPIENTS, {"price_list_id": "MAILING", "recipients": "ten"}, 422, "$.recipients"),
        (FOR_RECIPIENTS, {"price_list_id": "MAILING"}, 422, "$.recipients"),
    ],
)
async def test_bad_credit_requests_are_refused_at_their_path(
    client: httpx.AsyncClient,
    credit_ids: tuple[str, str],
    path: str,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    names = {"MAILING": credit_ids[0], "MONEY": credit_ids[1]}
    body = {**body, "price_list_id": names.get(body["price_list_id"], body["price_list_id"])}

    response = await client.post(path, json=body)

    assert response.status_code == status, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]
