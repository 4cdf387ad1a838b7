"""A partner's balance now: `GET /partners/{id}/balance`."""

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True, slots=True)
class BalanceView:
    partner_id: str
    balance: int
    held: int
    debt_credits: int
    debt_minor: int
    version: int

    @property
    def available(self) -> int:
        return self.balance - self.held


_BALANCE = text(
    "SELECT balance, held, debt_credits, debt_minor, version"
    " FROM partner_balances WHERE partner_id = :p"
)


async def find_balance(engine: AsyncEngine, partner_id: str) -> BalanceView | None:
    async with engine.connect() as connection:
        row = (await connection.execute(_BALANCE, {"p": partner_id})).first()
    if row is None:
        return None
    return BalanceView(partner_id, row[0], row[1], row[2], row[3], row[4])
