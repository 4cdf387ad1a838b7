"""Customer budgets: `PUT/GET /v1/partners/{partner_id}/customers/{customer_id}/budget`.

Thin like the other routes: parse, authorise (another partner's customers answer 404), run
the command or read the view. The budget itself is enforced by the partner account when a
reservation names the customer (409 `.../budget-exceeded`).
"""

from datetime import UTC, datetime
from itertools import pairwise
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, field_validator

from ledger.adapters.budgets import month_bounds
from ledger.adapters.views.budgets import find_budget
from ledger.api.auth import CurrentCaller
from ledger.api.routes import _container, _execute
from ledger.api.schemas import Strict
from ledger.domain import budget_month
from ledger.domain.partner_account import DEFAULT_ALERT_PERCENTS, MAX_ALERT_PERCENT
from ledger.service_layer.handlers import SetCustomerBudget
from shared.problems import not_found

router = APIRouter(prefix="/v1")

Percent = Annotated[int, Field(ge=1, le=MAX_ALERT_PERCENT)]


class BudgetSettings(Strict):
    monthly_credits: int | None = Field(
        ge=0,
        le=10**12,
        description="Credits the customer may use per UTC month; null: no budget",
    )
    alert_percents: list[Percent] = Field(
        default_factory=lambda: list(DEFAULT_ALERT_PERCENTS),
        max_length=20,
        description="Percents of the budget that send an alert once per month (ascending)."
        " Left out: [80, 100]; [] sends no alerts",
        examples=[[80, 100]],
    )

    @field_validator("alert_percents")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        if any(a >= b for a, b in pairwise(value)):
            raise ValueError("must be ascending, each percent once")
        return value


class CustomerBudget(BaseModel):
    """The budget and its use in the current UTC month (by the mailings' `sent_at`)."""

    partner_id: str
    customer_id: str
    monthly_credits: int | None = Field(description="null: no budget")
    alert_percents: list[int]
    used: int = Field(description="Credits the customer's mailings this month cost")
    held: int = Field(description="Credits the customer's active reservations keep")
    remaining: int | None = Field(
        description="monthly_credits - used - held, at least 0; null without a budget"
    )
    month: str = Field(description="The UTC month, YYYY-MM", examples=["2026-12"])


async def _budget_now(request: Request, partner_id: str, customer_id: str) -> CustomerBudget:
    now = datetime.now(UTC)
    month = budget_month(now)
    view = await find_budget(
        _container(request).reads, partner_id, customer_id, month_bounds(month), now
    )
    if view is None:
        raise not_found(f"customer {customer_id!r}")
    return CustomerBudget(
        partner_id=partner_id,
        customer_id=customer_id,
        monthly_credits=view.monthly_credits,
        alert_percents=view.alert_percents,
        used=view.used,
        held=view.held,
        remaining=view.remaining,
        month=month,
    )


@router.put("/partners/{partner_id}/customers/{customer_id}/budget", tags=["customer budgets"])
async def put_budget(
    partner_id: str,
    customer_id: str,
    body: BudgetSettings,
    caller: CurrentCaller,
    request: Request,
) -> CustomerBudget:
    """Set the customer's monthly budget (null takes it away) and its alert percents. A
    reservation naming the customer is refused when it would pass what is left."""
    caller.require_partner(partner_id)
    command = SetCustomerBudget(
        partner_id=partner_id,
        customer_id=customer_id,
        monthly_credits=body.monthly_credits,
        alert_percents=tuple(body.alert_percents),
    )
    await _execute(request, caller, command, lambda _: (200, {}), correlation_id=customer_id)
    return await _budget_now(request, partner_id, customer_id)


@router.get("/partners/{partner_id}/customers/{customer_id}/budget", tags=["customer budgets"])
async def get_budget(
    partner_id: str, customer_id: str, caller: CurrentCaller, request: Request
) -> CustomerBudget:
    """The customer's budget, what it used and holds this UTC month, and what remains."""
    caller.require_partner(partner_id)
    return await _budget_now(request, partner_id, customer_id)
