"""Rebuild the projections and snapshots from the events alone, and compare with the live ones.

A replay writes into a fresh schema with the same tables (the projections use unqualified
table names, so `search_path` decides where they land); `migrate` rebuilds in place when it
finds events but no read models (a database written before migration 0003). Either way it
reads events and writes projections and snapshots only: no outbox rows, so a rebuild
publishes nothing and charges nothing.

Speed: the events are read in keyset pages of a few thousand rows (the next page is fetched
while the current one is folded), and each page's read models are written with one
multi-row statement per table, whatever the number of streams in it.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.adapters.projections import PostgresProjections
from ledger.adapters.snapshots import STATE_SCHEMA_VERSION, PostgresSnapshots
from ledger.adapters.stored_events import from_row
from ledger.adapters.unit_of_work import DEFAULT_SNAPSHOT_INTERVAL
from ledger.domain import Event, PartnerAccount, apply
from ledger.service_layer.ports import AccountChange, Snapshot
from shared.database import driver_connection

# What identifies a row of each read model, for the comparison.
_KEYS = {
    "partner_balances": "partner_id",
    "partners": "partner_id",
    "customers": "partner_id, customer_id",
    "reservations": "partner_id, reservation_id",
    "purchases": "partner_id, purchase_id",
    "charges": "partner_id, charge_id",
    "customer_usage_daily": "partner_id, customer_id, day",
    "customer_contracts": "partner_id, customer_id, starts_on",
    "statements": "partner_id, customer_id, period_start",
    "customer_budgets": "partner_id, customer_id",
}
PROJECTION_TABLES = tuple(_KEYS)
REBUILT_TABLES = (*PROJECTION_TABLES, "snapshots")
PAGE_SIZE = 5000

Progress = Callable[[int], None]
"""Called with the number of events just processed."""


@dataclass(frozen=True, slots=True)
class Drift:
    table: str
    key: str
    live: str | None
    rebuilt: str | None


async def count_events(engine: AsyncEngine) -> int:
    """The total for a progress bar (exact: a count is seconds even for tens of millions)."""
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM events"))).scalar_one())


async def _schema_version_column(connection: AsyncConnection) -> str:
    """The events' `schema_version` column where it exists (migration 0004), else 1: rows
    written before it are all version 1."""
    found = await connection.execute(
        text(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = 'events' AND column_name = 'schema_version'"
        )
    )
    return "schema_version" if found.first() else "1"


@asynccontextmanager
async def _reader(
    engine: AsyncEngine, snapshot: str | None = None
) -> AsyncIterator[AsyncConnection]:
    """One consistent view of the events across every page (and, given the id of a snapshot
    another transaction exported, the very view of that transaction)."""
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="REPEATABLE READ")
        # The first statement opens the transaction: the pages read through the driver's
        # connection later run inside it.
        if snapshot is not None:
            await connection.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
        else:
            await connection.execute(text("SELECT 1"))
        yield connection


async def _pages(reader: AsyncConnection, page_size: int) -> AsyncIterator[Sequence[Any]]:
    """Every event in (originator_id, originator_version) order, a page at a time; the next
    page is read while the caller works on this one."""
    page = (
        f"SELECT originator_id, originator_version, type, {await _schema_version_column(reader)},"
        " payload::text, recorded_at FROM events"
        " WHERE (originator_id, originator_version) > ($1, $2)"
        " ORDER BY originator_id, originator_version LIMIT $3"
    )
    # The driver's own connection: SQLAlchemy's row objects cost more than the fold here.
    raw = await driver_connection(reader)

    async def fetch(after: tuple[str, int]) -> Sequence[Any]:
        rows: Sequence[Any] = await raw.fetch(page, *after, page_size)
        return rows

    # '' sorts before every partner id.
    pending: asyncio.Task[Sequence[Any]] | None = asyncio.ensure_future(fetch(("", 0)))
    try:
        while pending is not None:
            rows = await pending
            pending = None
            if len(rows) == page_size:
                pending = asyncio.ensure_future(fetch((rows[-1][0], rows[-1][1])))
            if rows:
                yield rows
    finally:
        if pending is not None:
            pending.cancel()


async def _fold(
    reader: AsyncConnection,
    writer: AsyncConnection,
    snapshot_interval: int,
    also_snapshot: frozenset[tuple[str, int]],
    on_progress: Progress | None,
) -> int:
    """Fold every stream and write its read models and snapshots through `writer` (whose
    search_path names the target schema); returns the partner count."""
    projections = PostgresProjections(writer)
    snapshots = PostgresSnapshots(writer)

    async def write(changes: list[AccountChange], saved: list[Snapshot], count: int) -> None:
        await projections.record(changes)
        await snapshots.save(saved)
        if on_progress is not None:
            on_progress(count)

    partners = 0
    current: str | None = None
    state: PartnerAccount | None = None
    writing: asyncio.Future[None] | None = None
    async for rows in _pages(reader, PAGE_SIZE):
        changes: list[AccountChange] = []
        saved: list[Snapshot] = []
        # A stream may span pages: its part in this page starts from the state it had.
        before = state
        events: list[tuple[int, Event]] = []
        states: list[PartnerAccount] = []
        times: list[datetime] = []
        for n, (partner_id, version, type_name, schema_version, payload, at) in enumerate(rows):
            if n % 500 == 0:
                # Let the previous page's statements (and the next page's read) go on in the
                # database while this one is folded.
                await asyncio.sleep(0)
            if partner_id != current:
                if events:
                    changes.append(AccountChange(before, events, states, times))
                    events, states, times = [], [], []
                current, state, before = partner_id, None, None
                partners += 1
            event = from_row(type_name, schema_version, orjson.loads(payload), at)
            state = apply(state, event)
            events.append((version, event))
            states.append(state)
            times.append(at)
            if state.version % snapshot_interval == 0 or (
                also_snapshot and (partner_id, state.version) in also_snapshot
            ):
                saved.append(Snapshot(state, at))
        if events:
            changes.append(AccountChange(before, events, states, times))
        if writing is not None:
            await writing
        writing = asyncio.ensure_future(write(changes, saved, len(rows)))
    if writing is not None:
        await writing
    return partners


async def _off_interval_snapshots(
    reader: AsyncConnection, snapshot_interval: int
) -> frozenset[tuple[str, int]]:
    """Live snapshots at versions the interval would not pick (it was changed since): they are
    rebuilt too, so that every live snapshot is compared."""
    rows = await reader.execute(
        text(
            "SELECT partner_id, version FROM snapshots"
            " WHERE version % :interval <> 0 AND schema_version = :schema"
        ),
        {"interval": snapshot_interval, "schema": STATE_SCHEMA_VERSION},
    )
    return frozenset((row[0], row[1]) for row in rows)


async def rebuild(
    engine: AsyncEngine,
    schema: str,
    snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
    on_progress: Progress | None = None,
) -> int:
    """Fold every stream into fresh projection and snapshot tables in `schema`; returns the
    partner count."""
    async with engine.begin() as writer:
        await writer.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await writer.execute(text(f'CREATE SCHEMA "{schema}"'))
        for table in REBUILT_TABLES:
            # Unlogged: the copy is thrown away, so it need not survive a crash (and skips WAL).
            await writer.execute(
                text(
                    f'CREATE UNLOGGED TABLE "{schema}".{table} (LIKE public.{table} INCLUDING ALL)'
                )
            )
        await writer.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        async with _reader(engine) as reader:
            also = await _off_interval_snapshots(reader, snapshot_interval)
            return await _fold(reader, writer, snapshot_interval, also, on_progress)


async def rebuild_in_place(
    engine: AsyncEngine,
    snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
    on_progress: Progress | None = None,
) -> int:
    """Replace the live read models and snapshots with ones folded from the events, in one
    transaction; returns the partner count."""
    async with engine.begin() as writer:
        # No appends while the read models are rebuilt: they would miss them.
        await writer.execute(text("LOCK TABLE events IN SHARE MODE"))
        await writer.execute(text(f"TRUNCATE {', '.join(REBUILT_TABLES)}"))
        async with _reader(engine) as reader:
            return await _fold(reader, writer, snapshot_interval, frozenset(), on_progress)


async def needs_backfill(engine: AsyncEngine) -> bool:
    """Events but no partner rows: a database written before the read models of migration
    0003 existed; or debits but no usage rows: one written before migration 0005 (False
    before those migrations, and for an empty ledger)."""
    async with engine.connect() as connection:
        if (await connection.execute(text("SELECT to_regclass('partners')"))).scalar() is None:
            return False
        found = await connection.execute(
            text("SELECT EXISTS (SELECT FROM events) AND NOT EXISTS (SELECT FROM partners)")
        )
        if found.scalar_one():
            return True
        usage = await connection.execute(text("SELECT to_regclass('customer_usage_daily')"))
        if usage.scalar() is None:
            return False
        found = await connection.execute(
            text(
                "SELECT EXISTS (SELECT FROM events WHERE type = 'MailingDebited')"
                " AND NOT EXISTS (SELECT FROM customer_usage_daily)"
            )
        )
        return bool(found.scalar_one())


async def replace_snapshots(engine: AsyncEngine, schema: str, snapshot_interval: int) -> int:
    """Swap the live snapshots for the ones rebuilt in `schema`, in one transaction (readers
    see the old set or the new one); returns how many there are now."""
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM public.snapshots"))
        # A writer may save one of the same versions meanwhile: it holds the same state.
        result = await connection.execute(
            text(
                f'INSERT INTO public.snapshots SELECT * FROM "{schema}".snapshots'
                " WHERE version % :interval = 0 ON CONFLICT DO NOTHING"
            ),
            {"interval": snapshot_interval},
        )
        return int(result.rowcount)


async def compare(engine: AsyncEngine, schema: str) -> list[Drift]:
    """Rows that differ between the live projections and snapshots and the rebuilt ones.

    A snapshot the live table lacks is no drift (snapshots are a cache, see
    `missing_snapshots`); one it holds must equal the rebuilt one (state, version, time).
    """
    drift: list[Drift] = []
    async with engine.connect() as connection:
        for table in PROJECTION_TABLES:
            keys = _KEYS[table]
            rows = await connection.execute(
                text(
                    f"SELECT coalesce(l.k, r.k), l.row, r.row FROM"
                    f" (SELECT concat_ws('/', {keys}) AS k, t::text AS row FROM public.{table} t) l"
                    f" FULL JOIN (SELECT concat_ws('/', {keys}) AS k, t::text AS row"
                    f'  FROM "{schema}".{table} t) r ON l.k = r.k'
                    f" WHERE l.row IS DISTINCT FROM r.row ORDER BY 1"
                )
            )
            drift += [Drift(table, key, live, rebuilt) for key, live, rebuilt in rows]
        rows = await connection.execute(
            text(
                "SELECT l.k, l.row, r.row FROM"
                " (SELECT concat_ws('/', partner_id, version) AS k, t::text AS row"
                "  FROM public.snapshots t WHERE schema_version = :schema) l"
                " LEFT JOIN (SELECT concat_ws('/', partner_id, version) AS k, t::text AS row"
                f'  FROM "{schema}".snapshots t) r ON l.k = r.k'
                " WHERE l.row IS DISTINCT FROM r.row ORDER BY 1"
            ),
            {"schema": STATE_SCHEMA_VERSION},
        )
        drift += [Drift("snapshots", key, live, rebuilt) for key, live, rebuilt in rows]
    return drift


async def missing_snapshots(engine: AsyncEngine, schema: str) -> int:
    """Rebuilt snapshots the live table lacks (deleted, or never written)."""
    async with engine.connect() as connection:
        found = await connection.execute(
            text(
                f'SELECT count(*) FROM "{schema}".snapshots r WHERE NOT EXISTS'
                " (SELECT FROM public.snapshots l WHERE l.partner_id = r.partner_id"
                " AND l.version = r.version AND l.schema_version = r.schema_version)"
            )
        )
        return int(found.scalar_one())
