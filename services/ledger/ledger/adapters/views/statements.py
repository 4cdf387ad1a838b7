"""Issued statements: which periods a statement run has issued already."""

from datetime import date

from ledger.adapters.views.reads import ReadPool

_ISSUED = """
    SELECT partner_id, customer_id, period_start FROM statements
    WHERE period_start >= $1 AND period_start < $2
"""


async def issued_between(reads: ReadPool, start: date, end: date) -> set[tuple[str, str, date]]:
    """(partner, customer, period start) of the statements issued for periods starting in
    ``[start, end)``."""
    return {(r[0], r[1], r[2]) for r in await reads.fetch(_ISSUED, start, end)}
