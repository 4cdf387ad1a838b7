"""The ledger's records of reservations, purchases and charges: open and closed alike.

They answer what the account's state no longer holds once an item is closed (an id used
twice, a late or repeated payment result). Written by the projections, read here.
"""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.domain import Charge, Purchase, Record, RecordKind, Reservation

_FIND = {
    "reservation": text(
        """
        SELECT r.partner_id, r.reservation_id, r.credits, r.status, r.expires_at, r.mailing_id,
               r.customer_id
        FROM reservations r
        JOIN unnest(CAST(:partners AS text[]), CAST(:ids AS text[])) AS k(p, i)
          ON r.partner_id = k.p AND r.reservation_id = k.i
        """
    ),
    "purchase": text(
        """
        SELECT r.partner_id, r.purchase_id, r.credits, r.status, r.amount_minor, r.reason
        FROM purchases r
        JOIN unnest(CAST(:partners AS text[]), CAST(:ids AS text[])) AS k(p, i)
          ON r.partner_id = k.p AND r.purchase_id = k.i
        """
    ),
    "charge": text(
        """
        SELECT r.partner_id, r.charge_id, r.credits, r.status, r.amount_minor
        FROM charges r
        JOIN unnest(CAST(:partners AS text[]), CAST(:ids AS text[])) AS k(p, i)
          ON r.partner_id = k.p AND r.charge_id = k.i
        """
    ),
}


def _record(kind: RecordKind, row: Any) -> Record:
    if kind == "reservation":
        return Reservation(
            credits=row[2],
            status=row[3],
            expires_at=row[4],
            mailing_id=row[5],
            customer_id=row[6],
        )
    if kind == "purchase":
        return Purchase(credits=row[2], status=row[3], amount_minor=row[4], reason=row[5])
    return Charge(credits=row[2], status=row[3], amount_minor=row[4])


class PostgresRecords:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def find(
        self, kind: RecordKind, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Record]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        rows = await self._connection.execute(
            _FIND[kind], {"partners": [p for p, _ in keys], "ids": [i for _, i in keys]}
        )
        return {(row[0], row[1]): _record(kind, row) for row in rows}
