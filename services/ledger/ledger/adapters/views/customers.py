"""A partner's customers: `GET /partners/{id}/customers`."""

from dataclasses import dataclass

from ledger.adapters.views.reads import ReadPool


@dataclass(frozen=True, slots=True)
class CustomerView:
    customer_id: str
    name: str


_CUSTOMERS = """
    SELECT c.customer_id, c.name FROM partners p
    LEFT JOIN customers c USING (partner_id)
    WHERE p.partner_id = $1 ORDER BY c.customer_id
"""


async def list_customers(reads: ReadPool, partner_id: str) -> list[CustomerView] | None:
    """The customers by id; None when the partner is not registered."""
    rows = await reads.fetch(_CUSTOMERS, partner_id)
    if not rows:
        return None
    return [CustomerView(r[0], r[1]) for r in rows if r[0] is not None]
