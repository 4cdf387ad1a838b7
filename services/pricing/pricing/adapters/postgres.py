"""Price lists in PostgreSQL (SQLAlchemy 2 async over asyncpg), one session per request.

A version's definition is stored as the canonical JSON the domain writes
(``price_list_version_to_json``) in a ``json`` column, so it reads back exactly as written;
``(price_list_id, version)`` is the primary key, so two writers of the same version number
cannot both win, and a trigger refuses any UPDATE or DELETE of a version.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from decimal import Decimal
from typing import NoReturn

import orjson
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Integer, Text

from pricing.domain import PriceList, PriceListVersion, parse_price_list_version
from pricing.domain import price_list_version_to_json as version_to_json
from pricing.service_layer.errors import Conflict
from pricing.service_layer.ports import PriceListInfo, VersionRef

_UNIQUE_VIOLATION = "23505"

_INSERT_LIST = text("INSERT INTO price_lists (id, name, currency) VALUES (:id, :name, :currency)")
# The definition is bound as text and cast, so the driver's json codec never re-encodes it.
_INSERT_VERSION = text(
    "INSERT INTO price_list_versions (price_list_id, version, effective_from, definition)"
    " VALUES (:price_list_id, :version, :effective_from, CAST(CAST(:definition AS text) AS json))"
)
_FIND = text(
    """
    SELECT l.id, l.name, l.currency, v.version, v.effective_from
    FROM price_lists l LEFT JOIN price_list_versions v ON v.price_list_id = l.id
    WHERE l.id = ANY(:ids)
    ORDER BY l.id, v.version
    """
).bindparams(bindparam("ids", type_=ARRAY(Text)))
_PAGE = text("SELECT id FROM price_lists WHERE id > CAST(:after AS text) ORDER BY id LIMIT :limit")
_VERSIONS = text(
    """
    SELECT v.price_list_id, v.version, v.definition::text
    FROM price_list_versions v
    JOIN unnest(:ids, :numbers) AS wanted (price_list_id, version)
      ON (v.price_list_id, v.version) = (wanted.price_list_id, wanted.version)
    """
).bindparams(bindparam("ids", type_=ARRAY(Text)), bindparam("numbers", type_=ARRAY(Integer)))


class PostgresPriceLists:
    """:class:`pricing.service_layer.ports.PriceListRepository` on a request's ``AsyncSession``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(self, price_list: PriceList) -> None:
        """Insert the header and its versions; ``Conflict`` if the id is taken."""
        try:
            await self._session.execute(
                _INSERT_LIST,
                {"id": price_list.id, "name": price_list.name, "currency": price_list.currency},
            )
        except IntegrityError as error:
            _raise_conflict(error, f"price list {price_list.id!r} exists already")
        for version in price_list.versions:
            await self.add_version(price_list.id, version)

    async def add_version(self, price_list_id: str, version: PriceListVersion) -> None:
        """Insert a version; ``Conflict`` if its number is taken (a concurrent writer won)."""
        try:
            await self._session.execute(
                _INSERT_VERSION,
                {
                    "price_list_id": price_list_id,
                    "version": version.version,
                    "effective_from": version.effective_from,
                    "definition": orjson.dumps(version_to_json(version)).decode(),
                },
            )
        except IntegrityError as error:
            _raise_conflict(
                error, f"version {version.version} of price list {price_list_id!r} exists already"
            )

    async def find(self, ids: Collection[str]) -> dict[str, PriceListInfo]:
        """Headers and version indexes of these price lists, in one query."""
        if not ids:
            return {}
        rows = (await self._session.execute(_FIND, {"ids": list(ids)})).all()
        headers: dict[str, tuple[str, str]] = {}
        refs: dict[str, list[VersionRef]] = {}
        for price_list_id, name, currency, number, effective_from in rows:
            if price_list_id not in headers:
                headers[price_list_id] = (name, currency)
                refs[price_list_id] = []
            if number is not None:
                refs[price_list_id].append(VersionRef(number, effective_from))
        return {
            key: PriceListInfo(key, name, currency, tuple(refs[key]))
            for key, (name, currency) in headers.items()
        }

    async def page(self, after: str | None, limit: int) -> list[PriceListInfo]:
        """Up to ``limit`` price lists ordered by id, after id ``after`` (keyset paging)."""
        result = await self._session.execute(_PAGE, {"after": after or "", "limit": limit})
        ids = list(result.scalars())
        infos = await self.find(ids)
        return [infos[key] for key in ids]

    async def versions(
        self, keys: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], PriceListVersion]:
        """The stored definitions of these versions, parsed by the domain."""
        if not keys:
            return {}
        wanted = list(keys)
        rows = await self._session.execute(
            _VERSIONS,
            {"ids": [key[0] for key in wanted], "numbers": [key[1] for key in wanted]},
        )
        return {
            (price_list_id, number): parse_price_list_version(
                json.loads(definition, parse_float=Decimal)
            )
            for price_list_id, number, definition in rows
        }


def _raise_conflict(error: IntegrityError, message: str) -> NoReturn:
    if getattr(error.orig, "sqlstate", None) == _UNIQUE_VIOLATION:
        raise Conflict(message) from None
    raise error
