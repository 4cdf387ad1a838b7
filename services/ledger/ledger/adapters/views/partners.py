"""A partner's profile, billing settings and balance: `GET /partners/{id}` and `/billing`."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters.views.balances import BalanceView


@dataclass(frozen=True, slots=True)
class BillingView:
    billing_mode: str
    reminder_threshold: int | None
    auto_purchase_credits: int | None
    auto_purchase_trigger: int | None
    auto_purchase_suspended: bool
    payment_method: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PartnerView:
    partner_id: str
    name: str
    locale: str
    currency: str
    credit_price_list_id: str
    mailing_price_list_id: str
    billing: BillingView
    balance: BalanceView


_PARTNER = text(
    """
    SELECT p.name, p.locale, p.currency, p.credit_price_list_id, p.mailing_price_list_id,
           p.billing_mode, p.reminder_threshold, p.auto_purchase_credits,
           p.auto_purchase_trigger, p.auto_purchase_suspended, p.payment_method,
           b.balance, b.held, b.debt_credits, b.debt_minor, b.version
    FROM partners p JOIN partner_balances b USING (partner_id)
    WHERE p.partner_id = :p
    """
)


async def find_partner(engine: AsyncEngine, partner_id: str) -> PartnerView | None:
    async with engine.connect() as connection:
        row = (await connection.execute(_PARTNER, {"p": partner_id})).first()
    if row is None:
        return None
    return PartnerView(
        partner_id=partner_id,
        name=row[0],
        locale=row[1],
        currency=row[2],
        credit_price_list_id=row[3],
        mailing_price_list_id=row[4],
        billing=BillingView(*row[5:11]),
        balance=BalanceView(partner_id, *row[11:16]),
    )
