"""The quotes behind the debits, each distinct one kept once (`debit_quotes`), for audits.

A `MailingDebited` names its price (list, version, recipients); `ops audit export` joins the
breakdown from here. Written in the same transaction as the debits.
"""

from collections.abc import Sequence

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.service_layer.ports import DebitQuote

# One statement per batch; in key order, so two consumers keeping the same quotes take their
# locks in the same order.
_KEEP = text(
    """
    INSERT INTO debit_quotes (price_list_id, price_list_version, component, quantity, quote)
    SELECT DISTINCT ON (id, version, component, quantity) id, version, component, quantity,
           quote::jsonb
    FROM unnest(CAST(:ids AS text[]), CAST(:versions AS integer[]), CAST(:components AS text[]),
                CAST(:quantities AS bigint[]), CAST(:quotes AS text[]))
         AS q(id, version, component, quantity, quote)
    ORDER BY id, version, component, quantity
    ON CONFLICT DO NOTHING
    """
)


class PostgresDebitQuotes:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def keep(self, quotes: Sequence[DebitQuote]) -> None:
        if not quotes:
            return
        await self._connection.execute(
            _KEEP,
            {
                "ids": [q.price_list_id for q in quotes],
                "versions": [q.price_list_version for q in quotes],
                "components": [q.component for q in quotes],
                "quantities": [q.quantity for q in quotes],
                "quotes": [orjson.dumps(q.quote).decode() for q in quotes],
            },
        )
