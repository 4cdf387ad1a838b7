"""What an audit reads: every event of a partner with its quote and running balance, and the
hash chains of all streams checked page by page in the database."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters.snapshots import STATE_SCHEMA_VERSION, state_from_json
from ledger.adapters.stored_events import from_row
from ledger.domain import apply

# The versions of the partner's events recorded in the period.
_PERIOD = text(
    """
    SELECT min(originator_version), max(originator_version) FROM events
    WHERE originator_id = :partner AND recorded_at >= :since AND recorded_at < :until
    """
)

# The newest snapshot before the period's first event: the fold starts there.
_START = text(
    """
    SELECT version, state::text FROM snapshots
    WHERE partner_id = :partner AND schema_version = :schema AND version < :first
    ORDER BY version DESC LIMIT 1
    """
)

# Every event from the snapshot to the period's last one, in stream order: those outside the
# period (before it, or recorded out of time order) are folded but not exported.
_EVENTS = text(
    """
    SELECT e.global_position, e.originator_version, e.type, e.recorded_at, e.payload::text,
           e.metadata, encode(e.hash, 'hex'), coalesce(e.payload -> 'quote', q.quote),
           e.schema_version
    FROM events e
    LEFT JOIN debit_quotes q
      ON e.type = 'MailingDebited'
     AND q.price_list_id = e.payload ->> 'price_list_id'
     AND q.price_list_version = (e.payload ->> 'price_list_version')::integer
     AND q.component = 'recipients'
     AND q.quantity = (e.payload ->> 'recipients')::bigint
    WHERE e.originator_id = :partner AND e.originator_version > :after
      AND e.originator_version <= :last
    ORDER BY e.originator_version
    """
)


async def audit_trail(
    engine: AsyncEngine, partner: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Every event of ``partner`` recorded in [since, until), oldest first, each with the
    credits it moved and the balance after it.

    Those two come from folding the events, from the newest snapshot before the period: the
    export reads the period and at most one snapshot interval of events before it.
    """
    async with engine.connect() as connection:
        # One view of the events and snapshots across the reads.
        await connection.execution_options(isolation_level="REPEATABLE READ")
        first, last = (
            await connection.execute(_PERIOD, {"partner": partner, "since": since, "until": until})
        ).one()
        if first is None:
            return []
        start = (
            await connection.execute(
                _START, {"partner": partner, "schema": STATE_SCHEMA_VERSION, "first": first}
            )
        ).first()
        state = state_from_json(orjson.loads(start[1])) if start is not None else None
        rows = await connection.execute(
            _EVENTS, {"partner": partner, "after": start[0] if start else 0, "last": last}
        )
        trail = []
        for r in rows:
            payload = orjson.loads(r[4])
            before = state.balance if state is not None else 0
            state = apply(state, from_row(r[2], r[8], payload, r[3]))
            if not since <= r[3] < until:
                continue
            trail.append(
                {
                    "global_position": r[0],
                    "version": r[1],
                    "type": r[2],
                    "recorded_at": r[3].isoformat(),
                    "credits_delta": state.balance - before,
                    "balance_after": state.balance,
                    "price_list_id": payload.get("price_list_id"),
                    "price_list_version": payload.get("price_list_version"),
                    "quote": r[7],
                    "schema_version": r[8],
                    "payload": payload,
                    "metadata": r[5],
                    "hash": r[6],
                }
            )
        return trail


# One page of the chains, set-wise in the database (its own `event_hash`, so the rendering
# of jsonb and timestamps is the very one the insert trigger hashed). A page's first event
# links to the last one of the previous page, named by :id/:version.
_CHAIN_PAGE = text(
    """
    WITH page AS (
        SELECT global_position, originator_id, originator_version, type, payload, metadata,
               recorded_at, hash
        FROM events
        WHERE (originator_id, originator_version) > (CAST(:id AS text), CAST(:version AS integer))
        ORDER BY originator_id, originator_version
        LIMIT :size
    ), linked AS (
        SELECT *,
               CASE WHEN row_number() OVER w > 1 THEN lag(hash) OVER w
                    WHEN originator_id = CAST(:id AS text) THEN (
                        SELECT e.hash FROM events e WHERE e.originator_id = CAST(:id AS text)
                        AND e.originator_version = CAST(:version AS integer))
               END AS previous,
               CASE WHEN row_number() OVER w > 1 THEN lag(originator_version) OVER w
                    WHEN originator_id = CAST(:id AS text) THEN CAST(:version AS integer)
                    ELSE 0
               END AS previous_version
        FROM page
        WINDOW w AS (PARTITION BY originator_id ORDER BY originator_version)
    ), checked AS (
        SELECT originator_id, originator_version, global_position, hash,
               hash IS DISTINCT FROM event_hash(previous, originator_id, originator_version,
                                                type, payload, metadata, recorded_at)
                   OR originator_version - previous_version <> 1 AS broken,
               row_number() OVER (ORDER BY originator_id DESC, originator_version DESC) = 1
                   AS last,
               count(*) OVER () AS size
        FROM linked
    )
    SELECT originator_id, originator_version, global_position, broken, last, size
    FROM checked WHERE broken OR last
    ORDER BY originator_id, originator_version
    """
)
_CHAIN_PAGE_SIZE = 20_000


async def broken_links(
    engine: AsyncEngine, on_progress: Callable[[int], None] | None = None
) -> list[tuple[str, int, int]]:
    """The first event of each stream whose hash no longer follows from its content and the
    previous hash (an edited, removed or inserted event breaks the chain from there on).
    Pages of events in stream order; `on_progress(n)` after each."""
    first_broken: dict[str, tuple[int, int]] = {}
    after: tuple[str, int] = ("", 0)  # '' sorts before every partner id
    async with engine.connect() as connection:
        # One view of the events across the pages.
        await connection.execution_options(isolation_level="REPEATABLE READ")
        while True:
            rows = (
                await connection.execute(
                    _CHAIN_PAGE,
                    {
                        "id": after[0],
                        "version": after[1],
                        "size": _CHAIN_PAGE_SIZE,
                    },
                )
            ).all()
            if not rows:
                break
            for partner, version, position, broken, last, _ in rows:
                if broken:
                    first_broken.setdefault(partner, (version, position))
                if last:
                    after = (partner, version)
            if on_progress is not None:
                on_progress(rows[0][5])
            if rows[0][5] < _CHAIN_PAGE_SIZE:
                break
    return [(partner, version, position) for partner, (version, position) in first_broken.items()]
