"""Customers' resale contracts: `GET /partners/{id}/customers/{cid}/contract`, the terms a
statement prices, and the contracted customers a statement run visits."""

from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from ledger.adapters.views.reads import ReadPool
from ledger.domain import Contract

_COLUMNS = (
    "price_list_id, plan_variant_id, starts_on, billing_anchor, billing_period, booked::text,"
    " first_starts_on"
)
_IN_EFFECT = f"""
    SELECT {_COLUMNS} FROM customer_contracts
    WHERE partner_id = $1 AND customer_id = $2 AND starts_on <= greatest($3, first_starts_on)
    ORDER BY starts_on DESC LIMIT 1
"""
_HISTORY = f"""
    SELECT {_COLUMNS} FROM customer_contracts
    WHERE partner_id = $1 AND customer_id = $2 ORDER BY starts_on
"""
_CONTRACTED = f"""
    SELECT DISTINCT ON (partner_id, customer_id) partner_id, customer_id, {_COLUMNS}
    FROM customer_contracts
    WHERE first_starts_on < $2 AND starts_on <= greatest($1, first_starts_on)
    ORDER BY partner_id, customer_id, starts_on DESC
"""


def _contract(r: Any) -> Contract:
    return Contract(
        price_list_id=r[0],
        plan_variant_id=r[1],
        starts_on=r[2],
        billing_anchor=r[3],
        billing_period=r[4],
        booked=orjson.loads(r[5]),
        first_starts_on=r[6],
    )


async def contract_in_effect(
    reads: ReadPool, partner_id: str, customer_id: str, on: date
) -> Contract | None:
    """The terms in effect on ``on`` (before the first contract began: its first terms);
    None without a contract."""
    row = await reads.fetchrow(_IN_EFFECT, partner_id, customer_id, on)
    return None if row is None else _contract(row)


async def contract_history(reads: ReadPool, partner_id: str, customer_id: str) -> list[Contract]:
    """Every change of the customer's contract, oldest first."""
    return [_contract(row) for row in await reads.fetch(_HISTORY, partner_id, customer_id)]


@dataclass(frozen=True, slots=True)
class ContractedCustomer:
    partner_id: str
    customer_id: str
    contract: Contract


async def contracted_customers(reads: ReadPool, start: date, end: date) -> list[ContractedCustomer]:
    """Every customer whose contract began before ``end``, with the terms in effect on
    ``start`` (or its first terms, when it began later)."""
    rows = await reads.fetch(_CONTRACTED, start, end)
    return [ContractedCustomer(r[0], r[1], _contract(list(r)[2:])) for r in rows]
