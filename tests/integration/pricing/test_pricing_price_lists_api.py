"""Price lists over HTTP: create, read, list, versions, the version in effect, immutability,
and concurrent writers of the same version."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from pricing.adapters.postgres import PostgresPriceLists
from pricing.adapters.version_cache import VersionCache
from pricing.bootstrap import PricingContainer
from pricing.service_layer import PricingService
from pricing.service_layer.errors import Conflict
from tests.integration.pricing.conftest import new_id


def recipients_version(unit_price: str, effective_from: str | None = None) -> dict[str, Any]:
    version: dict[str, Any] = {
        "metered_components": {
            "recipients": {
                "name": "Recipients",
                "unit": "recipient",
                "price": {"model": "flat", "unit_price": unit_price},
            }
        }
    }
    if effective_from is not None:
        version["effective_from"] = effective_from
    return version


def credit_list(price_list_id: str, first_from: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "id": price_list_id,
        "name": "Credits per recipient",
        "currency": "CREDITS",
        "first_version": recipients_version("1.05", first_from),
    }


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/price-lists", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_price_list_is_created_with_its_first_version_and_read_back(
    client: httpx.AsyncClient,
) -> None:
    price_list_id = new_id("credits")

    response = await client.post("/v1/price-lists", json=credit_list(price_list_id))

    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v1/price-lists/{price_list_id}"
    expected = {
        "id": price_list_id,
        "name": "Credits per recipient",
        "currency": "CREDITS",
        "versions": [{"version": 1, "effective_from": "2025-01-01T00:00:00+00:00"}],
    }
    assert response.json() == expected
    assert (await client.get(f"/v1/price-lists/{price_list_id}")).json() == expected
    version = (await client.get(f"/v1/price-lists/{price_list_id}/versions/1")).json()
    assert version == {
        "price_list_id": price_list_id,
        "version": 1,
        "effective_from": "2025-01-01T00:00:00+00:00",
        "currency": "CREDITS",
        "plan_variants": {},
        "recurring_components": {},
        "metered_components": {
            "recipients": {
                "name": "Recipients",
                "unit": "recipient",
                "price": {"model": "flat", "unit_price": "1.05"},
            }
        },
    }


async def test_a_version_reads_back_in_the_order_it_was_written(
    client: httpx.AsyncClient,
) -> None:
    # jsonb would sort these keys by length; the quote's lines follow this order.
    price_list_id = new_id("order")
    components = {
        name: {"name": name, "price": {"model": "free"}}
        for name in ("zeta_long_name", "alpha", "mid", "b")
    }
    await create(
        client,
        {
            "id": price_list_id,
            "name": "Order",
            "currency": "EUR",
            "first_version": {"metered_components": components},
        },
    )

    version = (await client.get(f"/v1/price-lists/{price_list_id}/versions/1")).json()

    assert list(version["metered_components"]) == ["zeta_long_name", "alpha", "mid", "b"]


async def test_unknown_price_lists_and_versions_are_404_problems(
    client: httpx.AsyncClient,
) -> None:
    price_list_id = new_id("known")
    await create(client, credit_list(price_list_id))

    unknown = await client.get("/v1/price-lists/no-such-list")
    no_version = await client.get(f"/v1/price-lists/{price_list_id}/versions/2")

    assert unknown.status_code == 404
    assert unknown.json()["errors"] == [
        {"field": "$.path.price_list_id", "message": "no price list 'no-such-list'"}
    ]
    assert no_version.status_code == 404
    assert no_version.json()["errors"][0]["field"] == "$.path.version"


async def test_a_new_version_takes_effect_at_its_effective_from(
    client: httpx.AsyncClient,
) -> None:
    price_list_id = new_id("versions")
    await create(client, credit_list(price_list_id))

    response = await client.post(
        f"/v1/price-lists/{price_list_id}/versions",
        json=recipients_version("1.00", "2031-01-01T01:00:00+01:00"),
    )

    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v1/price-lists/{price_list_id}/versions/2"
    assert response.json()["version"] == 2

    async def version_at(at: str) -> httpx.Response:
        return await client.get(f"/v1/price-lists/{price_list_id}/version-at", params={"at": at})

    before_first = await version_at("2024-12-31T23:59:59Z")
    assert before_first.status_code == 404
    assert before_first.json()["errors"][0]["field"] == "$.query.at"
    assert (await version_at("2025-01-01T00:00:00Z")).json()["version"] == 1
    assert (await version_at("2030-12-31T23:59:59.999999Z")).json()["version"] == 1
    assert (await version_at("2031-01-01T00:00:00Z")).json()["version"] == 2
    on_switch = await version_at("2031-01-01T00:00:00Z")
    assert on_switch.json()["metered_components"]["recipients"]["price"]["unit_price"] == "1.00"
    no_offset = await version_at("2031-01-01T00:00:00")
    assert (no_offset.status_code, no_offset.json()["errors"][0]["field"]) == (422, "$.query.at")
    index = (await client.get(f"/v1/price-lists/{price_list_id}")).json()["versions"]
    assert [v["version"] for v in index] == [1, 2]


async def test_a_version_without_effective_from_takes_effect_now(
    client: httpx.AsyncClient,
) -> None:
    price_list_id = new_id("now")
    await create(client, credit_list(price_list_id))
    before = datetime.now(UTC)

    response = await client.post(
        f"/v1/price-lists/{price_list_id}/versions", json=recipients_version("1.10")
    )

    assert response.status_code == 201, response.text
    effective_from = datetime.fromisoformat(response.json()["effective_from"])
    assert before <= effective_from <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (recipients_version("1.00", "2020-01-01T00:00:00Z"), "$.effective_from"),
        (recipients_version("1.00", "2031-01-01T00:00:00"), "$.effective_from"),
        ({**recipients_version("1.00", "2031-01-01T00:00:00Z"), "version": 7}, "$.version"),
        ({**recipients_version("1.00", "2031-01-01T00:00:00Z"), "currency": "EUR"}, "$.currency"),
        ({**recipients_version("1.00", "2031-01-01T00:00:00Z"), "notes": "x"}, "$.notes"),
        (
            {
                "effective_from": "2031-01-01T00:00:00Z",
                "metered_components": {
                    "recipients": {
                        "name": "Recipients",
                        "price": {
                            "model": "graduated",
                            "tiers": [
                                {"up_to": "100", "unit_price": "1"},
                                {"up_to": "50", "unit_price": "1"},
                                {"up_to": None, "unit_price": "1"},
                            ],
                        },
                    }
                },
            },
            "$.metered_components.recipients.price.tiers[1].up_to",
        ),
        (
            {
                "effective_from": "2031-01-01T00:00:00Z",
                "plan_variants": {
                    "basic": {
                        "recurring_fee": "10",
                        "fee_period": "P1Y",
                        "billing_period": "P1M",
                    }
                },
            },
            "$.plan_variants.basic.billing_period",
        ),
        ("not an object", "$"),
    ],
    ids=[
        "in-the-past",
        "no-offset",
        "wrong-number",
        "other-currency",
        "unknown-field",
        "bad-tier",
        "fee-divided",
        "not-an-object",
    ],
)
async def test_an_invalid_version_is_refused_at_its_path(
    client: httpx.AsyncClient, body: Any, field: str
) -> None:
    price_list_id = new_id("invalid")
    await create(client, credit_list(price_list_id))

    response = await client.post(f"/v1/price-lists/{price_list_id}/versions", json=body)

    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "has space"}, "$.id"),
        ({"currency": "eur"}, "$.currency"),
        ({"name": ""}, "$.name"),
        ({"first_version": None}, "$.first_version"),
        (
            {"first_version": {**recipients_version("-1.05"), "version": 1}},
            "$.first_version.metered_components.recipients.price.unit_price",
        ),
        ({"first_version": {"version": 2}}, "$.first_version.version"),
        ({"first_version": {"currency": "EUR"}}, "$.first_version.currency"),
    ],
)
async def test_an_invalid_price_list_is_refused_at_its_path(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {**credit_list(new_id("bad")), **change}

    response = await client.post("/v1/price-lists", json=body)

    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_a_taken_id_is_a_conflict(client: httpx.AsyncClient) -> None:
    price_list_id = new_id("taken")
    await create(client, credit_list(price_list_id))

    again = await client.post("/v1/price-lists", json=credit_list(price_list_id))

    assert again.status_code == 409
    assert again.json()["detail"] == f"price list {price_list_id!r} exists already"


async def test_price_lists_are_listed_in_pages_by_id(client: httpx.AsyncClient) -> None:
    prefix = new_id("page")
    for suffix in ("a", "b", "c"):
        await create(client, {**credit_list(f"{prefix}-{suffix}")})

    first = (await client.get("/v1/price-lists", params={"after": prefix, "limit": 2})).json()
    rest = (
        await client.get("/v1/price-lists", params={"after": first["next_after"], "limit": 2})
    ).json()

    assert [item["id"] for item in first["items"]] == [f"{prefix}-a", f"{prefix}-b"]
    assert first["next_after"] == f"{prefix}-b"
    assert rest["items"][0]["id"] == f"{prefix}-c"
    assert rest["items"][0]["versions"] == [
        {"version": 1, "effective_from": "2025-01-01T00:00:00+00:00"}
    ]
    too_many = await client.get("/v1/price-lists", params={"limit": 501})
    assert too_many.status_code == 422


async def test_versions_cannot_be_changed_or_deleted_in_the_database(
    client: httpx.AsyncClient, pricing_database_url: str
) -> None:
    price_list_id = new_id("immutable")
    await create(client, credit_list(price_list_id))
    connection = await asyncpg.connect(pricing_database_url.replace("+asyncpg", ""))
    try:
        with pytest.raises(asyncpg.RaiseError, match="immutable"):
            await connection.execute(
                "UPDATE price_list_versions SET definition = '{}' WHERE price_list_id = $1",
                price_list_id,
            )
        with pytest.raises(asyncpg.RaiseError, match="immutable"):
            await connection.execute(
                "DELETE FROM price_list_versions WHERE price_list_id = $1", price_list_id
            )
    finally:
        await connection.close()
    version = (await client.get(f"/v1/price-lists/{price_list_id}/versions/1")).json()
    assert version["metered_components"]["recipients"]["price"]["unit_price"] == "1.05"


async def test_of_two_concurrent_writers_of_the_same_version_one_wins_the_other_gets_409(
    client: httpx.AsyncClient,
) -> None:
    price_list_id = new_id("race")
    await create(client, credit_list(price_list_id))
    body = {**recipients_version("1.00", "2031-01-01T00:00:00Z"), "version": 2}

    responses = await asyncio.gather(
        client.post(f"/v1/price-lists/{price_list_id}/versions", json=body),
        client.post(f"/v1/price-lists/{price_list_id}/versions", json=body),
    )

    assert sorted(r.status_code for r in responses) == [201, 409]
    index = (await client.get(f"/v1/price-lists/{price_list_id}")).json()["versions"]
    assert [v["version"] for v in index] == [1, 2]


class ReadsThenSignals(PostgresPriceLists):
    """A repository that tells when it has read the price list (before it writes)."""

    def __init__(self, session: AsyncSession, has_read: asyncio.Event) -> None:
        super().__init__(session)
        self._has_read = has_read

    async def find(self, ids: Any) -> Any:
        found = await super().find(ids)
        self._has_read.set()
        return found


async def test_a_writer_that_read_before_another_committed_loses_on_the_primary_key(
    client: httpx.AsyncClient, pricing_app: FastAPI
) -> None:
    # Both writers read "one version", so both want to write version 2 without naming it:
    # only the primary key can stop the second one.
    container: PricingContainer = pricing_app.state.container
    price_list_id = new_id("pk-race")
    await create(client, credit_list(price_list_id))
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    second_has_read = asyncio.Event()
    first_has_written = asyncio.Event()

    async def first() -> dict[str, Any]:
        async with container.sessionmaker() as session, session.begin():
            written = await container.service(session).add_version(
                price_list_id, recipients_version("1.00", later)
            )
            first_has_written.set()
            await second_has_read.wait()  # commit only after the other one has read
            return written

    async def second() -> dict[str, Any]:
        # Read only once the first has written (not yet committed): the order is then fixed.
        await first_has_written.wait()
        async with container.sessionmaker() as session, session.begin():
            service = PricingService(ReadsThenSignals(session, second_has_read), VersionCache())
            return await service.add_version(price_list_id, recipients_version("2.00", later))

    results = await asyncio.gather(first(), second(), return_exceptions=True)

    assert results[0]["version"] == 2  # type: ignore[index]
    assert isinstance(results[1], Conflict)
    version = (await client.get(f"/v1/price-lists/{price_list_id}/versions/2")).json()
    assert version["metered_components"]["recipients"]["price"]["unit_price"] == "1.00"
