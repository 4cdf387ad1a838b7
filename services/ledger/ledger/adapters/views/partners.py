"""A partner's profile, billing settings and balance: `GET /partners/{id}` and `/billing`."""

from dataclasses import dataclass

import orjson

from ledger.adapters.views.balances import BalanceView
from ledger.adapters.views.reads import ReadPool
from ledger.domain import BillingMode, Locale


@dataclass(frozen=True, slots=True)
class BillingView:
    billing_mode: BillingMode
    reminder_threshold: int | None
    auto_purchase_credits: int | None
    auto_purchase_trigger: int | None
    auto_purchase_suspended: bool
    payment_method: dict[str, str] | None
    reminder_thresholds: list[int]


@dataclass(frozen=True, slots=True)
class PartnerView:
    partner_id: str
    name: str
    locale: Locale
    currency: str
    credit_price_list_id: str
    mailing_price_list_id: str
    billing: BillingView
    balance: BalanceView


_PARTNER = """
    SELECT p.name, p.locale, p.currency, p.credit_price_list_id, p.mailing_price_list_id,
           p.billing_mode, p.reminder_threshold, p.auto_purchase_credits,
           p.auto_purchase_trigger, p.auto_purchase_suspended, p.payment_method,
           b.balance, b.held, b.debt_credits, b.debt_minor, b.version, p.reminder_thresholds
    FROM partners p JOIN partner_balances b USING (partner_id)
    WHERE p.partner_id = $1
"""


async def find_partner(reads: ReadPool, partner_id: str) -> PartnerView | None:
    row = await reads.fetchrow(_PARTNER, partner_id)
    if row is None:
        return None
    return PartnerView(
        partner_id=partner_id,
        name=row[0],
        locale=row[1],
        currency=row[2],
        credit_price_list_id=row[3],
        mailing_price_list_id=row[4],
        billing=BillingView(
            billing_mode=row[5],
            reminder_threshold=row[6],
            auto_purchase_credits=row[7],
            auto_purchase_trigger=row[8],
            auto_purchase_suspended=row[9],
            payment_method=None if row[10] is None else orjson.loads(row[10]),
            reminder_thresholds=list(row[16]),
        ),
        balance=BalanceView(partner_id, row[11], row[12], row[13], row[14], row[15]),
    )
