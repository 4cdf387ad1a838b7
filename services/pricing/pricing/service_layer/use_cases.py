"""What every use case on stored price lists shares: the repository of one request's
session, the process's version definitions and the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pricing.domain import PriceList, PriceListVersion
from pricing.service_layer.errors import NotFound
from pricing.service_layer.ports import PriceListInfo, PriceListRepository, VersionDefinitions


def utc_now() -> datetime:
    """The service's clock (tests pass their own)."""
    return datetime.now(UTC)


class UseCases:
    """Base of the use-case groups; one instance per request (its repository's session)."""

    def __init__(
        self,
        repository: PriceListRepository,
        cache: VersionDefinitions,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._repository = repository
        self._cache = cache
        self._clock = clock

    async def _info(self, price_list_id: str, path: str) -> PriceListInfo:
        info = (await self._repository.find([price_list_id])).get(price_list_id)
        if info is None:
            raise NotFound(path, f"no price list {price_list_id!r}")
        return info

    async def _version(self, price_list_id: str, number: int) -> PriceListVersion:
        key = (price_list_id, number)
        return (await self._cache.get(self._repository, [key]))[key]

    async def _price_list(self, price_list_id: str) -> PriceList:
        info = await self._info(price_list_id, "$.path.price_list_id")
        keys = [(price_list_id, ref.version) for ref in info.versions]
        versions = await self._cache.get(self._repository, keys)
        return PriceList(info.id, info.name, info.currency, tuple(versions[key] for key in keys))
