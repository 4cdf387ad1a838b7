"""A customer's statement: the period's usage priced on the partner's resale price list.

The ledger knows what the customer used (its debits, per day of ``sent_at``) and on which
terms (the contract); the pricing service knows the prices. A statement is one
``POST /v1/quotes`` of the contract's plan variant:

- ``usage.recipients``: the period's usage reports. The pricing service sums the reports of
  a metered component before it prices them (every price model, and the free quota, applies
  to the period's total), so one report per day gives the very quote that one report per
  mailing would, while the request stays at most a few dozen numbers however many mailings
  the period had. Recipients are the one metered component the ledger measures; another
  metric (mailings, say) would be a second entry here, filled from the same daily rows, named
  as that metered component of the price list.
- ``first_invoice``: the period holds the customer's first contract day (the setup fee).
- ``billing_anchor``: the contract's; a first period that starts after the anchor is shorter
  than its cycle, and the pricing service prorates its recurring fees by days.
- ``booked``: the contract's booked quantities.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from ledger.domain import Contract
from ledger.domain.statements import DayUsage, UsageTotals, statement_window
from ledger.service_layer.ports import PlanPricing

METERED_COMPONENT = "recipients"


@dataclass(frozen=True, slots=True)
class Statement:
    partner_id: str
    customer_id: str
    period_start: date
    period_end: date
    quote: dict[str, Any]
    usage: UsageTotals


def quote_request(
    contract: Contract,
    start: date,
    end: date,
    first_invoice: bool,
    days: Sequence[DayUsage],
    metered: bool,
) -> dict[str, Any]:
    """The ``POST /v1/quotes`` body of a statement period (see the module docstring)."""
    request: dict[str, Any] = {
        "price_list_id": contract.price_list_id,
        "plan_variant_id": contract.plan_variant_id,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "billing_anchor": contract.billing_anchor.isoformat(),
        "first_invoice": first_invoice,
        "booked": dict(contract.booked),
    }
    if metered:
        request["usage"] = {METERED_COMPONENT: [str(d.recipients) for d in days]}
    return request


async def price_statement(
    pricing: PlanPricing,
    partner_id: str,
    customer_id: str,
    contract: Contract,
    period_start: date,
    period_end: date,
    days: Sequence[DayUsage],
) -> Statement:
    """Price ``[period_start, period_end)`` for the customer (days before its first contract
    are left out). ``days``: the customer's usage per day of that period."""
    window = statement_window(contract, period_start, period_end)
    version = await pricing.version_at(
        contract.price_list_id, datetime.combine(window.start, time(), UTC)
    )
    used = [d for d in days if window.start <= d.day < window.end]
    request = quote_request(
        contract,
        window.start,
        window.end,
        window.first_invoice,
        used,
        METERED_COMPONENT in version.metered_components,
    )
    quote = await pricing.quote(request)
    return Statement(partner_id, customer_id, window.start, window.end, quote, UsageTotals.of(used))
