"""What pricing refuses before any work: bodies over the limit (413, unread) and U+0000, which
PostgreSQL cannot store (422 naming the field)."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from pricing.api.app import create_app
from pricing.settings import PricingSettings
from tests.integration.conftest import free_port, serve_in_background
from tests.integration.pricing.conftest import (
    ADMIN_HEADERS,
    MAX_BODY,
    PRICING_ADMIN_TOKEN,
    new_id,
)
from tests.integration.pricing.test_pricing_price_lists_api import credit_list
from tests.integration.raw_http import BodyCounter, send_raw

TWENTY_MB = 20 * 1024 * 1024
CHUNK = 65536  # what send_raw sends per chunk


@pytest.fixture(scope="module")
async def served(pricing_database_url: str) -> AsyncIterator[tuple[int, BodyCounter]]:
    """Pricing on uvicorn, so requests can be sent byte by byte, and a count of the body bytes
    it took from uvicorn."""
    port = free_port()
    settings = PricingSettings(
        database_url=pricing_database_url, admin_token=PRICING_ADMIN_TOKEN, max_body_bytes=MAX_BODY
    )
    counter = BodyCounter(create_app(settings))
    server, task = await serve_in_background(counter, port)
    yield port, counter
    server.should_exit = True
    await task


@pytest.fixture
def pricing_port(served: tuple[int, BodyCounter]) -> int:
    served[1].body_bytes = 0
    return served[0]


@pytest.fixture
def body_read(served: tuple[int, BodyCounter]) -> BodyCounter:
    return served[1]


@pytest.mark.parametrize("path", ["/v1/price-lists", "/v1/evaluate"])
async def test_a_20_mb_anonymous_body_is_refused_at_once_without_being_read(
    pricing_port: int, body_read: BodyCounter, path: str
) -> None:
    answer = await send_raw(
        pricing_port,
        "POST",
        path,
        {"Content-Type": "application/json", "Content-Length": str(TWENTY_MB)},
    )

    assert answer.status == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert json.loads(answer.body)["status"] == 413
    assert answer.seconds < 1.0
    assert body_read.body_bytes == 0


async def test_an_anonymous_price_list_is_refused_before_its_body_is_read(
    pricing_port: int, body_read: BodyCounter
) -> None:
    answer = await send_raw(
        pricing_port,
        "POST",
        "/v1/price-lists",
        {"Content-Type": "application/json", "Content-Length": str(MAX_BODY)},
    )

    assert answer.status == 401
    assert answer.seconds < 1.0
    assert body_read.body_bytes == 0


async def test_an_over_limit_body_with_the_admin_token_is_refused(
    pricing_port: int, body_read: BodyCounter
) -> None:
    admin = {**ADMIN_HEADERS, "Content-Type": "application/json"}

    declared = await send_raw(
        pricing_port, "POST", "/v1/price-lists", {**admin, "Content-Length": str(MAX_BODY + 1)}
    )
    assert body_read.body_bytes == 0
    streamed = await send_raw(
        pricing_port,
        "POST",
        "/v1/price-lists",
        {**admin, "Transfer-Encoding": "chunked"},
        chunks=TWENTY_MB // CHUNK,
    )

    assert declared.status == 413
    assert declared.seconds < 1.0
    assert streamed.status == 413
    # Read up to the limit and at most one more piece of what uvicorn received (<= 256 KiB).
    assert MAX_BODY < body_read.body_bytes <= MAX_BODY + 256 * 1024


async def test_u0000_in_a_body_field_is_refused_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    price_list_id = new_id("nul")
    named = {**credit_list(price_list_id), "name": "Credits\u0000"}
    in_a_key = credit_list(new_id("nul-key"))
    in_a_key["first_version"]["metered_components"]["recipients\u0000"] = in_a_key["first_version"][
        "metered_components"
    ].pop("recipients")

    name = await client.post("/v1/price-lists", json=named)
    key = await client.post("/v1/price-lists", json=in_a_key)
    evaluated = await client.post(
        "/v1/evaluate",
        json={"price": {"model": "flat", "unit_price": "1"}, "quantity": "1", "currency": "\u0000"},
    )

    for response, field in (
        (name, "$.name"),
        (key, "$.first_version.metered_components.recipients\\u0000"),
        (evaluated, "$.currency"),
    ):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == field
        assert "U+0000" in response.json()["errors"][0]["message"]
    assert (await client.get(f"/v1/price-lists/{price_list_id}")).status_code == 404


async def test_u0000_in_the_path_or_query_is_refused(client: httpx.AsyncClient) -> None:
    in_path = await client.get("/v1/price-lists/x%00y")
    in_query = await client.get("/v1/price-lists", params={"after": "a\u0000"})

    assert in_path.status_code == 422
    assert in_query.status_code == 422
    assert in_path.json()["errors"][0]["field"] == "$.path"
    assert in_query.json()["errors"][0]["field"] == "$.query.after"


async def test_a_version_number_beyond_the_column_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/price-lists/any/versions/2147483648")

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "$.path.version"


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_a_time_outside_the_years_1_to_9999_in_utc_is_refused(
    client: httpx.AsyncClient, time: str
) -> None:
    # Valid ISO 8601, but PostgreSQL (and Python) cannot hold it in UTC: it was a 500.
    body = credit_list(new_id("far"), first_from=time)

    created = await client.post("/v1/price-lists", json=body)
    at = await client.get(f"/v1/price-lists/{body['id']}/version-at", params={"at": time})

    assert created.status_code == 422, created.text
    assert created.json()["errors"][0]["field"] == "$.first_version.effective_from"
    assert at.status_code == 422, at.text
