"""Price lists and their immutable versions: create, add a version, read."""

from __future__ import annotations

from typing import Any

from pricing.domain import PriceList, PricingError, price_list_version_to_json
from pricing.service_layer.commands import PriceListCreate, VersionCreate, instant, read
from pricing.service_layer.errors import Conflict, NotFound
from pricing.service_layer.ports import PriceListInfo
from pricing.service_layer.use_cases import UseCases


class PriceListUseCases(UseCases):
    """The use cases that write or read price lists."""

    async def create_price_list(self, body: object) -> dict[str, Any]:
        """``POST /v1/price-lists``: ``{"id", "name", "currency", "first_version": {...}}``.

        The first version may take effect in the past (nothing was priced with the list
        before it existed); it defaults to now.
        """
        request = read(PriceListCreate, body)
        empty = PriceList(request.id, request.name, request.currency)
        try:
            first = request.first_version.to_domain(1, empty.currency, self._clock())
            price_list = empty.add_version(first)
        except PricingError as error:
            raise error.rebased("$.first_version") from None
        await self._repository.create(price_list)
        return PriceListInfo.of(price_list).to_json()

    async def add_version(self, price_list_id: str, body: object) -> dict[str, Any]:
        """``POST /v1/price-lists/{id}/versions``: a new immutable version.

        ``effective_from`` defaults to now and must not be in the past (a version is never
        retroactive). ``version`` may be given for optimistic concurrency: a number that
        exists already is a 409, and so is losing the race to another writer.
        """
        price_list = await self._price_list(price_list_id)
        request = read(VersionCreate, body)
        number = request.version
        if number is not None and number < price_list.next_version:
            raise Conflict(f"version {number} of price list {price_list_id!r} exists already")
        now = self._clock()
        version = request.to_domain(price_list.next_version, price_list.currency, now)
        price_list.add_version(version, now=now)  # validates number, currency and time
        await self._repository.add_version(price_list_id, version)
        return {"price_list_id": price_list_id, **price_list_version_to_json(version)}

    async def price_list(self, price_list_id: str) -> dict[str, Any]:
        """``GET /v1/price-lists/{id}``: the header and the index of versions."""
        return (await self._info(price_list_id, "$.path.price_list_id")).to_json()

    async def price_lists(self, *, after: str | None, limit: int) -> dict[str, Any]:
        """``GET /v1/price-lists``: a page ordered by id; ``next_after`` fetches the next."""
        infos = await self._repository.page(after, limit + 1)  # one more: is there a next?
        page = infos[:limit]
        return {
            "items": [info.to_json() for info in page],
            "next_after": page[-1].id if len(infos) > limit else None,
        }

    async def version(self, price_list_id: str, number: int) -> dict[str, Any]:
        """``GET /v1/price-lists/{id}/versions/{n}``: one version, as it was written."""
        info = await self._info(price_list_id, "$.path.price_list_id")
        if not info.has_version(number):
            raise NotFound(
                "$.path.version", f"price list {price_list_id!r} has no version {number}"
            )
        return await self._version_json(price_list_id, number)

    async def version_at(self, price_list_id: str, at: object) -> dict[str, Any]:
        """``GET /v1/price-lists/{id}/version-at?at=T``: the version in effect at ``T``."""
        when = instant(at, "$.query.at")
        info = await self._info(price_list_id, "$.path.price_list_id")
        return await self._version_json(price_list_id, info.version_at(when, "$.query.at"))

    async def _version_json(self, price_list_id: str, number: int) -> dict[str, Any]:
        version = await self._version(price_list_id, number)
        return {"price_list_id": price_list_id, **price_list_version_to_json(version)}
