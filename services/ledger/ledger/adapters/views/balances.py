"""A partner's balance now: `GET /partners/{id}/balance`."""

from dataclasses import dataclass

from ledger.adapters.views.reads import ReadPool


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


_BALANCE = (
    "SELECT balance, held, debt_credits, debt_minor, version"
    " FROM partner_balances WHERE partner_id = $1"
)


async def find_balance(reads: ReadPool, partner_id: str) -> BalanceView | None:
    row = await reads.fetchrow(_BALANCE, partner_id)
    if row is None:
        return None
    return BalanceView(partner_id, row[0], row[1], row[2], row[3], row[4])
