"""The event store: one append-only stream per partner account in PostgreSQL."""

import operator
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.adapters.copy_rows import copy_rows
from ledger.adapters.stored_events import chain_link, from_row, jsonb_text, to_row
from ledger.domain import Event
from ledger.service_layer.ports import ConcurrencyConflict, MailingDebitedBefore, StoredEvent

# LATERAL: one index range scan per stream. A plain join on `version > after` lets a generic
# (cached) plan hash-join the whole events table, whose cost then grows with history.
_LOAD = text(
    """
    SELECT e.global_position, s.id, e.originator_version, e.type, e.schema_version,
           e.payload::text, e.metadata::text, e.recorded_at
    FROM unnest(CAST(:ids AS text[]), CAST(:after AS integer[])) AS s(id, after)
    CROSS JOIN LATERAL (
        SELECT global_position, originator_version, type, schema_version, payload, metadata,
               recorded_at
        FROM events
        WHERE originator_id = s.id AND originator_version > s.after
        ORDER BY originator_version
    ) e
    ORDER BY s.id, e.originator_version
    """
)

_LOAD_UNTIL = text(
    """
    SELECT originator_version, type, schema_version, payload::text, recorded_at FROM events
    WHERE originator_id = :id AND originator_version > :after
    ORDER BY originator_version LIMIT :page
    """
)
# Events after a snapshot up to a time are few (about one snapshot interval), so they are read
# in small pages by version until one is later than the time, never to the end of the stream.
_UNTIL_PAGE = 256

# `hash` is the writer's (`chain_hash`); where it is None the row trigger computes it (0010),
# which is why rows go in (originator_id, originator_version) order. COPY: binding thousands of
# rows as arrays of an INSERT costs the writer twice the CPU (asyncpg checks every element).
EVENT_COLUMNS = (
    "originator_id",
    "originator_version",
    "type",
    "schema_version",
    "payload",
    "metadata",
    "hash",
    "recorded_at",  # last: `copy_rows` sends a time the rows share once
)
_VERSION_TAKEN = "events_originator_id_originator_version_key"
_MAILING_TAKEN = "events_mailing_debited"  # one debit per (mailing, partner): migration 0012
_STREAM_POSITION = operator.itemgetter(0, 1)  # a record's (originator_id, originator_version)

# The hash each stream's first event of a batch chains to: one index probe per stream.
_HEADS = text(
    """
    SELECT e.originator_id, e.hash
    FROM unnest(CAST(:ids AS text[]), CAST(:versions AS integer[])) AS h(id, version)
    JOIN events e ON e.originator_id = h.id AND e.originator_version = h.version
    """
)


# One transaction-scoped lock per stream, taken in id order, so two writers that need several
# streams (two consumer batches) cannot wait for each other in a circle.
_WRITER_LOCKS = text(
    """
    SELECT count(pg_advisory_xact_lock(hashtextextended('stream:' || id, 0)))
    FROM (SELECT DISTINCT id FROM unnest(CAST(:ids AS text[])) AS t(id) ORDER BY id) AS streams
    """
)


class _Link(NamedTuple):
    """An event's hash with the texts it covers, which are what the row stores."""

    hash: bytes | None
    payload: str
    metadata: str


class PostgresEventStore:
    """Reads and appends events inside the caller's transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def load_after(self, after_versions: Mapping[str, int]) -> dict[str, list[StoredEvent]]:
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
                    event=from_row(row[3], row[4], orjson.loads(row[5]), row[7]),
                    metadata=orjson.loads(row[6]),
                    recorded_at=row[7],
                    global_position=row[0],
                )
            )
        return streams

    async def load_until(self, partner_id: str, after_version: int, at: datetime) -> list[Event]:
        events: list[Event] = []
        while True:
            rows = (
                await self._connection.execute(
                    _LOAD_UNTIL, {"id": partner_id, "after": after_version, "page": _UNTIL_PAGE}
                )
            ).all()
            for version, type_name, schema_version, payload, recorded_at in rows:
                if recorded_at > at:
                    return events
                events.append(
                    from_row(type_name, schema_version, orjson.loads(payload), recorded_at)
                )
                after_version = version
            if len(rows) < _UNTIL_PAGE:
                return events

    async def wait_for_writers(self, originator_ids: Sequence[str]) -> None:
        """Queue behind every other writer of these streams until this transaction ends.

        Without it, concurrent writers of one partner (API commands, the consumers' batches)
        load the same version and all but one lose the append; they would retry into each
        other, a batch of a thousand mailings losing to every small command meanwhile.
        """
        if originator_ids:
            await self._connection.execute(_WRITER_LOCKS, {"ids": sorted(set(originator_ids))})

    async def append(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        rows = [to_row(e.event, e.recorded_at) for e in events]
        links = await self._chain(events, rows)
        records = []
        for e, (type_name, version, payload), link in zip(events, rows, links, strict=True):
            if link is None:  # the trigger hashes the row; any JSON text of it will do
                link = _Link(
                    None, orjson.dumps(payload).decode(), orjson.dumps(e.metadata).decode()
                )
            records.append(
                (
                    e.originator_id,
                    e.originator_version,
                    type_name,
                    version,
                    link.payload,
                    link.metadata,
                    link.hash,
                    e.recorded_at,
                )
            )
        records.sort(key=_STREAM_POSITION)
        try:
            await copy_rows(self._connection, "events", EVENT_COLUMNS, records)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == _VERSION_TAKEN:
                raise ConcurrencyConflict(str(exc)) from exc
            if exc.constraint_name == _MAILING_TAKEN:
                raise MailingDebitedBefore(str(exc)) from exc
            raise

    async def _chain(
        self, events: Sequence[StoredEvent], rows: Sequence[tuple[str, int, dict[str, Any]]]
    ) -> list[_Link | None]:
        """Each event's hash, chained in the order the rows are inserted, with the payload's and
        metadata's jsonb texts it covers (the row stores those very texts); None from the first
        event of a stream that cannot be hashed here on (the trigger then chains them)."""
        positions = [(e.originator_id, e.originator_version) for e in events]
        order = sorted(range(len(events)), key=positions.__getitem__)
        firsts: dict[str, int] = {}
        for i in order:
            firsts.setdefault(events[i].originator_id, events[i].originator_version)
        wanted = {pid: version - 1 for pid, version in firsts.items() if version > 1}
        heads: dict[str, bytes | None] = {pid: None for pid in firsts}
        if wanted:
            result = await self._connection.execute(
                _HEADS, {"ids": list(wanted), "versions": list(wanted.values())}
            )
            heads.update({row[0]: row[1] for row in result})
        links: list[_Link | None] = [None] * len(events)
        broken: set[str] = {pid for pid in wanted if heads[pid] is None}
        for i in order:
            event = events[i]
            pid = event.originator_id
            if pid in broken:
                continue
            type_name, _, payload = rows[i]
            try:
                payload_text = jsonb_text(payload)
                metadata = event.metadata
                metadata_text = jsonb_text(metadata if type(metadata) is dict else dict(metadata))
            except TypeError:  # no exact rendering (a float): the trigger hashes from here on
                broken.add(pid)
                continue
            link = chain_link(
                heads[pid],
                pid,
                event.originator_version,
                type_name,
                payload_text,
                metadata_text,
                event.recorded_at,
            )
            heads[pid] = link
            links[i] = _Link(link, payload_text, metadata_text)
        return links
