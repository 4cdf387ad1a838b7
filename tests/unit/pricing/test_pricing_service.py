"""The service layer on an in-memory repository: what it asks storage for, and when."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from pricing.adapters.version_cache import VersionCache
from pricing.domain import InvalidDefinition, PriceList, PriceListVersion
from pricing.service_layer import PricingService
from pricing.service_layer.errors import Conflict
from pricing.service_layer.evaluation import evaluate
from pricing.service_layer.ports import PriceListInfo, VersionRef

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class InMemoryPriceLists:
    """A :class:`pricing.service_layer.ports.PriceListRepository` that counts what it is asked."""

    def __init__(self) -> None:
        self.lists: dict[str, PriceList] = {}
        self.finds: list[set[str]] = []
        self.loads: list[set[tuple[str, int]]] = []

    async def create(self, price_list: PriceList) -> None:
        if price_list.id in self.lists:
            raise Conflict(f"price list {price_list.id!r} exists already")
        self.lists[price_list.id] = price_list

    async def add_version(self, price_list_id: str, version: PriceListVersion) -> None:
        price_list = self.lists[price_list_id]
        if version.version <= len(price_list.versions):
            raise Conflict("taken")
        self.lists[price_list_id] = price_list.add_version(version)

    async def find(self, ids: Collection[str]) -> dict[str, PriceListInfo]:
        self.finds.append(set(ids))
        return {
            key: PriceListInfo(
                key,
                self.lists[key].name,
                self.lists[key].currency,
                tuple(VersionRef(v.version, v.effective_from) for v in self.lists[key].versions),
            )
            for key in ids
            if key in self.lists
        }

    async def page(self, after: str | None, limit: int) -> list[PriceListInfo]:
        ids = sorted(key for key in self.lists if key > (after or ""))[:limit]
        infos = await self.find(ids)
        return [infos[key] for key in ids]

    async def versions(
        self, keys: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], PriceListVersion]:
        self.loads.append(set(keys))
        return {
            (key, number): self.lists[key].versions[number - 1]
            for key, number in keys
            if key in self.lists and number <= len(self.lists[key].versions)
        }


def credits_list(price_list_id: str) -> dict[str, Any]:
    return {
        "id": price_list_id,
        "name": "Credits",
        "currency": "CREDITS",
        "first_version": {
            "effective_from": "2025-01-01T00:00:00Z",
            "metered_components": {
                "recipients": {"name": "R", "price": {"model": "flat", "unit_price": "1.05"}}
            },
        },
    }


def item(price_list_id: str, quantity: str = "100", at: str = "2026-06-01T00:00:00Z") -> Any:
    return {
        "price_list_id": price_list_id,
        "component": "recipients",
        "quantity": quantity,
        "at": at,
    }


@pytest.fixture
async def setup() -> tuple[PricingService, InMemoryPriceLists]:
    repository = InMemoryPriceLists()
    service = PricingService(repository, VersionCache(), clock=lambda: NOW)
    for price_list_id in ("a", "b"):
        await service.create_price_list(credits_list(price_list_id))
    repository.finds.clear()
    return service, repository


async def test_a_batch_asks_for_the_version_indexes_once_and_loads_each_version_once(
    setup: tuple[PricingService, InMemoryPriceLists],
) -> None:
    service, repository = setup

    first = await service.quote_batch({"items": [item("a"), item("b"), item("a"), item("c")]})
    second = await service.quote_batch({"items": [item("a", "7"), item("b", "8")]})

    assert repository.finds == [{"a", "b", "c"}, {"a", "b"}]
    assert repository.loads == [{("a", 1), ("b", 1)}]  # the second batch hit the cache
    assert [i.get("amount") for i in first["items"]] == ["105", "105", "105", None]
    assert first["items"][3]["error"] == {
        "status": 404,
        "detail": "no price list 'c'",
        "field": "$.items[3].price_list_id",
    }
    assert [i["amount"] for i in second["items"]] == ["7", "8"]  # 7.35 and 8.40


async def test_a_batch_sees_a_version_added_after_the_previous_batch(
    setup: tuple[PricingService, InMemoryPriceLists],
) -> None:
    service, _ = setup
    before = await service.quote_batch({"items": [item("a")]})

    await service.add_version(
        "a",
        {
            "effective_from": "2026-03-01T00:00:00Z",
            "metered_components": {
                "recipients": {"name": "R", "price": {"model": "flat", "unit_price": "2"}}
            },
        },
    )
    after = await service.quote_batch({"items": [item("a")]})

    assert (before["items"][0]["price_list_version"], before["items"][0]["amount"]) == (1, "105")
    assert (after["items"][0]["price_list_version"], after["items"][0]["amount"]) == (2, "200")


async def test_an_empty_batch_asks_storage_nothing(
    setup: tuple[PricingService, InMemoryPriceLists],
) -> None:
    service, repository = setup

    assert await service.quote_batch({"items": []}) == {"items": []}
    assert repository.loads == [] and repository.finds == [set()]


async def test_a_version_number_that_exists_is_a_conflict_before_any_write(
    setup: tuple[PricingService, InMemoryPriceLists],
) -> None:
    service, _ = setup

    with pytest.raises(Conflict, match="version 1 of price list 'a' exists already"):
        await service.add_version("a", {"version": 1, "effective_from": "2027-01-01T00:00:00Z"})


async def test_the_version_cache_keeps_at_most_its_size() -> None:
    repository = InMemoryPriceLists()
    service = PricingService(repository, VersionCache(max_entries=1), clock=lambda: NOW)
    for price_list_id in ("a", "b"):
        await service.create_price_list(credits_list(price_list_id))

    for price_list_id in ("a", "b", "a"):
        await service.quote_batch({"items": [item(price_list_id)]})

    assert repository.loads == [{("a", 1)}, {("b", 1)}, {("a", 1)}]


def test_evaluate_remembers_models_but_never_mixes_up_different_ones() -> None:
    def flat(unit_price: object) -> dict[str, Any]:
        return evaluate(
            {
                "price": {"model": "flat", "unit_price": unit_price},
                "quantity": "3",
                "currency": "EUR",
            }
        )

    # "0.10" and "0.1" are equal numbers but print differently; a JSON number 0.1 reads as "0.1".
    results = [flat("0.10"), flat("0.1"), flat(Decimal("0.1")), flat("0.10"), flat("0.2")]

    assert [r["exact_amount"] for r in results] == ["0.30", "0.3", "0.3", "0.30", "0.6"]
    with pytest.raises(InvalidDefinition):
        flat("-0.1")
    with pytest.raises(InvalidDefinition):  # a refused model is not remembered either
        flat("-0.1")
