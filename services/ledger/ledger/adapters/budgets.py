"""Customer budgets in PostgreSQL, inside the caller's transaction.

- ``record_budgets``: the `customer_budgets` read model, each customer's budget as the partner
  set it last, kept with the events by ``PostgresProjections`` (a budget taken away deletes
  the row). Every row is a function of the events alone.
- ``PostgresBudgetUsage``: what a customer used in a month, from `customer_usage_daily`, for
  the command that sets a budget (the account keeps counters only once a budget exists).
"""

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.domain import CustomerBudgetSet, Event, PartnerAccount

_UPSERT = text(
    """
    INSERT INTO customer_budgets (partner_id, customer_id, monthly_credits, alert_percents,
                                  set_at)
    SELECT p, c, m, CAST(a AS text)::integer[], t
    FROM unnest(CAST(:partners AS text[]), CAST(:customers AS text[]),
        CAST(:monthly AS bigint[]), CAST(:percents AS text[]), CAST(:times AS timestamptz[]))
        AS x(p, c, m, a, t)
    ON CONFLICT (partner_id, customer_id) DO UPDATE SET
        monthly_credits = EXCLUDED.monthly_credits, alert_percents = EXCLUDED.alert_percents,
        set_at = EXCLUDED.set_at
    """
)

_DELETE = text(
    """
    DELETE FROM customer_budgets b
    USING unnest(CAST(:partners AS text[]), CAST(:customers AS text[])) AS x(p, c)
    WHERE b.partner_id = x.p AND b.customer_id = x.c
    """
)


async def record_budgets(
    connection: AsyncConnection, budgets_set: Sequence[tuple[PartnerAccount, Event, datetime]]
) -> None:
    """Write the last budget set per customer (or delete a budget taken away): ``budgets_set``
    holds each ``CustomerBudgetSet`` with the state it left and its time, in order."""
    last: dict[tuple[str, str], tuple[CustomerBudgetSet, datetime]] = {}
    for state, event, at in budgets_set:
        if isinstance(event, CustomerBudgetSet):
            last[(state.partner_id, event.customer_id)] = (event, at)
    if not last:
        return
    kept = {k: v for k, v in last.items() if v[0].monthly_credits is not None}
    gone = [k for k, v in last.items() if v[0].monthly_credits is None]
    if gone:
        await connection.execute(
            _DELETE, {"partners": [k[0] for k in gone], "customers": [k[1] for k in gone]}
        )
    if kept:
        await connection.execute(
            _UPSERT,
            {
                "partners": [k[0] for k in kept],
                "customers": [k[1] for k in kept],
                "monthly": [e.monthly_credits for e, _ in kept.values()],
                "percents": [
                    "{" + ",".join(map(str, e.alert_percents)) + "}" for e, _ in kept.values()
                ],
                "times": [t for _, t in kept.values()],
            },
        )


_MONTH_CREDITS = text(
    """
    SELECT coalesce(sum(credits), 0) FROM customer_usage_daily
    WHERE partner_id = :partner AND customer_id = :customer AND day >= :start AND day < :end
    """
)


def month_bounds(month: str) -> tuple[date, date]:
    """The first day of ``month`` (``YYYY-MM``) and of the month after it."""
    start = date.fromisoformat(f"{month}-01")
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, end


class PostgresBudgetUsage:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def credits_in_month(self, partner_id: str, customer_id: str, month: str) -> int:
        start, end = month_bounds(month)
        found = await self._connection.execute(
            _MONTH_CREDITS,
            {"partner": partner_id, "customer": customer_id, "start": start, "end": end},
        )
        return int(found.scalar_one())
