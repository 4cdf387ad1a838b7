"""Holds: `GET /partners/{id}/reservations/{rid}`, and the holds whose time is up."""

from dataclasses import dataclass
from datetime import datetime

from ledger.adapters.views.balances import BalanceView
from ledger.adapters.views.reads import ReadPool
from ledger.domain import ReservationStatus


@dataclass(frozen=True, slots=True)
class ReservationView:
    reservation_id: str
    credits: int
    status: ReservationStatus
    expires_at: datetime
    mailing_id: str | None
    customer_id: str | None
    balance: BalanceView


_RESERVATION = """
    SELECT r.credits, r.status, r.expires_at, r.mailing_id, r.customer_id,
           b.balance, b.held, b.debt_credits, b.debt_minor, b.version
    FROM reservations r JOIN partner_balances b USING (partner_id)
    WHERE r.partner_id = $1 AND r.reservation_id = $2
"""

_DUE = (
    "SELECT DISTINCT partner_id FROM reservations WHERE status = 'active' AND expires_at <= $1"
    " LIMIT $2"
)


async def find_reservation(
    reads: ReadPool, partner_id: str, reservation_id: str
) -> ReservationView | None:
    row = await reads.fetchrow(_RESERVATION, partner_id, reservation_id)
    if row is None:
        return None
    return ReservationView(
        reservation_id=reservation_id,
        credits=row[0],
        status=row[1],
        expires_at=row[2],
        mailing_id=row[3],
        customer_id=row[4],
        balance=BalanceView(partner_id, row[5], row[6], row[7], row[8], row[9]),
    )


async def partners_with_expired_holds(
    reads: ReadPool, now: datetime, limit: int = 1000
) -> list[str]:
    """Partners that have an active hold whose time is up at ``now``."""
    return [row[0] for row in await reads.fetch(_DUE, now, limit)]
