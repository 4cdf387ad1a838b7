"""A customer's budget this month: `GET /partners/{id}/customers/{cid}/budget`.

The budget from `customer_budgets`, the credits used from `customer_usage_daily` (at most a
row per day) and the credits held from the customer's active `reservations`.
"""

from dataclasses import dataclass
from datetime import date, datetime

from ledger.adapters.views.reads import ReadPool


@dataclass(frozen=True, slots=True)
class BudgetView:
    monthly_credits: int | None
    alert_percents: list[int]
    used: int
    held: int

    @property
    def remaining(self) -> int | None:
        if self.monthly_credits is None:
            return None
        return max(0, self.monthly_credits - self.used - self.held)


_BUDGET = """
    SELECT b.monthly_credits, b.alert_percents,
           (SELECT coalesce(sum(u.credits), 0) FROM customer_usage_daily u
            WHERE u.partner_id = c.partner_id AND u.customer_id = c.customer_id
              AND u.day >= $3 AND u.day < $4),
           (SELECT coalesce(sum(r.credits), 0) FROM reservations r
            WHERE r.partner_id = c.partner_id AND r.customer_id = c.customer_id
              AND r.status = 'active' AND r.expires_at > $5)
    FROM customers c
    LEFT JOIN customer_budgets b USING (partner_id, customer_id)
    WHERE c.partner_id = $1 AND c.customer_id = $2
"""


async def find_budget(
    reads: ReadPool, partner_id: str, customer_id: str, month: tuple[date, date], now: datetime
) -> BudgetView | None:
    """The customer's budget and its use in ``month`` (first day, first day of the next);
    holds count while their time is not up at ``now``. None when the partner has no such
    customer."""
    row = await reads.fetchrow(_BUDGET, partner_id, customer_id, month[0], month[1], now)
    if row is None:
        return None
    return BudgetView(
        monthly_credits=row[0],
        alert_percents=list(row[1] or []),
        used=int(row[2]),
        held=int(row[3]),
    )
