"""Rebuild the projections from the events alone, beside the live tables, and compare.

The rebuild writes into a fresh schema with the same tables (the projections use unqualified
table names, so `search_path` decides where they land). It reads events and writes
projections only: no outbox rows, so a replay publishes nothing and charges nothing.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.adapters.projections import PostgresProjections
from ledger.adapters.stored_events import from_row
from ledger.domain import Event, PartnerAccount, apply
from ledger.service_layer.ports import AccountChange

# What identifies a row of each read model, for the comparison.
_KEYS = {
    "partner_balances": "partner_id",
    "partner_history": "partner_id, version",
    "partners": "partner_id",
    "customers": "partner_id, customer_id",
    "reservations": "partner_id, reservation_id",
    "purchases": "partner_id, purchase_id",
    "charges": "partner_id, charge_id",
}
PROJECTION_TABLES = tuple(_KEYS)


@dataclass(frozen=True, slots=True)
class Drift:
    table: str
    key: str
    live: str | None
    rebuilt: str | None


async def _streams(connection: AsyncConnection) -> AsyncIterator[list[tuple[int, Event, datetime]]]:
    """Each partner's events in order, one stream at a time, without loading them all."""
    result = await connection.stream(
        text(
            "SELECT originator_id, originator_version, type, payload, recorded_at FROM events"
            " ORDER BY originator_id, originator_version"
        )
    )
    current: str | None = None
    stream: list[tuple[int, Event, datetime]] = []
    async for partner_id, version, type_name, payload, recorded_at in result:
        if partner_id != current and stream:
            yield stream
            stream = []
        current = partner_id
        stream.append((version, from_row(type_name, 1, payload), recorded_at))
    if stream:
        yield stream


async def rebuild(engine: AsyncEngine, schema: str) -> int:
    """Fold every stream into fresh projection tables in `schema`; returns the partner count."""
    partners = 0
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        for table in PROJECTION_TABLES:
            await connection.execute(
                text(f'CREATE TABLE "{schema}".{table} (LIKE public.{table} INCLUDING ALL)')
            )
        await connection.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        projections = PostgresProjections(connection)
        async with engine.connect() as reader:
            async for stream in _streams(reader):
                state: PartnerAccount | None = None
                states = []
                for _, event, _ in stream:
                    state = apply(state, event)
                    states.append(state)
                await projections.record(
                    [
                        AccountChange(
                            None,
                            [(version, event) for version, event, _ in stream],
                            states,
                            [at for _, _, at in stream],
                        )
                    ]
                )
                partners += 1
    return partners


async def compare(engine: AsyncEngine, schema: str) -> list[Drift]:
    """Rows that differ between the live projections and the rebuilt ones."""
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
    return drift
