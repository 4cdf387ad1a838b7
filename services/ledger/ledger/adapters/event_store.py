"""The event store: one append-only stream per partner account in PostgreSQL."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A domain event as the store keeps it: position in its stream plus metadata."""

    originator_id: str
    originator_version: int
    type: str
    payload: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    global_position: int | None = None
    recorded_at: datetime | None = None


class ConcurrencyConflict(Exception):
    """Another writer appended to one of the streams first; reload and decide again."""


_LOAD = text(
    """
    SELECT e.global_position, e.originator_id, e.originator_version, e.type, e.payload::text,
           e.metadata::text, e.recorded_at
    FROM events e
    JOIN unnest(CAST(:ids AS text[]), CAST(:after AS integer[])) AS s(id, after)
      ON e.originator_id = s.id AND e.originator_version > s.after
    ORDER BY e.originator_id, e.originator_version
    """
)

_APPEND = text(
    """
    INSERT INTO events (originator_id, originator_version, type, payload, metadata, recorded_at)
    SELECT id, version, type, payload::jsonb, metadata::jsonb, COALESCE(at, clock_timestamp())
    FROM unnest(CAST(:ids AS text[]), CAST(:versions AS integer[]), CAST(:types AS text[]),
                CAST(:payloads AS text[]), CAST(:metadata AS text[]),
                CAST(:times AS timestamptz[]))
         AS t(id, version, type, payload, metadata, at)
    ORDER BY id, version
    """
)


_WRITER_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('stream:' || :id, 0))")


class EventStore:
    """Reads and appends events inside the caller's transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def load_after(self, after_versions: Mapping[str, int]) -> dict[str, list[StoredEvent]]:
        """Each stream's events with a version above the one given (0 for the whole stream)."""
        streams: dict[str, list[StoredEvent]] = {partner: [] for partner in after_versions}
        if not after_versions:
            return streams
        result = await self._connection.execute(
            _LOAD, {"ids": list(after_versions), "after": list(after_versions.values())}
        )
        for row in result:
            streams[row[1]].append(
                StoredEvent(
                    originator_id=row[1],
                    originator_version=row[2],
                    type=row[3],
                    payload=orjson.loads(row[4]),
                    metadata=orjson.loads(row[5]),
                    global_position=row[0],
                    recorded_at=row[6],
                )
            )
        return streams

    async def wait_for_writers(self, originator_id: str) -> None:
        """Queue behind the other API commands on this stream until this transaction ends.

        Without it, many concurrent commands on one partner load the same version and all but
        one lose the append; they would retry into each other until some gave up.
        """
        await self._connection.execute(_WRITER_LOCK, {"id": originator_id})

    async def load(self, originator_id: str) -> list[StoredEvent]:
        """One whole stream."""
        return (await self.load_after({originator_id: 0}))[originator_id]

    async def append(self, events: Sequence[StoredEvent]) -> None:
        """Append new events; `ConcurrencyConflict` when a version is taken already."""
        if not events:
            return
        try:
            await self._connection.execute(
                _APPEND,
                {
                    "ids": [e.originator_id for e in events],
                    "versions": [e.originator_version for e in events],
                    "types": [e.type for e in events],
                    "payloads": [orjson.dumps(e.payload).decode() for e in events],
                    "metadata": [orjson.dumps(e.metadata).decode() for e in events],
                    "times": [e.recorded_at for e in events],
                },
            )
        except IntegrityError as exc:
            if "events_originator_id_originator_version_key" in str(exc.orig):
                raise ConcurrencyConflict(str(exc.orig)) from exc
            raise


def streams_touched(events: Iterable[StoredEvent]) -> set[str]:
    return {e.originator_id for e in events}
