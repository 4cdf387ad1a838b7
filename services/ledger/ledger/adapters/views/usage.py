"""Usage per customer and UTC day: `GET /partners/{id}/customers/{cid}/usage`,
`GET /partners/{id}/usage`, and the usage a statement prices.

One row per customer and day (kept with the debits), so a period costs at most a row per day
whatever the number of mailings.
"""

from dataclasses import dataclass
from datetime import date

from ledger.adapters.views.reads import ReadPool
from ledger.domain.statements import DayUsage, UsageTotals


@dataclass(frozen=True, slots=True)
class CustomerUsage:
    customer_id: str
    name: str
    totals: UsageTotals


_CUSTOMER = "SELECT 1 FROM customers WHERE partner_id = $1 AND customer_id = $2"
_DAYS = """
    SELECT day, mailings, recipients, credits FROM customer_usage_daily
    WHERE partner_id = $1 AND customer_id = $2 AND day >= $3 AND day < $4 ORDER BY day
"""
_PER_CUSTOMER = """
    SELECT c.customer_id, c.name, coalesce(sum(u.mailings), 0), coalesce(sum(u.recipients), 0),
           coalesce(sum(u.credits), 0)
    FROM partners p
    LEFT JOIN customers c USING (partner_id)
    LEFT JOIN customer_usage_daily u
        ON u.partner_id = c.partner_id AND u.customer_id = c.customer_id
        AND u.day >= $2 AND u.day < $3
    WHERE p.partner_id = $1
    GROUP BY c.customer_id, c.name ORDER BY c.customer_id
"""


async def usage_by_day(
    reads: ReadPool, partner_id: str, customer_id: str, start: date, end: date
) -> list[DayUsage] | None:
    """The customer's usage on each day of ``[start, end)`` that had any; None when the
    partner has no such customer."""
    if await reads.fetchrow(_CUSTOMER, partner_id, customer_id) is None:
        return None
    rows = await reads.fetch(_DAYS, partner_id, customer_id, start, end)
    return [DayUsage(r[0], r[1], r[2], r[3]) for r in rows]


async def usage_per_customer(
    reads: ReadPool, partner_id: str, start: date, end: date
) -> list[CustomerUsage] | None:
    """Every customer's totals over ``[start, end)`` (zero without usage); None when the
    partner is not registered."""
    rows = await reads.fetch(_PER_CUSTOMER, partner_id, start, end)
    if not rows:
        return None
    return [
        CustomerUsage(r[0], r[1], UsageTotals(int(r[2]), int(r[3]), int(r[4])))
        for r in rows
        if r[0] is not None
    ]
