"""A partner's event history, page by page: `GET /partners/{id}/events`.

Reads the event store by its (stream, version) key: a page costs the same however long the
stream is. Each event is shown in today's shape, whatever version it was stored in."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ledger.adapters.stored_events import event_to_dict, from_row
from ledger.adapters.views.reads import ReadPool


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    version: int
    global_position: int
    type: str
    recorded_at: datetime
    payload: dict[str, Any]
    metadata: dict[str, Any]


_EXISTS = "SELECT 1 FROM partner_balances WHERE partner_id = $1"
_PAGE = (
    "SELECT originator_version, global_position, type, recorded_at, payload, metadata,"
    " schema_version"
    " FROM events WHERE originator_id = $1 AND originator_version > $2"
    " ORDER BY originator_version LIMIT $3"
)


async def history_page(
    reads: ReadPool, partner_id: str, after: int, limit: int
) -> list[HistoryEntry] | None:
    """Up to ``limit`` events after version ``after``; None when the partner is unknown."""
    if await reads.fetchrow(_EXISTS, partner_id) is None:
        return None
    rows = await reads.fetch(_PAGE, partner_id, after, limit)
    return [
        HistoryEntry(
            version=row[0],
            global_position=row[1],
            type=row[2],
            recorded_at=row[3],
            payload=event_to_dict(from_row(row[2], row[6], orjson.loads(row[4]), row[3]))[1],
            metadata=orjson.loads(row[5]),
        )
        for row in rows
    ]
