"""COPY of a batch's rows, with the time they share sent once (migration 0011).

asyncpg encodes every timestamptz of a COPY on its own, about 1 µs a value: more than the rest
of an event's row. The rows one batch writes all carry its one time, so it goes to PostgreSQL
once, as the transaction's `mailbill.batch_time`, and the column's default fills it in.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.database import driver_connection

_SET_BATCH_TIME = "SELECT set_config('mailbill.batch_time', $1, true)"


async def copy_rows(
    connection: AsyncConnection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """COPY ``rows`` (tuples in ``columns`` order, the time column last) into ``table``, in the
    connection's transaction."""
    if not rows:
        return
    raw = await driver_connection(connection)
    times = {row[-1] for row in rows}
    if len(times) > 1:  # e.g. a rebuild, which writes each event's own time
        await raw.copy_records_to_table(table, records=rows, columns=columns)
        return
    [shared] = times
    await raw.execute(_SET_BATCH_TIME, shared.isoformat())  # local to the transaction
    await raw.copy_records_to_table(table, records=[row[:-1] for row in rows], columns=columns[:-1])
