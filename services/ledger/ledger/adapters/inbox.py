"""The inbox's dedup window: an event id (source, id) is kept for `LEDGER_INBOX_DEDUP_WINDOW`
after it was received, then deleted.

Deleting never holds ingest up: each batch is one short transaction of its own that deletes at
most `batch_size` of the oldest ids (found through the `received_at` index, migration 0009), and
rows another pruner holds are skipped (SKIP LOCKED), so two consumer processes prune side by
side. Ingest only ever inserts new ids, which no pruner touches. The cutoff is taken from the
database's clock once per run, the clock that wrote `received_at`.

What remains guaranteed once an id is gone: docs/operations.md, "The inbox's dedup window".
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.messaging.runtime import sleep_or_stop

log = structlog.get_logger(__name__)

_CUTOFF = text("SELECT statement_timestamp() - CAST(:window AS interval)")

_COUNT_OLDER = text("SELECT count(*) FROM inbox WHERE received_at < :cutoff")

_SUMMARY = text("SELECT count(*), min(received_at) FROM inbox")

# A TID scan over the ctids the index found: the DELETE touches exactly those rows.
_PRUNE_BATCH = text(
    """
    DELETE FROM inbox WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM inbox
        WHERE received_at < :cutoff
        ORDER BY received_at
        LIMIT :batch_size
        FOR UPDATE SKIP LOCKED
    ))
    """
)


@dataclass(frozen=True, slots=True)
class InboxSummary:
    """What the inbox holds, and how much of it is older than the window."""

    ids: int
    oldest: datetime | None
    cutoff: datetime
    older_than_window: int


async def cutoff_for(engine: AsyncEngine, window: timedelta) -> datetime:
    """The time before which ids fall out of the window, on the database's clock."""
    async with engine.connect() as connection:
        cutoff: datetime = (await connection.execute(_CUTOFF, {"window": window})).scalar_one()
    return cutoff


async def summarize(engine: AsyncEngine, window: timedelta) -> InboxSummary:
    """Count the ids and those a prune would delete now (`ops prune-inbox --dry-run`)."""
    cutoff = await cutoff_for(engine, window)
    async with engine.connect() as connection:
        ids, oldest = (await connection.execute(_SUMMARY)).one()
        older = (await connection.execute(_COUNT_OLDER, {"cutoff": cutoff})).scalar_one()
    return InboxSummary(ids=ids, oldest=oldest, cutoff=cutoff, older_than_window=older)


async def prune_batch(engine: AsyncEngine, cutoff: datetime, batch_size: int) -> int:
    """Delete up to `batch_size` of the oldest ids received before `cutoff`, in a transaction
    of its own; returns how many."""
    async with engine.begin() as connection:
        result = await connection.execute(
            _PRUNE_BATCH, {"cutoff": cutoff, "batch_size": batch_size}
        )
    return int(result.rowcount)


async def prune_inbox(
    engine: AsyncEngine,
    window: timedelta,
    batch_size: int,
    *,
    stop: asyncio.Event | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete every id received more than `window` ago, `batch_size` per transaction, until a
    batch comes back short (none left, or the rest held by another pruner) or `stop` is set;
    returns how many were deleted. `on_batch(deleted)` follows each batch."""
    cutoff = await cutoff_for(engine, window)
    total = 0
    while stop is None or not stop.is_set():
        deleted = await prune_batch(engine, cutoff, batch_size)
        total += deleted
        if on_batch is not None:
            on_batch(deleted)
        if deleted < batch_size:
            break
        await asyncio.sleep(0)  # the consumer's batches on this event loop go on meanwhile
    return total


async def run_inbox_pruning(
    engine: AsyncEngine,
    window: timedelta,
    batch_size: int,
    every_seconds: float,
    stop: asyncio.Event,
) -> None:
    """Prune the inbox now and then every `every_seconds` until `stop` (the consumer process
    runs this beside its consumers). A failed round is logged and tried again next time."""
    while not stop.is_set():
        try:
            deleted = await prune_inbox(engine, window, batch_size, stop=stop)
            if deleted:
                log.info("inbox pruned", deleted=deleted, window=str(window))
        except Exception:
            log.exception("inbox pruning failed; will try again")
        await sleep_or_stop(stop, every_seconds)
