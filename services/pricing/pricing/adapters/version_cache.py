"""Parsed version definitions kept in process (the ``VersionDefinitions`` port)."""

from __future__ import annotations

from collections.abc import Collection

from pricing.domain import PriceListVersion
from pricing.service_layer.ports import PriceListRepository


class VersionCache:
    """Parsed version definitions by ``(price list id, version)``, shared by all requests.

    A version never changes once written, so an entry can never be stale; the cache only
    saves reading and parsing JSON. Bounded: beyond ``max_entries`` the oldest entries go.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[tuple[str, int], PriceListVersion] = {}
        self._max_entries = max_entries

    async def get(
        self, repository: PriceListRepository, keys: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], PriceListVersion]:
        """The versions of ``keys`` that exist, read from the repository only when missing."""
        entries = self._entries
        found: dict[tuple[str, int], PriceListVersion] = {}
        missing = []
        for key in keys:
            version = entries.get(key)
            if version is None:
                missing.append(key)
            else:
                found[key] = version
        if missing:
            loaded = await repository.versions(missing)
            for key, version in loaded.items():
                if len(entries) >= self._max_entries:
                    del entries[next(iter(entries))]
                entries[key] = version
            found.update(loaded)
        return found
