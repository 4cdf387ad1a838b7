"""Price lists in memory: the ``PriceListRepository`` port without a database.

The OpenAPI document computes its example answers with it (the real use cases on the
canonical example lists); a process that must not reach a database can use it too.
"""

from __future__ import annotations

from collections.abc import Collection

from pricing.domain import PriceList, PriceListVersion
from pricing.service_layer.errors import Conflict
from pricing.service_layer.ports import PriceListInfo


class InMemoryPriceLists:
    """:class:`pricing.service_layer.ports.PriceListRepository` on a dict."""

    def __init__(self) -> None:
        self._lists: dict[str, PriceList] = {}

    async def create(self, price_list: PriceList) -> None:
        """Keep a new price list; ``Conflict`` if the id is taken."""
        if price_list.id in self._lists:
            raise Conflict(f"price list {price_list.id!r} exists already")
        self._lists[price_list.id] = price_list

    async def add_version(self, price_list_id: str, version: PriceListVersion) -> None:
        """Append a version; ``Conflict`` if its number is taken."""
        price_list = self._lists[price_list_id]
        if version.version <= len(price_list.versions):
            raise Conflict(f"version {version.version} of price list {price_list_id!r} exists")
        self._lists[price_list_id] = price_list.add_version(version)

    async def find(self, ids: Collection[str]) -> dict[str, PriceListInfo]:
        """Headers and version indexes of these price lists."""
        return {key: PriceListInfo.of(self._lists[key]) for key in ids if key in self._lists}

    async def page(self, after: str | None, limit: int) -> list[PriceListInfo]:
        """Up to ``limit`` price lists ordered by id, after ``after``."""
        ids = sorted(key for key in self._lists if key > (after or ""))[:limit]
        return [PriceListInfo.of(self._lists[key]) for key in ids]

    async def versions(
        self, keys: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], PriceListVersion]:
        """The versions of these keys that exist."""
        found = {}
        for price_list_id, number in keys:
            price_list = self._lists.get(price_list_id)
            if price_list is not None and 1 <= number <= len(price_list.versions):
                found[(price_list_id, number)] = price_list.versions[number - 1]
        return found
