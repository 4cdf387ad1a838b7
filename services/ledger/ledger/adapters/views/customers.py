"""A partner's customers: `GET /partners/{id}/customers`."""

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True, slots=True)
class CustomerView:
    customer_id: str
    name: str


_CUSTOMERS = text(
    """
    SELECT c.customer_id, c.name FROM partners p
    LEFT JOIN customers c USING (partner_id)
    WHERE p.partner_id = :p ORDER BY c.customer_id
    """
)


async def list_customers(engine: AsyncEngine, partner_id: str) -> list[CustomerView] | None:
    """The customers by id; None when the partner is not registered."""
    async with engine.connect() as connection:
        rows = (await connection.execute(_CUSTOMERS, {"p": partner_id})).all()
    if not rows:
        return None
    return [CustomerView(r[0], r[1]) for r in rows if r[0] is not None]
