"""What the pricing use cases need from outside: storage of price lists and a cache of
parsed versions, and the plain dataclasses that cross those ports."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pricing.domain import PriceList, PriceListVersion, VersionNotFound


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A version's number and the time it takes effect (no definition)."""

    version: int
    effective_from: datetime


@dataclass(frozen=True, slots=True)
class PriceListInfo:
    """A price list's header and the index of its versions, ordered by number."""

    id: str
    name: str
    currency: str
    versions: tuple[VersionRef, ...]
    _starts: tuple[datetime, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(ref.effective_from for ref in self.versions))

    @classmethod
    def of(cls, price_list: PriceList) -> PriceListInfo:
        """The header and version index of a whole price list."""
        refs = tuple(VersionRef(v.version, v.effective_from) for v in price_list.versions)
        return cls(price_list.id, price_list.name, price_list.currency, refs)

    def version_at(self, at: datetime, path: str) -> int:
        """Number of the version in effect at ``at``; ``VersionNotFound(path)`` if none is."""
        # Numbers and effective_from grow together (PriceList.add_version), so bisect works.
        index = bisect_right(self._starts, at)
        if index == 0:
            raise VersionNotFound(
                path, f"no version of price list {self.id!r} is in effect at {at.isoformat()}"
            )
        return self.versions[index - 1].version

    def has_version(self, number: int) -> bool:
        """Whether version ``number`` exists."""
        return 1 <= number <= len(self.versions)

    def to_json(self) -> dict[str, Any]:
        """JSON of the header with its version index."""
        return {
            "id": self.id,
            "name": self.name,
            "currency": self.currency,
            "versions": [
                {"version": ref.version, "effective_from": ref.effective_from.isoformat()}
                for ref in self.versions
            ],
        }


class PriceListRepository(Protocol):
    """Storage of price lists (``pricing.adapters.postgres`` in production)."""

    async def create(self, price_list: PriceList) -> None:
        """Store a new price list with its versions; ``Conflict`` if the id exists."""

    async def add_version(self, price_list_id: str, version: PriceListVersion) -> None:
        """Store a new version; ``Conflict`` if its number exists already."""

    async def find(self, ids: Collection[str]) -> dict[str, PriceListInfo]:
        """Headers and version indexes of the price lists with these ids (one query)."""

    async def page(self, after: str | None, limit: int) -> list[PriceListInfo]:
        """Up to ``limit`` price lists ordered by id, starting after id ``after``."""

    async def versions(
        self, keys: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], PriceListVersion]:
        """The definitions of these ``(price list id, version)`` pairs that exist."""


class VersionDefinitions(Protocol):
    """Parsed version definitions shared by all requests (``adapters.version_cache``).

    Versions are immutable, so an entry can never be stale; only which version is in effect
    at a time must come from storage every time.
    """

    async def get(
        self, repository: PriceListRepository, keys: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], PriceListVersion]:
        """The versions of ``keys`` that exist, read from ``repository`` only when missing."""
