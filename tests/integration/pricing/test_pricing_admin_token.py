"""Price list writes take the admin token; evaluations, quotes and reads stay open. Without
the token anyone on the network could make mailings free from two seconds later on."""

from datetime import UTC, datetime, timedelta

import httpx

from tests.integration.pricing.conftest import new_id
from tests.integration.pricing.test_pricing_price_lists_api import (
    credit_list,
    recipients_version,
)


def soon() -> str:
    return (datetime.now(UTC) + timedelta(seconds=2)).isoformat()


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["status"] == 401


async def test_an_anonymous_price_change_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    price_list_id = new_id("free-mailings")
    assert (
        await client.post("/v1/price-lists", json=credit_list(price_list_id))
    ).status_code == 201

    refused = await anonymous.post(
        f"/v1/price-lists/{price_list_id}/versions", json=recipients_version("0", soon())
    )

    assert_unauthorized(refused)
    versions = (await anonymous.get(f"/v1/price-lists/{price_list_id}")).json()["versions"]
    assert [v["version"] for v in versions] == [1]


async def test_an_anonymous_or_wrongly_signed_price_list_is_refused(
    anonymous: httpx.AsyncClient,
) -> None:
    price_list_id = new_id("anonymous")

    without = await anonymous.post("/v1/price-lists", json=credit_list(price_list_id))
    wrong = await anonymous.post(
        "/v1/price-lists",
        json=credit_list(price_list_id),
        headers={"Authorization": "Bearer pricing-admin-token-for-testz"},
    )
    basic = await anonymous.post(
        "/v1/price-lists",
        json=credit_list(price_list_id),
        headers={"Authorization": "Basic cHJpY2luZzphZG1pbg=="},
    )

    for response in (without, wrong, basic):
        assert_unauthorized(response)
    assert (await anonymous.get(f"/v1/price-lists/{price_list_id}")).status_code == 404


async def test_with_the_token_the_price_change_is_accepted(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    price_list_id = new_id("admin")
    assert (
        await client.post("/v1/price-lists", json=credit_list(price_list_id))
    ).status_code == 201

    accepted = await client.post(
        f"/v1/price-lists/{price_list_id}/versions", json=recipients_version("0.90", soon())
    )

    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["version"] == 2


async def test_evaluations_quotes_and_reads_need_no_token(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    price_list_id = new_id("open")
    assert (
        await client.post("/v1/price-lists", json=credit_list(price_list_id))
    ).status_code == 201

    evaluated = await anonymous.post(
        "/v1/evaluate",
        json={
            "price": {"model": "flat", "unit_price": "1.05"},
            "quantity": "100",
            "currency": "EUR",
        },
    )
    read = await anonymous.get(f"/v1/price-lists/{price_list_id}")
    listed = await anonymous.get("/v1/price-lists")
    credits = await anonymous.post(
        "/v1/credits/for-recipients",
        json={"price_list_id": price_list_id, "recipients": 5000, "at": "2025-06-01T00:00:00Z"},
    )

    assert evaluated.status_code == 200, evaluated.text
    assert read.status_code == 200, read.text
    assert listed.status_code == 200, listed.text
    assert credits.status_code == 200, credits.text
    assert credits.json()["credits"] == 5250
