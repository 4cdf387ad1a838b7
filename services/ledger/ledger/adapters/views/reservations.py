"""Holds: `GET /partners/{id}/reservations/{rid}`, and the holds whose time is up."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters.views.balances import BalanceView


@dataclass(frozen=True, slots=True)
class ReservationView:
    reservation_id: str
    credits: int
    status: str
    expires_at: datetime
    mailing_id: str | None
    balance: BalanceView


_RESERVATION = text(
    """
    SELECT r.credits, r.status, r.expires_at, r.mailing_id,
           b.balance, b.held, b.debt_credits, b.debt_minor, b.version
    FROM reservations r JOIN partner_balances b USING (partner_id)
    WHERE r.partner_id = :p AND r.reservation_id = :r
    """
)

_DUE = text(
    "SELECT DISTINCT partner_id FROM reservations WHERE status = 'active' AND expires_at <= :now"
    " LIMIT :limit"
)


async def find_reservation(
    engine: AsyncEngine, partner_id: str, reservation_id: str
) -> ReservationView | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(_RESERVATION, {"p": partner_id, "r": reservation_id})
        ).first()
    if row is None:
        return None
    return ReservationView(
        reservation_id=reservation_id,
        credits=row[0],
        status=row[1],
        expires_at=row[2],
        mailing_id=row[3],
        balance=BalanceView(partner_id, row[4], row[5], row[6], row[7], row[8]),
    )


async def partners_with_expired_holds(
    engine: AsyncEngine, now: datetime, limit: int = 1000
) -> list[str]:
    """Partners that have an active hold whose time is up at ``now``."""
    async with engine.connect() as connection:
        return [row[0] for row in await connection.execute(_DUE, {"now": now, "limit": limit})]
