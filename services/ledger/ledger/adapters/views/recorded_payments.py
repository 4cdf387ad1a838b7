"""The purchases and charges the ledger asked for and whether it holds each as paid, for
`ops reconcile`: read from the records the projections keep, not by scanning the events."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.reconcile import RecordedPayment

# Paid is what the ledger holds as succeeded now: a returned payment was reversed.
_RECORDED = text(
    """
    SELECT r.purchase_id, r.partner_id, r.amount_minor, p.currency, r.status = 'succeeded'
    FROM purchases r JOIN partners p USING (partner_id)
    UNION ALL
    SELECT r.charge_id, r.partner_id, r.amount_minor, p.currency, r.status = 'succeeded'
    FROM charges r JOIN partners p USING (partner_id)
    """
)


async def ledger_payments(engine: AsyncEngine) -> dict[str, RecordedPayment]:
    """Each purchase and charge the ledger asked for, and whether it holds it as paid."""
    async with engine.connect() as connection:
        rows = await connection.execute(_RECORDED)
        return {row[0]: RecordedPayment(row[0], row[1], row[2], row[3], row[4]) for row in rows}
