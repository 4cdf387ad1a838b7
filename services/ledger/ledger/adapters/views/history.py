"""A partner's event history, page by page: `GET /partners/{id}/events`.

Reads the event store by its (stream, version) key: a page costs the same however long the
stream is."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    version: int
    global_position: int
    type: str
    recorded_at: datetime
    payload: dict[str, Any]
    metadata: dict[str, Any]


_EXISTS = text("SELECT 1 FROM partner_balances WHERE partner_id = :p")
_PAGE = text(
    "SELECT originator_version, global_position, type, recorded_at, payload, metadata"
    " FROM events WHERE originator_id = :p AND originator_version > :after"
    " ORDER BY originator_version LIMIT :limit"
)


async def history_page(
    engine: AsyncEngine, partner_id: str, after: int, limit: int
) -> list[HistoryEntry] | None:
    """Up to ``limit`` events after version ``after``; None when the partner is unknown."""
    async with engine.connect() as connection:
        if (await connection.execute(_EXISTS, {"p": partner_id})).first() is None:
            return None
        rows = await connection.execute(_PAGE, {"p": partner_id, "after": after, "limit": limit})
        return [HistoryEntry(*row) for row in rows]
